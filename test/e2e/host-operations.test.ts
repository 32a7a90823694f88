/**
 * The adapters against real software: OpenSSH hosts and the controller in a lab, a DICOM SCP (dcmtk
 * storescp) on each host.
 */
import { execFileSync, spawn } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createControllerClient, type OutOfBand } from '../../adapters/controller.js';
import { dicomEcho, runHealthChecks } from '../../adapters/health.js';
import {
  compareAfterInstall,
  measurePrerequisites,
  profileBeforeInstall,
  readBootId,
  runInstall,
  triggerReboot,
  uploadArtifact,
} from '../../adapters/host-ops.js';
import {
  AGENT_CREDENTIAL,
  directoryKeyStore,
  shellQuote,
  SshSession,
  withSsh,
  type SshTarget,
} from '../../adapters/ssh.js';
import { sshPool } from '../../adapters/ssh-pool.js';
import { RolloutError } from '../../domain/errors.js';
import { CampaignFile, type Controller, type HealthCheck, type Patch } from '../../domain/schema.js';
import { waitForTcp } from '../../runtime/dev-server.js';
import { CONTROLLER_CREDENTIAL, HOST_CREDENTIAL } from '../../lab/lab.js';
import { labCampaign } from '../../lab/lab-campaign.js';
import { childEnvironment, settings } from '../../runtime/config.js';
import { startTestLab, type TestLab } from '../helpers/lab.js';

let lab: TestLab;
let patch: Patch;
let controller: Controller;
const keys = () => directoryKeyStore(lab.inventory.keyDir);

function target(index: number, overrides: Partial<SshTarget> = {}): SshTarget {
  const h = lab.inventory.hosts[index]!;
  return {
    name: h.id,
    address: h.address,
    port: h.port,
    user: 'pacsadm',
    hostKey: h.hostKey,
    credential: HOST_CREDENTIAL,
    ...overrides,
  };
}

/** A lab host as its controller knows it. */
const at = (machine: string): OutOfBand => ({ controller, machine, jumpHosts: [] });

async function failureType(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(RolloutError);
    return (err as RolloutError).type;
  }
  throw new Error('expected a failure');
}

beforeAll(async () => {
  lab = await startTestLab('127.0.41', 4);
  const file = CampaignFile.parse(labCampaign(lab.inventory));
  patch = file.patch;
  controller = file.fleet.controllers[0]!;
});

afterAll(async () => {
  await lab?.stop();
});

