/**
 * The remote steps on one fleet host. Each is idempotent per (campaign, patch, host): it checks the
 * host's state first and resumes rather than repeats.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { RolloutError } from '../domain/errors.js';
import type { Patch } from '../domain/schema.js';
import { renderCommand, shellQuote, tail, type SshSession } from './ssh.js';

const QUICK_MS = 30_000;

/** SHA-256 of a local file, streamed. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** The source artifact must match the checksum in the campaign file before any host is touched. */
export async function verifySourceArtifact(patch: Patch): Promise<void> {
  const actual = await sha256File(patch.artifact.path).catch((err: Error) => {
    throw new RolloutError(
      'SourceArtifactInvalid',
      `cannot read artifact ${patch.artifact.path}: ${err.message}`,
    );
  });
  if (actual !== patch.artifact.sha256)
    throw new RolloutError(
      'SourceArtifactInvalid',
      `artifact ${patch.artifact.path} has SHA-256 ${actual}, the campaign file says ${patch.artifact.sha256}`,
      { actual, expected: patch.artifact.sha256 },
    );
}

export async function readVersion(ssh: SshSession, patch: Patch): Promise<string> {
  return ssh.check(patch.versionCommand, QUICK_MS, 'version command');
}

export async function readBootId(ssh: SshSession, bootIdCommand: string): Promise<string> {
  return ssh.check(bootIdCommand, QUICK_MS, 'boot ID command');
}

/** Where an artifact lives on a host: keyed by its checksum, so a retry finds it already there. */
export function remoteArtifactPath(patch: Patch): string {
  return `.rollout/artifacts/${patch.artifact.sha256}-${patch.artifact.path.split('/').pop() ?? 'artifact'}`;
}

/** Uploads over SFTP unless the host already holds a file with the right checksum; verifies on the host. */
export async function uploadArtifact(ssh: SshSession, patch: Patch): Promise<string> {
  const remote = remoteArtifactPath(patch);
  const sumCommand = `sha256sum ${shellQuote(remote)} 2>/dev/null | cut -d' ' -f1`;
  const existing = (await ssh.run(sumCommand, QUICK_MS)).stdout.trim();
  if (existing !== patch.artifact.sha256) {
    await ssh.check('mkdir -p .rollout/artifacts', QUICK_MS, 'mkdir');
    await ssh.upload(patch.artifact.path, remote);
    const uploaded = (await ssh.run(sumCommand, QUICK_MS)).stdout.trim();
    if (uploaded !== patch.artifact.sha256) {
      await ssh.run(`rm -f ${shellQuote(remote)}`, QUICK_MS);
      throw new RolloutError(
        'ArtifactChecksumMismatch',
        `${ssh.target.name}: uploaded artifact has SHA-256 ${uploaded}`,
        {
          actual: uploaded,
          expected: patch.artifact.sha256,
        },
      );
    }
  }
  return remote;
}

export interface InstallProgress {
  state: 'started' | 'attached' | 'finished';
}

export interface InstallResult {
  exitCode: number;
  outputTail: string;
  /** True when this call found the install already running or finished (a retry after a worker died). */
  reattached: boolean;
}

/**
 * Starts the install detached from the SSH session under a marker directory keyed by run key, or
 * re-attaches to one already started. `mkdir` of the marker is the lock: only one attempt ever starts
 * the command on a host. An install whose process vanished without an exit code is reported, not rerun.
 */
