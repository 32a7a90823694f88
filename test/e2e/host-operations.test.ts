/**
 * The adapters against real software: OpenSSH hosts and the controller in a lab, a DICOM SCP (dcmtk
 * storescp) on each host.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createControllerClient } from '../../adapters/controller.js';
import { dicomEcho, runHealthChecks } from '../../adapters/health.js';
import { readBootId, runInstall, triggerReboot, uploadArtifact } from '../../adapters/host-ops.js';
import { directoryKeyStore, SshSession, withSsh, type SshTarget } from '../../adapters/ssh.js';
import { RolloutError } from '../../domain/errors.js';
import { CampaignFile, type Controller, type Patch } from '../../domain/schema.js';
import { CONTROLLER_CREDENTIAL, HOST_CREDENTIAL } from '../../lab/lab.js';
import { labCampaign } from '../../lab/lab-campaign.js';
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

describe('host steps', () => {
  it('uploads the artifact, checks its SHA-256 on the host, and installs once even when called twice', async () => {
    await withSsh(target(2), keys(), async (s) => {
      const remote = await uploadArtifact(s, patch);
      expect(await s.check(`sha256sum ${remote} | cut -d' ' -f1`, 5_000, 'sum')).toBe(patch.artifact.sha256);
      const counting: Patch = {
        ...patch,
        installCommand: 'echo run >> "$PACS_ROOT/install-count"; sleep 1; echo installed',
      };
      const ticks: string[] = [];
      const first = await runInstall(s, counting, 'c1-secfix', remote, (p) => ticks.push(p.state), 200);
      const again = await runInstall(s, counting, 'c1-secfix', remote, () => {}, 200);
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
  it('C-ECHOes the host DICOM SCP and fails on a closed port and a wrong AE title', async () => {
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
    const report = await runHealthChecks(h, checks, () => SshSession.open(target(1), keys()));
    expect(report.checks.map((c) => [c.name, c.ok])).toEqual([
      ['ssh-login', true],
      ['pacs-version-file', true],
      ['dicom-scp-running', true],
      ['dicom-port', true],
      ['dicom-echo', true],
      ['closed-port', false],
    ]);
    expect(report.ok).toBe(false);
  });
});

describe('controller: images and power, out-of-band', () => {
  it('snapshots, verifies, restores a host whose boot was broken, and power-cycles it back', async () => {
    const ctl = createControllerClient(keys());
    const host = lab.inventory.hosts[3]!;
    const image = await ctl.snapshot(controller, host.id);
    expect(image.imageId.startsWith(`${host.id}-`)).toBe(true);
    expect(await ctl.verify(controller, host.id, image.imageId)).toEqual({ ok: true, sha256: image.sha256 });
    await withSsh(target(3), keys(), (s) =>
      s.check(
        'echo corrupt >> "$PACS_ROOT/boot/loader.conf"; echo 9.9 > "$PACS_ROOT/opt/pacs/VERSION"',
        5_000,
        'break',
      ),
    );
    const down = await ctl.powerCycle(controller, host.id);
    expect(down).toEqual({ host: host.id, power: 'off', booted: false });
    await ctl.restore(controller, host.id, image.imageId);
    expect(await ctl.powerCycle(controller, host.id)).toEqual({ host: host.id, power: 'on', booted: true });
    await new Promise((r) => setTimeout(r, 300));
    expect(
      await withSsh(target(3), keys(), (s) => s.check('cat "$PACS_ROOT/opt/pacs/VERSION"', 5_000, 'v')),
    ).toBe('1.0.0');
  });

  it('refuses an image of another host and a path in place of an image ID', async () => {
    const ctl = createControllerClient(keys());
    const img = await ctl.snapshot(controller, lab.inventory.hosts[1]!.id);
    await expect(ctl.restore(controller, lab.inventory.hosts[2]!.id, img.imageId)).rejects.toThrow(
      /does not belong/,
    );
    await expect(ctl.restore(controller, lab.inventory.hosts[2]!.id, '../../etc')).rejects.toThrow(
      /invalid image id/,
    );
  });
});
