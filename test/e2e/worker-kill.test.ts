/**
 * A worker killed with SIGKILL in the middle of an out-of-band step (snapshot, restore, power cycle) is
 * noticed by its heartbeat timeout, and the step completes on the next worker within a minute: a host
 * that is already failing does not stay powered off for the step's 15-minute timeout. A hung install
 * fails at its installTimeout, not after its retries. Real dev server, real `rollout worker` processes,
 * real sshd lab hosts and lab controller.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import type { WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CampaignStore } from '../../adapters/campaign-store.js';
import { openRolloutStore, type RolloutStore } from '../../adapters/rollout-store.js';
import { hostWorkflowId } from '../../domain/ids.js';
import { CampaignFile, type HostOutcome, type HostRun, type ImageRecord } from '../../domain/schema.js';
import { labStatus, setLabFault } from '../../lab/lab.js';
import { labCampaign } from '../../lab/lab-campaign.js';
import { PROJECT_ROOT } from '../../runtime/paths.js';
import { hostProgressQuery } from '../../workflows/contract.js';
import type { hostPatchWorkflow } from '../../workflows/host-patch.js';
import { startTestLab, type TestLab } from '../helpers/lab.js';
import { devServerEnv } from '../helpers/temporal.js';
import { childEnvironment } from '../../runtime/config.js';
import { startTogether } from '../helpers/start-together.js';

const TASK_QUEUE = 'e2e-worker-kill';
let env: TestWorkflowEnvironment;
let lab: TestLab;
let dir: string;
let store: CampaignStore;
let rolloutDb: RolloutStore;
let fileSha256: string;
const workers: ChildProcess[] = [];
/** Everything the workers wrote to stderr, line by line. */
const logLines: string[] = [];

function startWorker(): ChildProcess {
  const worker = spawn('node', [`${PROJECT_ROOT}/bin/rollout.js`, 'worker'], {
    env: childEnvironment({
      TEMPORAL_ADDRESS: env.address,
      ROLLOUT_TASK_QUEUE: TASK_QUEUE,
      ROLLOUT_STORE_DIR: `${dir}/store`,
      ROLLOUT_DB_FILE: `${dir}/rollout.sqlite`,
      ROLLOUT_KEY_DIR: lab.inventory.keyDir,
      ROLLOUT_METRICS_ADDRESS: '',
      ROLLOUT_LOG_LEVEL: 'info',
      // The SDK core logs at INFO; unforwarded, those lines would be coloured plain text.
      ROLLOUT_SDK_LOG_LEVEL: 'INFO',
    }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  for (const stream of [worker.stdout, worker.stderr]) {
    let partial = '';
    stream?.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString()).split('\n');
      partial = lines.pop() ?? '';
      logLines.push(...lines.filter((l) => l.trim()));
    });
  }
  workers.push(worker);
  return worker;
}

function kill(worker: ChildProcess): Promise<number> {
  return new Promise((resolve) => {
    worker.once('exit', () => resolve(Date.now()));
    worker.kill('SIGKILL');
  });
}

beforeAll(async () => {
  [env, lab] = await startTogether([devServerEnv(), startTestLab('127.0.50', 3)]);
  dir = mkdtempSync(`${tmpdir()}/rollout-kill-`);
  // The workers read campaign files from the same rollout database.
  rolloutDb = await openRolloutStore({ sqliteFile: `${dir}/rollout.sqlite` });
  store = rolloutDb.campaignFiles;
  const raw = labCampaign(lab.inventory, {
    soak: '4s',
    probeInterval: '2s',
    rebootGrace: '500ms',
    bootTimeout: '20s',
    concurrency: 2,
  });
  raw.patch.installTimeout = '3s';
  fileSha256 = await store.put(CampaignFile.parse(raw));
});

