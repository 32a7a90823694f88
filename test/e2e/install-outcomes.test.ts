/**
 * No decision from two separate looks at a changing state, or from one transient error: the install's
 * outcome, its time limit, its lock, the upload and the reboot, against real OpenSSH lab hosts.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { EventEmitter } from 'node:events';
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  installPollScript,
  observeBoot,
  parseInstallObservation,
  readBootId,
  remoteArtifactPath,
  runInstall,
  triggerReboot,
  uploadArtifact,
  type InstallRun,
} from '../../adapters/host-ops.js';
import { directoryKeyStore, shellQuote, withSsh, SshSession, type SshTarget } from '../../adapters/ssh.js';
import { directSsh } from '../../adapters/ssh-pool.js';
import { sha256File } from '../../adapters/artifacts.js';
import { RolloutError } from '../../domain/errors.js';
import { issueCertificate } from '../../runtime/certificates.js';
import { settings } from '../../runtime/config.js';
import { CampaignFile, type Patch } from '../../domain/schema.js';
import { HOST_CREDENTIAL } from '../../lab/lab.js';
import { labCampaign } from '../../lab/lab-campaign.js';
import { startTestLab, type TestLab } from '../helpers/lab.js';

let lab: TestLab;
let patch: Patch;
const scratch: string[] = [];
const keys = () => directoryKeyStore(lab.inventory.keyDir);
const BOOT_ID = 'cat "$PACS_ROOT/run/boot_id"';

function target(index: number): SshTarget {
  const h = lab.inventory.hosts[index]!;
  return {
    name: h.id,
    address: h.address,
    port: h.port,
    user: 'pacsadm',
    hostKey: h.hostKey,
    credential: HOST_CREDENTIAL,
  };
}

const on = <T>(index: number, fn: (s: SshSession) => Promise<T>) => withSsh(target(index), keys(), fn);
const run = (runKey: string, owner = 'run-a', timeoutMs = 60_000): InstallRun => ({
  runKey,
  owner,
  timeoutMs,
  bootIdCommand: BOOT_ID,
});

async function failure(promise: Promise<unknown>): Promise<RolloutError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(RolloutError);
    return err as RolloutError;
  }
  throw new Error('expected a failure');
}

beforeAll(async () => {
  lab = await startTestLab('127.0.49', 3);
  patch = CampaignFile.parse(labCampaign(lab.inventory)).patch;
});

afterAll(async () => {
  await lab?.stop();
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});

describe('the install outcome is read from the exit file, never guessed', () => {
  /**
   * A run directory whose "install" is a detached sleep; the hook then does what a finishing install
   * does (exit file written, process gone) between the poll's first look and its process check: the
   * window in which the poll used to report "vanished" for an install that had exited 0.
   */
  async function finishingRun(s: SshSession, dir: string): Promise<string> {
    await s.check(
      [
        `d=${shellQuote(dir)}; rm -rf "$d"; mkdir -p "$d"`,
        `${BOOT_ID} > "$d/boot"; date +%s > "$d/started"; echo run-a > "$d/owner"`,
        'setsid nohup sleep 60 </dev/null >/dev/null 2>&1 & echo $! > "$d/pid"',
      ].join('\n'),
      5_000,
      'fake run',
    );
    return [
      'echo 0 > "$d/exit.tmp" && mv "$d/exit.tmp" "$d/exit"',
      'kill -KILL "$pid"',
      'while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done',
    ].join('; ');
  }

  it('reports the real exit code when the install ends between the two observations', async () => {
    await on(1, async (s) => {
      const dir = '.rollout/runs/race-new';
      const hook = await finishingRun(s, dir);
      const printed = await s.check(
        installPollScript(dir, run('race-new'), { betweenObservations: hook }),
        10_000,
        'poll',
      );
      expect(parseInstallObservation(printed)).toEqual({ kind: 'exit', code: 0 });
    });
  });

  it('control: the poll as it was before this fix reports the same finished install as vanished', async () => {
    await on(1, async (s) => {
      const dir = '.rollout/runs/race-old';
      const hook = await finishingRun(s, dir);
      const oldPoll = [
        `d=${shellQuote(dir)}`,
        'pid=$(cat "$d/pid")',
        'if [ -f "$d/exit" ]; then echo "exit $(cat "$d/exit")";',
        `else ${hook}; if [ -f "$d/pid" ] && kill -0 "$(cat "$d/pid")" 2>/dev/null; then echo running;`,
        'else echo vanished; fi; fi',
      ].join('\n');
      expect(await s.check(oldPoll, 10_000, 'old poll')).toBe('vanished');
    });
  });

  it('stops an install at installTimeout on the host, and a retry does not re-attach past it', async () => {
    await on(2, async (s) => {
      const slow: Patch = { ...patch, installCommand: 'echo start; sleep 600' };
      const began = Date.now();
      const err = await failure(runInstall(s, slow, run('hung', 'run-a', 3_000), '-', () => {}, 200));
      const took = Date.now() - began;
      expect(err.type).toBe('InstallTimedOut');
      expect(err.message).toMatch(/past its limit of 3 s; it was stopped on the host/);
      expect(took).toBeLessThan(3_000 + 8_000);
      expect((await s.run('pgrep -f "sleep 600"', 5_000)).code).toBe(1);
      const again = Date.now();
      expect((await failure(runInstall(s, slow, run('hung', 'run-a', 3_000), '-', () => {}, 200))).type).toBe(
        'InstallTimedOut',
      );
      expect(Date.now() - again).toBeLessThan(2_000);
    });
  });

  it('reports an install whose process really vanished as InstallOutcomeUnknown, with what was seen', async () => {
    await on(2, async (s) => {
      const doomed: Patch = { ...patch, installCommand: 'sleep 30' };
      const watching = failure(runInstall(s, doomed, run('killed'), '-', () => {}, 200));
      await on(2, async (other) => {
        await other.check(
          'for i in $(seq 50); do [ -f .rollout/runs/killed/pid ] && break; sleep 0.1; done; kill -KILL -"$(cat .rollout/runs/killed/pid)"',
          10_000,
          'kill install',
        );
      });
      const err = await watching;
      expect(err.type).toBe('InstallOutcomeUnknown');
      expect(err.message).toMatch(
        /gone without an exit code \(boot at start .+, now .+; \d+ bytes of output\)/,
      );
    });
  });

  it('re-attaches for its own run, starts afresh for a later run after a finished one, never twice at once', async () => {
    await on(1, async (s) => {
      const counting: Patch = {
        ...patch,
        installCommand: 'echo run >> "$PACS_ROOT/owner-count"; sleep 1',
      };
      const first = await runInstall(s, counting, run('owned', 'run-a'), '-', () => {}, 200);
      const again = await runInstall(s, counting, run('owned', 'run-a'), '-', () => {}, 200);
      expect([first.reattached, again.reattached]).toEqual([false, true]);
      expect(await s.check('wc -l < "$PACS_ROOT/owner-count"', 5_000, 'count')).toBe('1');
      // An on-call retry is a new host-workflow run: the finished run is kept aside, the install runs again.
      const retry = await runInstall(s, counting, run('owned', 'run-b'), '-', () => {}, 200);
      expect(retry.reattached).toBe(false);
      expect(await s.check('wc -l < "$PACS_ROOT/owner-count"', 5_000, 'count')).toBe('2');
      expect(await s.check('ls -d .rollout/runs/owned.done-* | wc -l', 5_000, 'archived')).toBe('1');
      // Two attempts racing each other (a retry while the first attempt's worker still runs): one install.
      const raced = await Promise.all(
        [0, 1].map(() => on(1, (t) => runInstall(t, counting, run('raced', 'run-c'), '-', () => {}, 200))),
      );
      expect(raced.map((r) => r.reattached).sort()).toEqual([false, true]);
      expect(await s.check('wc -l < "$PACS_ROOT/owner-count"', 5_000, 'count')).toBe('3');
    });
  });
});

