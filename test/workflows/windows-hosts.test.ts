/**
 * Windows hosts through the host workflow on the real dev server, in real time (the time-skipping
 * server skipped past activities that run in real time against vcsim and, on a loaded machine, timed
 * the workflows out). The images are real: the
 * workflow's snapshot, restore, power-cycle and delete-image activities drive VMware's vcsim through the
 * product's vSphere controller (govc). The Windows host is a fake standing behind the real host-ops code
 * and the Windows dialect: it answers the PowerShell scripts (facts probe, install start and poll, KB
 * version) the way a Windows host would, so preflight policy, exit-code handling and the workflow's
 * decisions are the product's own.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCampaignActivities } from '../../activities/campaign-activities.js';
import {
  createHostActivities,
  foldedReads,
  type HostActivities,
  type HostSteps,
} from '../../activities/host-activities.js';
import type { CampaignStore } from '../../adapters/campaign-store.js';
import { createControllerClient } from '../../adapters/controller.js';
import { windowsDialect } from '../../adapters/dialects/windows.js';
import { measurePrerequisites, readBootId, readVersion, runInstall } from '../../adapters/host-ops.js';
import { directoryKeyStore, type CommandResult, type SshSession } from '../../adapters/ssh.js';
import { directSsh } from '../../adapters/ssh-pool.js';
import { hostWorkflowId } from '../../domain/ids.js';
import { bootIdCommandOf } from '../../domain/platform.js';
import { CampaignFile, type HostOutcome, type HostPatchInput } from '../../domain/schema.js';
import { settings } from '../../runtime/config.js';
import type { hostPatchWorkflow } from '../../workflows/host-patch.js';
import { VCSIM_VMS, validWindowsCampaign } from '../fixtures/campaign.js';
import { tempRolloutStore } from '../helpers/store.js';
import { bundleWorkflows, devServerEnv } from '../helpers/temporal.js';
import { GOVC, startVcsim, type Vcsim } from '../helpers/vcsim.js';
import { startTogether } from '../helpers/start-together.js';

/** One Windows host as its scripts see it. */
interface WindowsHost {
  installed: boolean;
  boot: number;
  pendingReboot: string[];
  /** The exit code of the next install, and what it does to the host. */
  exitCode: number;
  /** Runs while the install runs (e.g. changes the VM, so a restore is observable). */
  onInstall?: () => void;
  calls: string[];
}

const silent = pino({ level: 'silent' });

/** An SSH session to a fake Windows host: answers each script of the Windows dialect by what it is. */
function session(host: WindowsHost, input: HostPatchInput): SshSession {
  const answer = (script: string): string => {
    if (script.includes('ConvertTo-Json -Compress') && script.includes('pendingReboot'))
      return JSON.stringify({
        caption: 'Microsoft Windows 10 Enterprise LTSC',
        build: '19044.3803',
        servicePack: 0,
        pendingReboot: host.pendingReboot,
        freeMiB: 50_000,
      });
    // Install scripts first: they also read the boot time (the PID guard) and name the task.
    if (script.includes('Register-ScheduledTask')) {
      host.calls.push('install');
      host.onInstall?.();
      return 'started';
    }
    if (script.includes("Read-RunFile 'timedout'")) return `exit ${host.exitCode}`;
    if (script.includes('Unregister-ScheduledTask')) return 'installer output';
    if (script.includes('Get-HotFix'))
      return host.installed ? input.patch.version : 'build 19044.3803 without KB5034441';
    if (script.includes('LastBootUpTime')) return `boot-${host.boot}`;
    throw new Error(`the fake Windows host got a script it does not know:\n${script.slice(0, 300)}`);
  };
  const run = async (script: string): Promise<CommandResult> => ({
    code: 0,
    stdout: answer(script),
    stderr: '',
  });
  return {
    dialect: windowsDialect,
    target: {
      name: input.host.id,
      address: input.host.address,
      port: 22,
      user: 'u',
      credential: 'c',
      platform: 'windows',
    },
    run,
    check: async (script: string) => (await run(script)).stdout,
    // A Windows host runs several scripts one by one (only POSIX hosts batch them).
    runAll: (scripts: string[]) => Promise.all(scripts.map(run)),
    checkAll: async (scripts: Array<{ script: string }>) =>
      Promise.all(scripts.map(async ({ script }) => (await run(script)).stdout)),
    close() {},
  } as unknown as SshSession;
}

