/**
 * Durability: a worker that stops in the middle of an install loses nothing, and the next worker
 * re-attaches to the running install instead of starting it again. Real dev server, real sshd host.
 */
import { readFileSync } from 'node:fs';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostWorkflowId } from '../../domain/ids.js';
import { CampaignFile } from '../../domain/schema.js';
import { labCampaign } from '../../lab/lab-campaign.js';
import { createLogger } from '../../workers/logger.js';
import { composeActivities } from '../../workers/worker.js';
import type { hostPatchWorkflow } from '../../workflows/host-patch.js';
import { hostProgressQuery } from '../../workflows/contract.js';
import { startTestLab, type TestLab } from '../helpers/lab.js';
import { tempRolloutStore } from '../helpers/store.js';
import { bundleWorkflows, devServerEnv } from '../helpers/temporal.js';
import { embeddedSettings } from '../../runtime/config.js';
import { startTogether } from '../helpers/start-together.js';

const TASK_QUEUE = 'e2e-restart';
let env: TestWorkflowEnvironment;
let lab: TestLab;
let rollout: Awaited<ReturnType<typeof tempRolloutStore>>;

beforeAll(async () => {
  [env, lab, rollout] = await startTogether([
    devServerEnv(),
    startTestLab('127.0.43', 2),
    tempRolloutStore(),
  ]);
});

afterAll(async () => {
  await env?.teardown();
  await lab?.stop();
  await rollout?.cleanup();
});

describe('worker restart mid-install', () => {
  it('re-attaches to the running install: the host is patched and the install ran once', async () => {
    const bundle = await bundleWorkflows();
    const store = rollout.store.campaignFiles;
    const logger = createLogger('error');
    const newWorker = () =>
      Worker.create({
        connection: env.nativeConnection,
        taskQueue: TASK_QUEUE,
        workflowBundle: bundle,
        activities: composeActivities({
          settings: embeddedSettings({ keyDir: lab.inventory.keyDir }),
          ledger: rollout.store,
          logger,
        }),
      });
    const raw = labCampaign(lab.inventory);
    raw.patch.reboots = false;
    raw.patch.installCommand = 'echo run >> "$PACS_ROOT/install-runs"; sleep 4; sh {artifact}';
    const fileSha256 = await store.put(CampaignFile.parse(raw));
    const host = lab.inventory.hosts[1]!;
    const input = {
      campaignId: 'campaign-restart',
      fileSha256,
      hostId: host.id,
      mode: 'patch',
      onFailure: 'automatic',
    } as const;

    const first = await newWorker();
    const firstRun = first.run();
    const handle = await env.client.workflow.start<typeof hostPatchWorkflow>('hostPatchWorkflow', {
      taskQueue: TASK_QUEUE,
      workflowId: hostWorkflowId(host.id),
      args: [input],
    });
    let state = '';
    for (let i = 0; i < 100 && state !== 'installing'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      state = (await handle.query(hostProgressQuery).catch(() => ({ state: '' }))).state;
    }
    expect(state).toBe('installing');
    await new Promise((r) => setTimeout(r, 500));
    first.shutdown();
    await firstRun;

    const second = await newWorker();
    const outcome = await second.runUntil(handle.result());
    expect(outcome.state).toBe('patched');
    expect(outcome.toVersion).toBe('1.1.0');
    const runs = readFileSync(`${lab.dir}/hosts/${host.id}/root/install-runs`, 'utf8');
    expect(runs).toBe('run\n');
    const history = await handle.fetchHistory();
    // The install activity really was retried by the second worker (attempt 2 or more), yet ran once.
    const events = history.events ?? [];
    const scheduled = events.find(
      (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'installPatch',
    );
    const started = events.find(
      (e) => String(e.activityTaskStartedEventAttributes?.scheduledEventId) === String(scheduled?.eventId),
    );
    expect(started?.activityTaskStartedEventAttributes?.attempt).toBeGreaterThanOrEqual(2);
    // The ledger followed the host through both workers and holds its final state and image.
    const [entry] = await rollout.store.ledger({ campaignId: 'campaign-restart', hostId: host.id });
    expect(entry).toMatchObject({ state: 'patched', fromVersion: '1.0.0', toVersion: '1.1.0' });
    expect(entry?.imageId).toBe(outcome.image?.imageId);
    expect(entry?.finishedAt).toBe(outcome.finishedAt);
  });
});