describe('the upload never leaves a wrong file where the install looks', () => {
  it('replaces a partial copy at the artifact path, and blames a source artifact that changed', async () => {
    await on(1, async (s) => {
      const remote = remoteArtifactPath(patch);
      await s.check(`mkdir -p .rollout/artifacts && printf half > ${shellQuote(remote)}`, 5_000, 'partial');
      expect(await uploadArtifact(s, patch, settings().artifacts)).toBe(remote);
      expect(await s.check(`sha256sum < ${shellQuote(remote)} | cut -d' ' -f1`, 5_000, 'sum')).toBe(
        patch.artifact.sha256,
      );

      const dir = mkdtempSync(`${tmpdir()}/rollout-artifact-`);
      scratch.push(dir);
      const swapped = `${dir}/pacs-secfix-swapped.sh`;
      copyFileSync(patch.artifact.path!, swapped);
      writeFileSync(swapped, '\necho swapped\n', { flag: 'a' });
      const changed: Patch = { ...patch, artifact: { ...patch.artifact, path: swapped } };
      const policy = settings().artifacts;
      const err = await failure(uploadArtifact(s, changed, { ...policy, dirs: [...policy.dirs, dir] }));
      expect(err.type).toBe('SourceArtifactInvalid');
      expect(err.message).toMatch(/does not match the SHA-256 the campaign file gives/);
      expect(err.message).not.toContain(await sha256File(swapped, 10_000));
      const left = await s.check(`ls .rollout/artifacts`, 5_000, 'ls');
      expect(left).not.toMatch(/swapped|\.part-/);
    });
  });

  it("puts an artifact given by URL on the host from the worker's cache: fetched once over https, same checksum", async () => {
    const dir = mkdtempSync(`${tmpdir()}/rollout-artifact-url-`);
    scratch.push(dir);
    const cert = issueCertificate(`${dir}/pki`, 'portal', 'server', ['IP:127.0.0.1']);
    const bytes = readFileSync(patch.artifact.path!);
    let fetched = 0;
    const portal = createServer(
      { cert: readFileSync(cert.certFile), key: readFileSync(cert.keyFile) },
      (_req, res) => {
        fetched++;
        res.end(bytes);
      },
    );
    await new Promise<void>((r) => portal.listen(0, '127.0.0.1', r));
    try {
      const origin = `https://127.0.0.1:${(portal.address() as AddressInfo).port}`;
      const url = `${origin}/vendor/pacs%20secfix.sh`;
      const byUrl: Patch = { ...patch, artifact: { url, sha256: patch.artifact.sha256 } };
      const policy = {
        ...settings().artifacts,
        cacheDir: `${dir}/cache`,
        caFile: `${dir}/pki/ca.pem`,
        urlPrefixes: [`${origin}/vendor/`],
      };
      await on(2, async (s) => {
        const remote = await uploadArtifact(s, byUrl, policy);
        expect(remote).toBe(`.rollout/artifacts/${patch.artifact.sha256}-pacs_20secfix.sh`);
        expect(await s.check(`sha256sum < ${shellQuote(remote)} | cut -d' ' -f1`, 5_000, 'sum')).toBe(
          patch.artifact.sha256,
        );
        await s.check(`rm -f ${shellQuote(remote)}`, 5_000, 'rm');
        expect(await uploadArtifact(s, byUrl, policy)).toBe(remote);
      });
      expect(fetched).toBe(1);
    } finally {
      portal.closeAllConnections();
      await new Promise((r) => portal.close(r));
    }
  });
});