function fakeWindowsFleet(hosts: Map<string, WindowsHost>, real: HostActivities): HostActivities {
  const of = (input: HostPatchInput) => hosts.get(input.host.id)!;
  const steps: HostSteps = {
    ...real, // snapshotImage, restoreImage, powerCycle, deleteImage: vcsim, for real
    async verifySourceArtifact() {},
    async preflight(input) {
      const host = of(input);
      host.calls.push('preflight');
      const s = session(host, input);
      const version = await readVersion(s, input.patch);
      const bootId = await readBootId(s, bootIdCommandOf(input.host));
      const measured = await measurePrerequisites(s, input.patch);
      return { version, bootId, alreadyPatched: version === input.patch.version, ...measured };
    },
    async profileProtectedPaths() {
      return { files: 0, digest: 'a'.repeat(64) };
    },
    async compareProtectedPaths() {
      return { files: 0, digest: 'a'.repeat(64), changes: [], moreChanges: 0 };
    },
    async uploadArtifact(input) {
      of(input).calls.push('upload');
      return windowsDialect.artifactPath(input.patch);
    },
    async installPatch(input, artifactPath) {
      const host = of(input);
      const run = {
        runKey: 'k',
        owner: 'o',
        timeoutMs: input.patch.installTimeout,
        bootIdCommand: bootIdCommandOf(input.host),
      };
      const result = await runInstall(session(host, input), input.patch, run, artifactPath, () => {}, 1);
      if ([0, 3010, 1641].includes(host.exitCode)) host.installed = true;
      if (host.exitCode === 1641) host.boot++; // the installer restarts the host itself
      return result;
    },
    async triggerReboot(input) {
      const host = of(input);
      host.calls.push('reboot');
      host.boot++;
      host.pendingReboot = [];
    },
    async waitForBoot(input) {
      const host = of(input);
      host.calls.push('wait-for-boot');
      return `boot-${host.boot}`;
    },
    async readVersion(input) {
      return readVersion(session(of(input), input), input.patch);
    },
    async checkHealth() {
      return {
        ok: true,
        at: new Date().toISOString(),
        checks: [{ name: 'pacs-service', ok: true, durationMs: 1, detail: 'Running' }],
      };
    },
  };
  return { ...steps, ...foldedReads(steps) };
}

let env: TestWorkflowEnvironment;
let bundle: WorkflowBundleWithSourceMap;
let sim: Vcsim;
let store: CampaignStore;
let storeDir: string;
let rollout: Awaited<ReturnType<typeof tempRolloutStore>>;

beforeAll(async () => {
  storeDir = mkdtempSync(join(tmpdir(), 'rollout-windows-store-'));
  rollout = await tempRolloutStore();
  store = rollout.store.campaignFiles;
  [env, bundle, sim] = await startTogether([devServerEnv(), bundleWorkflows(), startVcsim('127.0.64.2')]);
});

afterAll(async () => {
  await env?.teardown();
  await sim?.stop();
  await rollout?.cleanup();
  rmSync(storeDir, { recursive: true, force: true });
});

function windowsFile(pendingReboot: 'refuse' | 'reboot-first'): CampaignFile {
  const raw = validWindowsCampaign(4, sim.url);
  raw.fleet.controllers = [
    { id: 'vcenter', kind: 'vsphere', url: sim.url, credential: 'vcenter', caFile: sim.caFile },
  ];
  Object.assign(raw.patch, {
    reboots: false,
    rebootGrace: '200ms',
    bootTimeout: '10m',
    windows: { kb: 'KB5034441', package: 'msu', pendingReboot },
  });
  return CampaignFile.parse(raw);
}

const fresh = (exitCode: number, extra: Partial<WindowsHost> = {}): WindowsHost => ({
  installed: false,
  boot: 1,
  pendingReboot: [],
  exitCode,
  calls: [],
  ...extra,
});

async function patchHosts(
  file: CampaignFile,
  hosts: Map<string, WindowsHost>,
  queue: string,
): Promise<Map<string, HostOutcome>> {
  const fileSha256 = await store.put(file);
  const keys = directoryKeyStore(sim.keyDir);
  const real = createHostActivities({
    ssh: directSsh(keys),
    controllers: createControllerClient(keys, { govc: { binary: GOVC, home: sim.keyDir } }),
    logger: silent,
    artifacts: settings().artifacts,
  });
  const host = fakeWindowsFleet(hosts, real);
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue: queue,
    workflowBundle: bundle,
    activities: {
      ...host,
      ...createCampaignActivities({
        store,
        logger: silent,
        checkHealth: host.checkHealth,
        ledger: rollout.store,
        artifacts: settings().artifacts,
      }),
    },
  });
  const outcomes = await worker.runUntil(async () => {
    const handles = await Promise.all(
      [...hosts.keys()].map((hostId) =>
        env.client.workflow.start<typeof hostPatchWorkflow>('hostPatchWorkflow', {
          taskQueue: queue,
          workflowId: `${hostWorkflowId(hostId)}-${queue}`,
          args: [
            { campaignId: `windows-${queue}`, fileSha256, hostId, mode: 'patch', onFailure: 'automatic' },
          ],
        }),
      ),
    );
    return Promise.all(handles.map((h) => h.result()));
  });
  return new Map(outcomes.map((o) => [o.hostId, o]));
}