describe('SSH to real OpenSSH hosts', () => {
  it('logs in with the pinned host key and runs a command on the right host', async () => {
    const out = await withSsh(target(1), keys(), (s) =>
      s.check('hostname; echo "$PACS_ROOT"', 5_000, 'probe'),
    );
    expect(out.split('\n')).toEqual([lab.inventory.hosts[1]!.id, lab.inventory.mountPoint]);
  });

  it('runs several scripts in one command, each with its own output, error output and exit code', async () => {
    const results = await withSsh(target(1), keys(), (s) =>
      s.runAll(['echo one; echo warn >&2', 'exit 3', 'hostname', "printf 'no line end'", 'cat'], 5_000),
    );
    expect(results).toEqual([
      { code: 0, stdout: 'one\n', stderr: 'warn\n' },
      { code: 3, stdout: '', stderr: '' },
      { code: 0, stdout: `${lab.inventory.hosts[1]!.id}\n`, stderr: '' },
      { code: 0, stdout: 'no line end', stderr: '' },
      // stdin is closed: a script that reads it ends at once.
      { code: 0, stdout: '', stderr: '' },
    ]);
    await expect(
      withSsh(target(1), keys(), (s) =>
        s.checkAll(
          [
            { script: 'echo fine', what: 'first' },
            { script: 'echo broken >&2; exit 2', what: 'second' },
          ],
          5_000,
        ),
      ),
    ).rejects.toThrow(`${lab.inventory.hosts[1]!.id}: second exited 2: broken`);
  });

  it('refuses a host whose key is not the pinned one (HostKeyMismatch), naming the presented key', async () => {
    const other = lab.inventory.hosts[2]!.hostKey;
    const err = await SshSession.open(target(1, { hostKey: other }), keys()).catch((e: RolloutError) => e);
    expect(err).toBeInstanceOf(RolloutError);
    expect((err as RolloutError).type).toBe('HostKeyMismatch');
    expect((err as RolloutError).details.presented).toBe(lab.inventory.hosts[1]!.hostKey);
  });

  it('reports a refused key as AuthenticationFailed and an unknown credential as UnknownCredential', async () => {
    expect(await failureType(SshSession.open(target(1, { credential: CONTROLLER_CREDENTIAL }), keys()))).toBe(
      'AuthenticationFailed',
    );
    expect(await failureType(SshSession.open(target(1, { credential: 'nobody' }), keys()))).toBe(
      'UnknownCredential',
    );
  });

  it('stops a command that runs past its timeout (CommandTimeout)', async () => {
    const started = Date.now();
    expect(await failureType(withSsh(target(1), keys(), (s) => s.run('sleep 30', 1_000)))).toBe(
      'CommandTimeout',
    );
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('reports a host that is not listening as HostUnreachable', async () => {
    expect(await failureType(SshSession.open(target(1, { port: 2299 }), keys()))).toBe('HostUnreachable');
  });
});

describe('the SSH pool: one connection per host reused, never a failed one', () => {
  /** The client side of the TCP connection a command ran on, as the host saw it ("address port"). */
  const connectionOf = (s: SshSession) => s.check('echo "${SSH_CONNECTION% * *}"', 5_000, 'connection');

  it('reuses an idle session, opens a new one after a failed use, an eviction, the idle time or a dropped connection', async () => {
    const pool = sshPool(keys(), { idleMs: 300 });
    try {
      const first = await pool.use(target(1), connectionOf);
      expect(await pool.use(target(1), connectionOf)).toBe(first);
      expect(pool.stats()).toMatchObject({ opened: 1, reused: 1, idle: 1 });

      // A use that failed (here a command that exited 3) closes its session: the next one is new.
      expect(await failureType(pool.use(target(1), (s) => s.check('exit 3', 5_000, 'failing')))).toBe(
        'CommandFailed',
      );
      const afterFailure = await pool.use(target(1), connectionOf);
      expect(afterFailure).not.toBe(first);
      expect(pool.stats()).toMatchObject({ opened: 2, reused: 2, discarded: 1 });

      pool.evict(target(1));
      const afterEvict = await pool.use(target(1), connectionOf);
      expect(afterEvict).not.toBe(afterFailure);

      await new Promise((r) => setTimeout(r, 600));
      expect(pool.stats().idle).toBe(0);
      const afterIdle = await pool.use(target(1), connectionOf);
      expect(afterIdle).not.toBe(afterEvict);

      // The host drops the idle connection (its sshd process for it is killed): the pool notices and
      // opens another instead of sending the next command down a dead connection.
      const sshdPid = await pool.use(target(1), (s) => s.check('echo $PPID', 5_000, 'sshd pid'));
      await withSsh(target(1), keys(), (s) => s.check(`kill ${sshdPid}`, 5_000, 'kill'));
      await new Promise((r) => setTimeout(r, 200));
      const afterDrop = await pool.use(target(1), connectionOf);
      expect(afterDrop).not.toBe(afterIdle);
      expect(pool.stats()).toMatchObject({ opened: 5 });

      // `fresh` logs in anew even with an idle session there; an eviction while a session is in use
      // (the host rebooted under it) closes that session when its use ends.
      const afterFresh = await pool.use(target(1), connectionOf, { fresh: true });
      expect(afterFresh).not.toBe(afterDrop);
      await pool.use(target(1), async (s) => {
        pool.evict(target(1));
        return connectionOf(s);
      });
      // The use took an idle session (no new login); the eviction closed the other idle one at once and
      // that one when it ended.
      expect(pool.stats()).toMatchObject({ opened: 6, idle: 0 });
    } finally {
      pool.close();
    }
    expect(pool.stats().idle).toBe(0);
  });

  it('checks the pinned key on every new connection: another pin is another connection, and refused', async () => {
    const pool = sshPool(keys());
    try {
      await pool.use(target(1), connectionOf);
      const other = lab.inventory.hosts[2]!.hostKey;
      expect(await failureType(pool.use(target(1, { hostKey: other }), connectionOf))).toBe(
        'HostKeyMismatch',
      );
      // Hosts are kept apart: each has its own session, on its own host.
      expect(await pool.use(target(2), (s) => s.check('hostname', 5_000, 'h'))).toBe(
        lab.inventory.hosts[2]!.id,
      );
      expect(await pool.use(target(1), (s) => s.check('hostname', 5_000, 'h'))).toBe(
        lab.inventory.hosts[1]!.id,
      );
      expect(pool.stats()).toMatchObject({ opened: 2, reused: 1 });
    } finally {
      pool.close();
    }
  });

  it('closes a session whose use was cancelled', async () => {
    const pool = sshPool(keys());
    try {
      const abort = new AbortController();
      const running = pool.use(target(1), (s) => s.run('sleep 20', 30_000), { signal: abort.signal });
      setTimeout(() => abort.abort(), 300);
      const result = await running.then(
        (r) => `exited ${r.code}`,
        (e: RolloutError) => e.type,
      );
      // The command sees its connection close under it (no exit code), and the session is not kept.
      expect(result).toBe('exited null');
      expect(pool.stats()).toMatchObject({ opened: 1, discarded: 1, idle: 0 });
    } finally {
      pool.close();
    }
  });
});

describe('host steps', () => {
  it('uploads the artifact, checks its SHA-256 on the host, and installs once even when called twice', async () => {
    await withSsh(target(2), keys(), async (s) => {
      const remote = await uploadArtifact(s, patch, settings().artifacts);
      expect(await s.check(`sha256sum ${remote} | cut -d' ' -f1`, 5_000, 'sum')).toBe(patch.artifact.sha256);
      const counting: Patch = {
        ...patch,
        installCommand: 'echo run >> "$PACS_ROOT/install-count"; sleep 1; echo installed',
      };
      const ticks: string[] = [];
      const run = {
        runKey: 'c1-secfix',
        owner: 'run-1',
        timeoutMs: 60_000,
        bootIdCommand: 'cat "$PACS_ROOT/run/boot_id"',
      };
      const first = await runInstall(s, counting, run, remote, (p) => ticks.push(p.state), 200);
      const again = await runInstall(s, counting, run, remote, () => {}, 200);
      expect(first).toMatchObject({ exitCode: 0, reattached: false });
      expect(first.outputTail).toContain('installed');
      expect(again).toMatchObject({ exitCode: 0, reattached: true });
      expect(await s.check('cat "$PACS_ROOT/install-count"', 5_000, 'count')).toBe('run');
      expect(ticks).toContain('finished');
    });
  });

  it('reboots a host: the connection drops, the host comes back with a new boot ID', async () => {
    const before = await withSsh(target(3), keys(), (s) => readBootId(s, 'cat "$PACS_ROOT/run/boot_id"'));
    await withSsh(target(3), keys(), (s) => triggerReboot(s));
    let after = before;
    const deadline = Date.now() + 15_000;
    while (after === before && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 300));
      after = await withSsh(target(3), keys(), (s) => readBootId(s, 'cat "$PACS_ROOT/run/boot_id"')).catch(
        () => before,
      );
    }
    expect(after).not.toBe(before);
  });
});