describe('a connection that breaks under an open session', () => {
  it('is a failed command, never an uncaught exception that would kill the worker', async () => {
    const session = await SshSession.open(target(1), keys());
    try {
      // What ssh2 does when the host's socket is reset after the session was set up.
      const client = (session as unknown as { ssh: { connection: EventEmitter } }).ssh.connection;
      expect(() =>
        client.emit('error', Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })),
      ).not.toThrow();
    } finally {
      session.close();
    }
  });
});

describe('the reboot: one trigger, and what the host answers', () => {
  it('does not reboot a host that is already on another boot, and tells down, same and new boots apart', async () => {
    const host = target(2);
    const before = await on(2, (s) => readBootId(s, BOOT_ID));
    expect(await observeBoot(directSsh(keys()), host, BOOT_ID, before)).toEqual({
      state: 'same-boot',
      bootId: before,
    });
    expect(await observeBoot(directSsh(keys()), host, BOOT_ID, '')).toEqual({
      state: 'new-boot',
      bootId: before,
    });
    // A retried trigger whose first attempt did reboot the host: the boot IDs differ, nothing is done.
    expect(await on(2, (s) => triggerReboot(s, { bootIdCommand: BOOT_ID, previousBootId: 'old-boot' }))).toBe(
      'already-rebooted',
    );
    await new Promise((r) => setTimeout(r, 1_500));
    expect(await on(2, (s) => readBootId(s, BOOT_ID))).toBe(before);

    expect(await on(2, (s) => triggerReboot(s, { bootIdCommand: BOOT_ID, previousBootId: before }))).toBe(
      'triggered',
    );
    const seen = new Set<string>();
    const deadline = Date.now() + 20_000;
    let last = await observeBoot(directSsh(keys()), host, BOOT_ID, before);
    while (last.state !== 'new-boot' && Date.now() < deadline) {
      seen.add(last.state);
      await new Promise((r) => setTimeout(r, 100));
      last = await observeBoot(directSsh(keys()), host, BOOT_ID, before);
    }
    expect(seen.has('down')).toBe(true);
    expect(last.state).toBe('new-boot');
  });
});