afterAll(async () => {
  await Promise.all(workers.filter((w) => w.exitCode === null && w.signalCode === null).map(kill));
  await env?.teardown();
  await lab?.stop();
  await rolloutDb?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function untilStep(handle: WorkflowHandle, step: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const progress = await handle.query(hostProgressQuery).catch(() => undefined);
    if (progress?.step === step) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the host never reached step ${step}`);
}

/** When the named activity last completed, from the host workflow's history (ms since epoch). */
async function completedAt(handle: WorkflowHandle, activity: string): Promise<number> {
  const events = (await handle.fetchHistory()).events ?? [];
  const scheduled = new Map(
    events
      .filter((e) => e.activityTaskScheduledEventAttributes)
      .map((e) => [String(e.eventId), e.activityTaskScheduledEventAttributes?.activityType?.name]),
  );
  const done = events.filter(
    (e) =>
      e.activityTaskCompletedEventAttributes &&
      scheduled.get(String(e.activityTaskCompletedEventAttributes.scheduledEventId)) === activity,
  );
  const last = done.at(-1);
  if (!last) throw new Error(`${activity} never completed`);
  return Number(last.eventTime?.seconds ?? 0) * 1000 + Math.floor((last.eventTime?.nanos ?? 0) / 1e6);
}

const startHost = (hostId: string, mode: HostRun['mode'], image?: ImageRecord) =>
  env.client.workflow.start<typeof hostPatchWorkflow>('hostPatchWorkflow', {
    taskQueue: TASK_QUEUE,
    workflowId: hostWorkflowId(hostId),
    args: [
      {
        campaignId: `kill-${mode}`,
        fileSha256,
        hostId,
        mode,
        onFailure: 'automatic',
        ...(image ? { image } : {}),
      },
    ],
  });

describe('a worker killed mid-step', () => {
  it('finishes a snapshot, a restore and a power cycle on the next worker within 60 s of each kill', async () => {
    const host = lab.inventory.hosts[1]!.id;
    let worker = startWorker();
    // 1. Snapshot: the controller takes 8 s; the worker dies in the middle.
    setLabFault(lab.dir, host, 'snapshot', 8);
    const patchRun = await startHost(host, 'patch');
    await untilStep(patchRun, 'image');
    await new Promise((r) => setTimeout(r, 1_000));
    let killedAt = await kill(worker);
    setLabFault(lab.dir, host, 'snapshot', undefined);
    worker = startWorker();
    const patched: HostOutcome = await patchRun.result();
    expect(patched.state).toBe('patched');
    const recovered: Record<string, number> = {};
    recovered.snapshot = (await completedAt(patchRun, 'snapshotImage')) - killedAt;

    // 2. Restore, then 3. power cycle, each with the worker killed while the host is powered off.
    setLabFault(lab.dir, host, 'restore', 8);
    setLabFault(lab.dir, host, 'power-cycle', 8);
    const rollbackRun = await startHost(host, 'rollback', patched.image);
    await untilStep(rollbackRun, 'restore-image');
    await new Promise((r) => setTimeout(r, 1_000));
    killedAt = await kill(worker);
    setLabFault(lab.dir, host, 'restore', undefined);
    worker = startWorker();
    await untilStep(rollbackRun, 'power-cycle', 90_000);
    recovered.restore = (await completedAt(rollbackRun, 'restoreImage')) - killedAt;
    await new Promise((r) => setTimeout(r, 1_000));
    killedAt = await kill(worker);
    setLabFault(lab.dir, host, 'power-cycle', undefined);
    worker = startWorker();
    const rolledBack: HostOutcome = await rollbackRun.result();
    recovered.powerCycle = (await completedAt(rollbackRun, 'powerCycle')) - killedAt;
    process.stderr.write(`step done after the worker was killed (ms): ${JSON.stringify(recovered)}\n`);
    for (const ms of Object.values(recovered)) expect(ms).toBeLessThan(60_000);
    expect(rolledBack.state).toBe('rolled-back');
    expect(rolledBack.health?.ok).toBe(true);
    // The disk is the image from before the patch, and the host is up.
    const disk = labStatus(lab.dir).hosts.find((h) => h.id === host);
    expect(disk).toMatchObject({ version: '1.0.0', power: 'on', booted: true });
  });

  it('fails a hung install at its installTimeout (not after retries) and stops it on the host', async () => {
    const host = lab.inventory.hosts[2]!.id;
    const worker = startWorker();
    const raw = labCampaign(lab.inventory);
    raw.patch.installCommand = 'echo hung; sleep 600';
    raw.patch.installTimeout = '3s';
    const hung = await store.put(CampaignFile.parse(raw));
    const handle = await env.client.workflow.start<typeof hostPatchWorkflow>('hostPatchWorkflow', {
      taskQueue: TASK_QUEUE,
      workflowId: hostWorkflowId(host),
      args: [
        { campaignId: 'kill-hung', fileSha256: hung, hostId: host, mode: 'patch', onFailure: 'automatic' },
      ],
    });
    const outcome: HostOutcome = await handle.result();
    expect(outcome.failure).toMatchObject({ step: 'install', type: 'InstallTimedOut' });
    const install = outcome.timings.find((t) => t.step === 'install');
    expect(install?.durationMs).toBeLessThan(3_000 + 10_000);
    expect(outcome.state).toBe('rolled-back');
    await kill(worker);
  });

  it('logged one JSON stream on stdout and stderr: the SDK core lines too, no plain text', () => {
    const notJson = logLines.filter((line) => {
      try {
        JSON.parse(line);
        return false;
      } catch {
        return true;
      }
    });
    expect(notJson).toEqual([]);
    const entries = logLines.map((l) => JSON.parse(l) as { msg?: string; sdkComponent?: string });
    expect(entries.some((e) => e.msg === 'worker started')).toBe(true);
    // The Rust core's own lines arrive through pino too.
    expect(entries.some((e) => e.sdkComponent === 'core')).toBe(true);
  });
});