describe('health checks against real services', () => {
  it('refuses a wrong called AE title at a DICOM archive that checks it (dcmtk dcmqrscp)', async () => {
    const dir = mkdtempSync(`${tmpdir()}/rollout-qr-`);
    mkdirSync(`${dir}/db`);
    writeFileSync(
      `${dir}/dcmqrscp.cfg`,
      [
        'NetworkTCPPort = 11113',
        'MaxPDUSize = 16384',
        'MaxAssociations = 16',
        'HostTable BEGIN',
        'HostTable END',
        'VendorTable BEGIN',
        'VendorTable END',
        'AETable BEGIN',
        `ARCHIVE_QR ${dir}/db RW (10, 64mb) ANY`,
        'AETable END',
        '',
      ].join('\n'),
    );
    const address = '127.0.41.200';
    const archive = spawn('dcmqrscp', ['-c', `${dir}/dcmqrscp.cfg`], {
      env: childEnvironment({ BIND_ADDR: address, LD_PRELOAD: settings().bindShim }),
      stdio: 'ignore',
    });
    try {
      await waitForTcp(address, 11113, 10_000);
      await expect(dicomEcho(address, 11113, 'ROLLOUT', 'ARCHIVE_QR', 3_000)).resolves.toBeUndefined();
      await expect(dicomEcho(address, 11113, 'ROLLOUT', 'NOT_THE_AE', 3_000)).rejects.toThrow(
        /association rejected .*check the called AE title/,
      );
    } finally {
      archive.kill();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('C-ECHOes the host DICOM SCP and fails on a closed port', async () => {
    const h = lab.inventory.hosts[1]!;
    await expect(dicomEcho(h.address, 104, 'ROLLOUT', h.dicomAet, 3_000)).resolves.toBeUndefined();
    await expect(dicomEcho(h.address, 105, 'ROLLOUT', h.dicomAet, 3_000)).rejects.toThrow(/ECONNREFUSED/);
  });

  it('runs a host health profile and names what failed', async () => {
    const h = lab.inventory.hosts[1]!;
    const file = CampaignFile.parse(labCampaign(lab.inventory));
    const checks = [
      ...file.fleet.healthChecks,
      { kind: 'tcp' as const, name: 'closed-port', port: 7, timeout: 1_000 },
    ];
    const report = await runHealthChecks(h, checks, (fn) => withSsh(target(1), keys(), fn));
    expect(report.checks.map((c) => [c.name, c.ok])).toEqual([
      ['ssh-login', true],
      ['pacs-version-file', true],
      ['dicom-scp-running', true],
      ['dicom-port', true],
      ['dicom-echo', true],
      ['web-viewer', true],
      ['web-server', true],
      ['disk-mounted', true],
      ['closed-port', false],
    ]);
    expect(report.ok).toBe(false);
    expect(report.checks.every((c) => c.durationMs >= 0)).toBe(true);
  });

  it('fails HTTP, service and path checks with the reason: wrong status, body, process, path, mount', async () => {
    const h = lab.inventory.hosts[1]!;
    const checks: HealthCheck[] = [
      {
        kind: 'http',
        name: 'missing-page',
        scheme: 'http',
        port: 8080,
        path: '/nope',
        expectStatus: 200,
        insecureTls: false,
        timeout: 2_000,
      },
      {
        kind: 'http',
        name: 'wrong-body',
        scheme: 'http',
        port: 8080,
        path: '/status',
        expectStatus: 200,
        bodyMatch: '^DOWN',
        insecureTls: false,
        timeout: 2_000,
      },
      {
        kind: 'http',
        name: 'no-tls-there',
        scheme: 'https',
        port: 8080,
        path: '/status',
        expectStatus: 200,
        insecureTls: true,
        timeout: 2_000,
      },
      { kind: 'service', name: 'no-such-daemon', service: 'orthancd', manager: 'process', timeout: 2_000 },
      {
        kind: 'path',
        name: 'no-such-file',
        path: `${lab.inventory.mountPoint}/etc/absent`,
        type: 'file',
        timeout: 2_000,
      },
      {
        kind: 'path',
        name: 'not-a-mount',
        path: `${lab.inventory.mountPoint}/etc`,
        type: 'mount',
        timeout: 2_000,
      },
    ];
    const report = await runHealthChecks(h, checks, (fn) => withSsh(target(1), keys(), fn));
    const detail = Object.fromEntries(report.checks.map((c) => [c.name, c.ok ? 'ok' : c.detail]));
    const root = lab.inventory.mountPoint;
    const origin = `https://${h.address}:8080`.replace(/\./g, '\\.');
    expect(detail).toEqual({
      'ssh-login': 'ok',
      'missing-page': '/nope answered HTTP 404, expected 200',
      'wrong-body': '/status body does not match /^DOWN/',
      // A TLS hello to a plain-HTTP port: the server's answer is no TLS record.
      'no-tls-there': expect.stringMatching(
        new RegExp(`^HTTP ${origin}: write EPROTO .*:wrong version number`),
      ),
      'no-such-daemon': 'service orthancd is not running (exit 1)',
      'no-such-file': `${root}/etc/absent is not a file (exit 1)`,
      // mountpoint(1) exits 32 for a directory that is not a mount point.
      'not-a-mount': `${root}/etc is not a mount point (exit 32)`,
    });
  });
});

describe('SSH options: known_hosts, agent, passphrase, jump host, dropped connections', () => {
  const scratch: string[] = [];
  afterAll(() => {
    for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
  });

  /** A key directory with the lab host key and the given known_hosts text. */
  function keyDirWith(knownHosts: string): string {
    const dir = mkdtempSync(`${tmpdir()}/rollout-keys-`);
    scratch.push(dir);
    copyFileSync(`${lab.inventory.keyDir}/${HOST_CREDENTIAL}`, `${dir}/${HOST_CREDENTIAL}`);
    writeFileSync(`${dir}/known_hosts`, knownHosts);
    return dir;
  }
  const hostPub = (i: number) =>
    readFileSync(`${lab.dir}/hosts/${lab.inventory.hosts[i]!.id}/etc/ssh_host_ed25519_key.pub`, 'utf8')
      .split(' ')
      .slice(0, 2)
      .join(' ');
  const knownName = (i: number) => `[${lab.inventory.hosts[i]!.address}]:${lab.inventory.hosts[i]!.port}`;

  it('pins host keys from a known_hosts file (plain and hashed) when the inventory has none', async () => {
    const dir = keyDirWith(`${knownName(1)} ${hostPub(1)}\n${knownName(2)} ${hostPub(2)}\n`);
    execFileSync('ssh-keygen', ['-q', '-H', '-f', `${dir}/known_hosts`]);
    expect(readFileSync(`${dir}/known_hosts`, 'utf8')).toMatch(/^\|1\|/);
    const unpinned = (i: number) => target(i, { hostKey: undefined });
    expect(await withSsh(unpinned(1), directoryKeyStore(dir), (s) => s.check('hostname', 5_000, 'h'))).toBe(
      lab.inventory.hosts[1]!.id,
    );
    // Host 3 is not listed; host 1's name listed with host 2's key is a changed key.
    const unknown = await SshSession.open(unpinned(3), directoryKeyStore(dir)).catch((e: RolloutError) => e);
    expect((unknown as RolloutError).type).toBe('HostKeyMismatch');
    expect((unknown as RolloutError).message).toMatch(/no known_hosts entry/);
    const swapped = keyDirWith(`${knownName(1)} ${hostPub(2)}\n`);
    const changed = await SshSession.open(unpinned(1), directoryKeyStore(swapped)).catch(
      (e: RolloutError) => e,
    );
    expect((changed as RolloutError).type).toBe('HostKeyMismatch');
    expect((changed as RolloutError).message).toMatch(/not the key known_hosts lists/);
  });

  it('logs in with the worker SSH agent (credential "agent")', async () => {
    const dir = mkdtempSync(`${tmpdir()}/rollout-agent-`);
    scratch.push(dir);
    const sock = `${dir}/agent.sock`;
    const agent = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' });
    try {
      for (let i = 0; i < 50 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 50));
      execFileSync('ssh-add', ['-q', `${lab.inventory.keyDir}/${HOST_CREDENTIAL}`], {
        env: childEnvironment({ SSH_AUTH_SOCK: sock }),
        stdio: 'ignore',
      });
      const store = directoryKeyStore(dir, sock);
      expect(
        await withSsh(target(1, { credential: AGENT_CREDENTIAL }), store, (s) =>
          s.check('hostname', 5_000, 'h'),
        ),
      ).toBe(lab.inventory.hosts[1]!.id);
      expect(
        await failureType(
          SshSession.open(target(1, { credential: AGENT_CREDENTIAL }), directoryKeyStore(dir)),
        ),
      ).toBe('UnknownCredential');
    } finally {
      agent.kill();
    }
  });

  it('uses a passphrase-protected key, and names a wrong passphrase CredentialUnusable', async () => {
    const dir = mkdtempSync(`${tmpdir()}/rollout-enc-`);
    scratch.push(dir);
    execFileSync('ssh-keygen', [
      '-q',
      '-t',
      'ed25519',
      '-N',
      'correct horse',
      '-C',
      'enc',
      '-f',
      `${dir}/enc-key`,
    ]);
    const pub = readFileSync(`${dir}/enc-key.pub`, 'utf8').trim();
    await withSsh(target(1), keys(), (s) =>
      s.check(`printf '%s\\n' ${shellQuote(pub)} >> "$HOME/.ssh/authorized_keys"`, 5_000, 'add key'),
    );
    writeFileSync(`${dir}/enc-key.passphrase`, 'correct horse\n');
    const login = () =>
      withSsh(target(1, { credential: 'enc-key' }), directoryKeyStore(dir), (s) =>
        s.check('whoami', 5_000, 'w'),
      );
    expect(await login()).toBe('pacsadm');
    writeFileSync(`${dir}/enc-key.passphrase`, 'wrong horse\n');
    expect(await failureType(login())).toBe('CredentialUnusable');
  });

  it('reaches a host through a jump host, pinning both keys', async () => {
    const viaBastion = target(2, { via: target(1) });
    expect(await withSsh(viaBastion, keys(), (s) => s.check('hostname', 5_000, 'h'))).toBe(
      lab.inventory.hosts[2]!.id,
    );
    const badBastion = target(2, { via: target(1, { hostKey: lab.inventory.hosts[3]!.hostKey }) });
    expect(await failureType(SshSession.open(badBastion, keys()))).toBe('HostKeyMismatch');
    const deadEnd = target(2, { address: '127.0.41.250', via: target(1) });
    const err = await SshSession.open(deadEnd, keys()).catch((e: RolloutError) => e);
    expect((err as RolloutError).type).toBe('HostUnreachable');
    expect((err as RolloutError).message).toMatch(/jump host archive-01 cannot reach 127\.0\.41\.250/);
  });

  it('reports a connection dropped mid-command (host powered off) as ConnectionLost, then HostUnreachable until it returns', async () => {
    const ctl = createControllerClient(keys());
    const host = at(lab.inventory.hosts[0]!.id);
    const session = await SshSession.open(target(0), keys());
    try {
      const running = failureType(session.check('sleep 30', 20_000, 'long command'));
      await new Promise((r) => setTimeout(r, 500));
      expect(await ctl.powerOff(host)).toEqual({ power: 'off' });
      const started = Date.now();
      expect(await running).toBe('ConnectionLost');
      expect(Date.now() - started).toBeLessThan(15_000);
    } finally {
      session.close();
    }
    expect(await failureType(SshSession.open(target(0), keys(), { readyTimeoutMs: 2_000 }))).toBe(
      'HostUnreachable',
    );
    expect(await ctl.powerOn(host)).toEqual({ power: 'on' });
    await waitForTcp(lab.inventory.hosts[0]!.address, lab.inventory.hosts[0]!.port, 10_000);
    expect(await withSsh(target(0), keys(), (s) => s.check('hostname', 5_000, 'h'))).toBe(
      lab.inventory.hosts[0]!.id,
    );
  });
});

describe('preflight measurements and protected-path integrity', () => {
  it('measures service pack, OS and free disk on the host, and names the unmet one with its value', async () => {
    await withSsh(target(2), keys(), async (s) => {
      const ok = await measurePrerequisites(s, patch);
      expect(ok).toMatchObject({ servicePack: 3, os: 'pacs-linux' });
      expect(ok.freeDiskMiB).toBeGreaterThan(16);
      expect(ok.unmet).toBeUndefined();
      const strict: Patch = {
        ...patch,
        prerequisites: {
          ...patch.prerequisites,
          minServicePack: 5,
          os: ['other-os'],
          minFreeDisk: { path: '/', mebibytes: 1 << 30 },
        },
      };
      const unmet = (await measurePrerequisites(s, strict)).unmet ?? '';
      expect(unmet).toMatch(/service pack 3 is below the required 5/);
      expect(unmet).toMatch(/"pacs-linux" is not one of other-os/);
      expect(unmet).toMatch(/\d+ MiB free on \/, 1073741824 MiB required/);
    });
  });

  it('catches a single changed byte, a removed and an added file under a protected path', async () => {
    const studies = `${lab.inventory.mountPoint}/var/lib/pacs/studies`;
    await withSsh(target(2), keys(), async (s) => {
      const before = await profileBeforeInstall(s, patch, 'integrity-test');
      expect(before.files).toBe(3);
      const again = await profileBeforeInstall(s, patch, 'integrity-test');
      expect(again).toEqual(before);
      expect(await compareAfterInstall(s, patch, 'integrity-test')).toMatchObject({
        changes: [],
        moreChanges: 0,
        digest: before.digest,
      });
      // One byte, same size, same modification time.
      await s.check(
        `f=${studies}/study-2.dcm; t=$(stat -c %y "$f"); printf 'X' | dd of="$f" bs=1 seek=100 conv=notrunc status=none; touch -d "$t" "$f"`,
        5_000,
        'flip a byte',
      );
      const changed = await compareAfterInstall(s, patch, 'integrity-test');
      expect(changed.changes).toEqual([{ change: 'modified', path: `${studies}/study-2.dcm` }]);
      await s.check(`rm ${studies}/study-3.dcm; echo new > ${studies}/study-4.dcm`, 5_000, 'remove and add');
      const more = await compareAfterInstall(s, patch, 'integrity-test');
      expect(more.changes).toEqual([
        { change: 'modified', path: `${studies}/study-2.dcm` },
        { change: 'removed', path: `${studies}/study-3.dcm` },
        { change: 'added', path: `${studies}/study-4.dcm` },
      ]);
      const tolerant: Patch = { ...patch, integrity: { ...patch.integrity, allowNewFiles: true } };
      expect((await compareAfterInstall(s, tolerant, 'integrity-test')).changes.map((c) => c.change)).toEqual(
        ['modified', 'removed'],
      );
      const missing: Patch = {
        ...patch,
        integrity: { ...patch.integrity, protectedPaths: ['/no/such/store'] },
      };
      await expect(profileBeforeInstall(s, missing, 'integrity-missing')).rejects.toThrow(
        /protected path \/no\/such\/store does not exist/,
      );
    });
  });
});

describe('controller: images and power, out-of-band', () => {
  it('snapshots, verifies, restores a host whose boot was broken, and power-cycles it back', async () => {
    const ctl = createControllerClient(keys());
    const host = lab.inventory.hosts[3]!;
    const oob = at(host.id);
    const image = await ctl.snapshot(oob);
    expect(image.imageId.startsWith(`${host.id}-`)).toBe(true);
    expect(await ctl.verify(oob, image.imageId)).toEqual({ ok: true, sha256: image.sha256 });
    await withSsh(target(3), keys(), (s) =>
      s.check(
        'echo corrupt >> "$PACS_ROOT/boot/loader.conf"; echo 9.9 > "$PACS_ROOT/opt/pacs/VERSION"',
        5_000,
        'break',
      ),
    );
    // The lab host cannot boot now: the controller reports it off after a power cycle.
    expect(await ctl.powerCycle(oob)).toEqual({ power: 'off' });
    expect(await ctl.powerStatus(oob)).toEqual({ power: 'off' });
    await ctl.restore(oob, image.imageId);
    expect(await ctl.powerCycle(oob)).toEqual({ power: 'on' });
    // Powered on is not yet listening: the lab's sshd takes a moment to start in its new namespace.
    await waitForTcp(host.address, host.port, 10_000);
    expect(
      await withSsh(target(3), keys(), (s) => s.check('cat "$PACS_ROOT/opt/pacs/VERSION"', 5_000, 'v')),
    ).toBe('1.0.0');
  });

  it('refuses an image of another host and a path in place of an image ID', async () => {
    const ctl = createControllerClient(keys());
    const img = await ctl.snapshot(at(lab.inventory.hosts[1]!.id));
    await expect(ctl.restore(at(lab.inventory.hosts[2]!.id), img.imageId)).rejects.toThrow(/does not belong/);
    await expect(ctl.restore(at(lab.inventory.hosts[2]!.id), '../../etc')).rejects.toThrow(
      /invalid image id/,
    );
  });
});
