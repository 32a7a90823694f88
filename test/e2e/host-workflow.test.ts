/**
 * The host workflow's preflight and integrity steps on real hosts: a host whose own release file says
 * its service pack is too old ends prerequisite-failed untouched; a patch that changes one byte of the
 * clinical image store fails the integrity comparison and the host is restored from its image. Real
 * dev server, real worker activities, real sshd lab and lab controller.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostWorkflowId } from '../../domain/ids.js';
import { CampaignFile } from '../../domain/schema.js';
import { labCampaign } from '../../lab/lab-campaign.js';
import { createLogger } from '../../workers/logger.js';
import { composeActivities } from '../../workers/worker.js';
import type { hostPatchWorkflow } from '../../workflows/host-patch.js';
import { startTestLab, type TestLab } from '../helpers/lab.js';
import { tempRolloutStore } from '../helpers/store.js';
import { bundleWorkflows, devServerEnv } from '../helpers/temporal.js';
import { embeddedSettings } from '../../runtime/config.js';
import { startTogether } from '../helpers/start-together.js';

const TASK_QUEUE = 'e2e-host-steps';
let env: TestWorkflowEnvironment;
let lab: TestLab;
let rollout: Awaited<ReturnType<typeof tempRolloutStore>>;

beforeAll(async () => {
  [env, lab] = await startTogether([devServerEnv(), startTestLab('127.0.45', 3)]);
  rollout = await tempRolloutStore();
});

afterAll(async () => {
  await env?.teardown();
  await lab?.stop();
  await rollout?.cleanup();
});

describe('host workflow: prerequisites measured on the host, protected paths compared', () => {
  it('leaves a host with an old service pack untouched and restores a host whose patch changed a study', async () => {
    const store = rollout.store.campaignFiles;
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue: TASK_QUEUE,
      workflowBundle: await bundleWorkflows(),
      activities: composeActivities({
        settings: embeddedSettings({ keyDir: lab.inventory.keyDir }),
        ledger: rollout.store,
        logger: createLogger('error'),
      }),
    });
    const [, tampering, outdated] = lab.inventory.hosts;
    const disk = (id: string) => `${lab.dir}/hosts/${id}/root`;
    // The inventory says SP3 (so the planner takes the host); the host itself says SP1.
    writeFileSync(`${disk(outdated!.id)}/etc/pacs-release`, 'NAME=pacs-linux\nSERVICE_PACK=1\n');
    const study = `${disk(tampering!.id)}/var/lib/pacs/studies/study-1.dcm`;
    const original = readFileSync(study);
    const raw = labCampaign(lab.inventory);
    raw.patch.reboots = false;
    raw.patch.installCommand = 'printf X >> "$PACS_ROOT/var/lib/pacs/studies/study-1.dcm"; sh {artifact}';
    const fileSha256 = await store.put(CampaignFile.parse(raw));
    const run = (hostId: string) =>
      env.client.workflow.start<typeof hostPatchWorkflow>('hostPatchWorkflow', {
        taskQueue: TASK_QUEUE,
        workflowId: hostWorkflowId(hostId),
        args: [
          { campaignId: 'campaign-host-steps', fileSha256, hostId, mode: 'patch', onFailure: 'automatic' },
        ],
      });

    const [tampered, skipped] = await worker.runUntil(async () => {
      const handles = await Promise.all([run(tampering!.id), run(outdated!.id)]);
      return Promise.all(handles.map((h) => h.result()));
    });

    expect(skipped!.state).toBe('prerequisite-failed');
    expect(skipped!.failure).toEqual({
      step: 'preflight',
      type: 'PrerequisiteFailed',
      message: 'service pack 1 is below the required 2',
    });
    expect(skipped!.preflight).toMatchObject({ servicePack: 1, os: 'pacs-linux', version: '1.0.0' });
    expect(skipped!.image).toBeUndefined();
    expect(readdirSync(`${lab.dir}/images`).some((f) => f.startsWith(outdated!.id))).toBe(false);
    expect(existsSync(`${disk(outdated!.id)}/home/pacsadm/.rollout/runs`)).toBe(false);

    expect(tampered!.state).toBe('rolled-back');
    expect(tampered!.failure).toMatchObject({
      step: 'integrity-after',
      type: 'IntegrityViolation',
      message: expect.stringContaining(
        `modified ${lab.inventory.mountPoint}/var/lib/pacs/studies/study-1.dcm`,
      ),
    });
    expect(tampered!.integrity).toMatchObject({
      files: 3,
      changes: [{ change: 'modified', path: `${lab.inventory.mountPoint}/var/lib/pacs/studies/study-1.dcm` }],
      moreChanges: 0,
    });
    // The profile is taken in the preflight step, and the comparison in the verify step (with the
    // version and the health checks): one activity each.
    expect(tampered!.timings.map((t) => t.step)).toEqual([
      'load',
      'preflight',
      'image',
      'upload',
      'install',
      'verify',
      'restore-image',
      'power-cycle',
      'wait-for-boot',
      'health-after-rollback',
    ]);
    expect(tampered!.health?.ok).toBe(true);
    const ledger = await rollout.store.ledger({ campaignId: 'campaign-host-steps' });
    expect(ledger.map((e) => [e.hostId, e.state])).toEqual(
      [
        [tampering!.id, 'rolled-back'],
        [outdated!.id, 'prerequisite-failed'],
      ].sort(),
    );
    expect(ledger.find((e) => e.hostId === tampering!.id)).toMatchObject({
      imageId: tampered!.image?.imageId,
      failure: expect.stringContaining('IntegrityViolation'),
    });
    // The restored disk holds the study as it was, byte for byte, and the old version.
    expect(readFileSync(study).equals(original)).toBe(true);
    expect(readFileSync(`${disk(tampering!.id)}/opt/pacs/VERSION`, 'utf8').trim()).toBe('1.0.0');
  });
});