/**
 * The calls a host saw, a retried wait for boot counted once: that activity is idempotent and may be
 * retried on a loaded machine; a second install or reboot would still show.
 */
const stepsOf = (host: WindowsHost) =>
  host.calls.filter((c, i) => !(c === 'wait-for-boot' && host.calls[i - 1] === 'wait-for-boot'));

/** The VM's snapshot tree ("" when it has none); a govc failure fails the test, never reads as "none". */
const snapshotsOf = (vm: string) => sim.govc('snapshot.tree', '-vm', vm, '-D', '-f').trim();

describe('Windows hosts, images in vSphere (vcsim)', () => {
  it('3010 reboots and ends patched; 2359302 is already patched, untouched, its image deleted; 1603 is rolled back from its snapshot', async () => {
    const failing = fresh(1603, {
      onInstall: () =>
        sim.govc('snapshot.create', '-vm', VCSIM_VMS[2]!, '-m=false', 'left-by-failed-install'),
    });
    const hosts = new Map([
      ['h0', fresh(3010)],
      ['h1', fresh(2359302)],
      ['h2', failing],
    ]);
    const out = await patchHosts(windowsFile('refuse'), hosts, 'windows-exit-codes');

    const rebooted = out.get('h0')!;
    expect(rebooted.failure).toBeUndefined();
    expect(rebooted.state).toBe('patched');
    expect(rebooted.fromVersion).toBe('build 19044.3803 without KB5034441');
    expect(rebooted.toVersion).toBe('2024.01.1');
    // patch.reboots is false: the 3010 ("reboot required") is what restarted the host.
    expect(stepsOf(hosts.get('h0')!)).toEqual(['preflight', 'upload', 'install', 'reboot', 'wait-for-boot']);
    expect(rebooted.image?.location).toContain(VCSIM_VMS[0]);

    const already = out.get('h1')!;
    expect(already.state).toBe('already-patched');
    expect(already.unchanged).toBe(true);
    expect(hosts.get('h1')!.calls).not.toContain('reboot');
    expect(already.timings.map((t) => t.step)).toContain('delete-image');
    expect(already.timings.map((t) => t.step)).not.toContain('restore-image');
    expect(snapshotsOf(VCSIM_VMS[1]!)).toBe('');

    const failed = out.get('h2')!;
    expect(failed.state).toBe('rolled-back');
    expect(failed.failure).toMatchObject({
      step: 'install',
      type: 'InstallFailed',
      message: 'install exited 1603 (ERROR_INSTALL_FAILURE)',
    });
    // The VM is back on the image saved before the install, past the state the failed install left.
    expect(sim.govc('snapshot.tree', '-vm', VCSIM_VMS[2]!, '-C').trim()).toBe(failed.image!.imageId);
    expect(sim.govc('object.collect', '-s', VCSIM_VMS[2]!, 'runtime.powerState').trim()).toBe('poweredOn');
    expect(failed.timings.map((t) => t.step)).toEqual(
      expect.arrayContaining([
        'image',
        'install',
        'restore-image',
        'power-cycle',
        'wait-for-boot',
        'health-after-rollback',
      ]),
    );
  });

  it('a pending reboot: refused untouched under "refuse"; restarted first under "reboot-first", then a 1641 is not restarted twice', async () => {
    const refused = await patchHosts(
      windowsFile('refuse'),
      new Map([['h3', fresh(0, { pendingReboot: ['Component Based Servicing: RebootPending'] })]]),
      'windows-pending-refuse',
    );
    const skipped = refused.get('h3')!;
    expect(skipped.state).toBe('prerequisite-failed');
    expect(skipped.failure?.message).toBe(
      'a reboot is pending (Component Based Servicing: RebootPending); the patch refuses such hosts',
    );
    expect(skipped.image).toBeUndefined();
    expect(snapshotsOf(VCSIM_VMS[3]!)).toBe('');

    const host = fresh(1641, { pendingReboot: ['Windows Update: RebootRequired'] });
    const first = await patchHosts(
      windowsFile('reboot-first'),
      new Map([['h3', host]]),
      'windows-pending-first',
    );
    expect(first.get('h3')!.state).toBe('patched');
    expect(first.get('h3')!.timings.map((t) => t.step)).toContain('reboot-first');
    // One restart before the install (the pending one); the installer's own restart (1641) is waited for.
    expect(stepsOf(host)).toEqual([
      'preflight',
      'reboot',
      'wait-for-boot',
      'preflight',
      'upload',
      'install',
      'wait-for-boot',
    ]);
  });
});