export async function runInstall(
  ssh: SshSession,
  patch: Patch,
  runKey: string,
  artifactPath: string,
  onTick: (progress: InstallProgress) => void,
  pollMs = 1_000,
): Promise<InstallResult> {
  const dir = `.rollout/runs/${runKey}`;
  const command = renderCommand(patch.installCommand, { artifact: artifactPath, version: patch.version });
  const q = shellQuote(dir);
  const start = [
    `mkdir -p .rollout/runs`,
    `if mkdir ${q} 2>/dev/null; then`,
    `  printf '%s' ${shellQuote(command)} > ${q}/command`,
    `  setsid nohup sh -c 'sh "$1/command" > "$1/output" 2>&1; echo $? > "$1/exit.tmp"; mv "$1/exit.tmp" "$1/exit"' _ ${q} </dev/null >/dev/null 2>&1 &`,
    `  echo $! > ${q}/pid; echo started`,
    `else echo attached; fi`,
  ].join('\n');
  const started = await ssh.check(start, QUICK_MS, 'install start');
  const reattached = started !== 'started';
  onTick({ state: reattached ? 'attached' : 'started' });
  const poll = [
    `if [ -f ${q}/exit ]; then echo "exit $(cat ${q}/exit)";`,
    `elif [ -f ${q}/pid ] && kill -0 "$(cat ${q}/pid)" 2>/dev/null; then echo running;`,
    `else echo vanished; fi`,
  ].join(' ');
  for (;;) {
    const status = await ssh.check(poll, QUICK_MS, 'install poll');
    if (status.startsWith('exit ')) {
      const output = await ssh.run(`tail -c 4000 ${q}/output`, QUICK_MS);
      onTick({ state: 'finished' });
      return { exitCode: Number(status.slice(5)), outputTail: tail(output.stdout, 4000), reattached };
    }
    if (status === 'vanished')
      throw new RolloutError(
        'InstallFailed',
        `${ssh.target.name}: the install process ended without an exit code`,
      );
    onTick({ state: reattached ? 'attached' : 'started' });
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

/**
 * Asks the host to reboot. The connection going away (`code === null`) is the expected outcome, not an
 * error; a command that exits non-zero is.
 */
export async function triggerReboot(ssh: SshSession, command = 'reboot'): Promise<void> {
  const result = await ssh.run(command, QUICK_MS).catch((err: RolloutError) => {
    if (err.type === 'ConnectionLost' || err.type === 'CommandTimeout')
      return { code: null, stdout: '', stderr: '' };
    throw err;
  });
  if (result.code !== null && result.code !== 0)
    throw new RolloutError(
      'InstallFailed',
      `${ssh.target.name}: reboot command exited ${result.code}: ${result.stderr}`,
    );
}

/** What the host itself says about the patch's prerequisites, and which one it misses (if any). */
export interface PrerequisiteMeasurement {
  servicePack?: number;
  os?: string;
  freeDiskMiB?: number;
  unmet?: string;
}

/** Measures the prerequisites that have a command or a disk threshold; read-only. */
export async function measurePrerequisites(ssh: SshSession, patch: Patch): Promise<PrerequisiteMeasurement> {
  const want = patch.prerequisites;
  const measured: PrerequisiteMeasurement = {};
  const unmet: string[] = [];
  if (want.servicePackCommand) {
    const printed = await ssh.check(want.servicePackCommand, QUICK_MS, 'service-pack command');
    const level = /^\d+$/.test(printed) ? Number(printed) : undefined;
    if (level === undefined)
      unmet.push(`service-pack command printed "${printed.slice(0, 40)}", not a level`);
    else {
      measured.servicePack = level;
      if (want.minServicePack !== undefined && level < want.minServicePack)
        unmet.push(`service pack ${level} is below the required ${want.minServicePack}`);
    }
  }
  if (want.osCommand) {
    measured.os = await ssh.check(want.osCommand, QUICK_MS, 'OS command');
    if (want.os && !want.os.includes(measured.os))
      unmet.push(`operating system "${measured.os}" is not one of ${want.os.join(', ')}`);
  }
  if (want.minFreeDisk) {
    const { path, mebibytes } = want.minFreeDisk;
    const kib = await ssh.check(`df -Pk -- ${shellQuote(path)} | awk 'NR == 2 { print $4 }'`, QUICK_MS, 'df');
    if (!/^\d+$/.test(kib)) unmet.push(`cannot read free space of ${path}: "${kib.slice(0, 80)}"`);
    else {
      measured.freeDiskMiB = Math.floor(Number(kib) / 1024);
      if (measured.freeDiskMiB < mebibytes)
        unmet.push(`${measured.freeDiskMiB} MiB free on ${path}, ${mebibytes} MiB required`);
    }
  }
  return unmet.length ? { ...measured, unmet: unmet.join('; ') } : measured;
}

export interface IntegrityProfile {
  files: number;
  digest: string;
}

export interface IntegrityComparison extends IntegrityProfile {
  changes: Array<{ path: string; change: 'modified' | 'removed' | 'added' }>;
  moreChanges: number;
}

const MAX_LISTED_CHANGES = 50;

/** Where the profiles of one run live on the host (outside the install marker directory). */
function integrityDir(runKey: string): string {
  return `.rollout/integrity/${runKey}`;
}

/**
 * Writes a profile of the protected paths to `file` on the host: one line per regular file,
 * "<fingerprint> <path>", sorted; the fingerprint is the SHA-256 (mode sha256) or size:mtime (metadata).
 * A protected path that does not exist is an error: the profile would prove nothing.
 */
function profileScript(patch: Patch, file: string): string {
  const { protectedPaths, mode } = patch.integrity;
  const paths = protectedPaths.map(shellQuote).join(' ');
  const list =
    mode === 'sha256'
      ? `find ${paths} -xdev -type f -print0 | sort -z | xargs -0 -r sha256sum | sed 's/^\\([0-9a-f]*\\) [ *]/\\1 /'`
      : `find ${paths} -xdev -type f -printf '%s:%T@ %p\\n' | sort -k2`;
  const f = shellQuote(file);
  return [
    'set -e',
    `for p in ${paths}; do [ -e "$p" ] || { echo "protected path $p does not exist" >&2; exit 3; }; done`,
    `mkdir -p "$(dirname ${f})"`,
    `( ${list} ) > ${f}.tmp`,
    `mv ${f}.tmp ${f}`,
    `echo "$(wc -l < ${f}) $(sha256sum < ${f} | cut -d' ' -f1)"`,
  ].join('\n');
}

function parseProfileSummary(ssh: SshSession, printed: string): IntegrityProfile {
  const match = /^(\d+) ([0-9a-f]{64})$/.exec(printed.split('\n').pop() ?? '');
  if (!match) throw new RolloutError('IntegrityViolation', `${ssh.target.name}: unreadable profile summary`);
  return { files: Number(match[1]), digest: match[2] ?? '' };
}

async function runProfile(ssh: SshSession, script: string, timeoutMs: number): Promise<string> {
  const result = await ssh.run(script, timeoutMs);
  if (result.code === null)
    throw new RolloutError('ConnectionLost', `${ssh.target.name}: lost during integrity profile`);
  if (result.code !== 0)
    throw new RolloutError(
      'IntegrityViolation',
      `${ssh.target.name}: integrity profile failed: ${tail(result.stderr.trim(), 300)}`,
    );
  return result.stdout.trim();
}

/**
 * Takes the before-install profile once per run: a retry (a worker died) finds it and reuses it, so
 * the reference is always the state before anything was installed.
 */
export async function profileBeforeInstall(
  ssh: SshSession,
  patch: Patch,
  runKey: string,
): Promise<IntegrityProfile> {
  const before = `${integrityDir(runKey)}/before`;
  const q = shellQuote(before);
  const existing = await ssh.run(
    `[ -f ${q} ] && echo "$(wc -l < ${q}) $(sha256sum < ${q} | cut -d' ' -f1)"`,
    QUICK_MS,
  );
  if (existing.code === 0 && existing.stdout.trim()) return parseProfileSummary(ssh, existing.stdout.trim());
  return parseProfileSummary(
    ssh,
    await runProfile(ssh, profileScript(patch, before), patch.integrity.timeout),
  );
}

/** Profiles again and lists every file that changed, vanished or (unless allowed) appeared. */
export async function compareAfterInstall(
  ssh: SshSession,
  patch: Patch,
  runKey: string,
): Promise<IntegrityComparison> {
  const dir = integrityDir(runKey);
  const summary = parseProfileSummary(
    ssh,
    await runProfile(ssh, profileScript(patch, `${dir}/after`), patch.integrity.timeout),
  );
  const q = (name: string) => shellQuote(`${dir}/${name}`);
  const added = patch.integrity.allowNewFiles ? '' : 'print "added " path;';
  const diff = [
    `[ -f ${q('before')} ] || { echo "no before-install profile" >&2; exit 3; }`,
    `awk 'function split_line() { cut = index($0, " "); fp = substr($0, 1, cut - 1); path = substr($0, cut + 1) }`,
    `  NR == FNR { split_line(); before[path] = fp; next }`,
    `  { split_line(); if (!(path in before)) { ${added} } else { if (before[path] != fp) print "modified " path; delete before[path] } }`,
    `  END { for (path in before) print "removed " path }' ${q('before')} ${q('after')} | sort -k2 > ${q('changes')}`,
    `wc -l < ${q('changes')}`,
    `head -n ${MAX_LISTED_CHANGES} ${q('changes')}`,
  ].join('\n');
  const [count = '0', ...lines] = (await runProfile(ssh, diff, QUICK_MS)).split('\n');
  const changes = lines.filter(Boolean).map((line) => {
    const cut = line.indexOf(' ');
    return { change: line.slice(0, cut) as 'modified' | 'removed' | 'added', path: line.slice(cut + 1) };
  });
  return { ...summary, changes, moreChanges: Math.max(0, Number(count) - changes.length) };
}
