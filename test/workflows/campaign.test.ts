/**
 * Campaign and host workflows on the time-skipping test server with fake activities: the soak's 48 hours
 * pass in seconds. Fakes stand in for SSH and images only; Temporal is real.
 */
import { WorkflowUpdateFailedError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HostActivities } from '../../activities/host-activities.js';
import {
  CampaignFile,
  type CampaignStatus,
  type HealthReport,
  type HostPatchInput,
} from '../../domain/schema.js';
import type { campaignWorkflow } from '../../workflows/campaign.js';
import { approveStageUpdate, campaignStatusQuery } from '../../workflows/contract.js';
import { SHA, STARTER, VENDOR, validCampaign } from '../fixtures/campaign.js';
import { bundleWorkflows, timeSkippingEnv } from '../helpers/temporal.js';

interface FakeFleet {
  /** Hosts whose install "breaks boot": waitForBoot fails for them until restored. */
  brokenBoot: Set<string>;
  /** Hosts that fail health checks from the Nth soak probe on (test system only). */
  soakFailsAfter?: number;
  calls: string[];
}

function fakeActivities(fleet: FakeFleet): HostActivities {
  const versions = new Map<string, string>();
  const restored = new Set<string>();
  let probes = 0;
  const log = (name: string, input: HostPatchInput) => fleet.calls.push(`${name}:${input.host.id}`);
  const healthy = (ok: boolean): HealthReport => ({
    ok,
    at: new Date().toISOString(),
    checks: [{ name: 'dicom-port', ok, durationMs: 1, detail: ok ? 'open' : 'refused' }],
  });
  return {
    async verifySourceArtifact() {},
    async preflight(input) {
      log('preflight', input);
      const version = versions.get(input.host.id) ?? '1.0.0';
      return { version, alreadyPatched: version === input.patch.version, bootId: 'boot-1' };
    },
    async snapshotImage(input) {
      log('snapshot', input);
      return { imageId: `${input.host.id}-img`, location: `/images/${input.host.id}`, sha256: SHA };
    },
    async uploadArtifact(input) {
      log('upload', input);
      return '.rollout/artifacts/x';
    },
    async installPatch(input) {
      log('install', input);
      versions.set(input.host.id, input.patch.version);
      return { exitCode: 0, outputTail: 'ok', reattached: false };
    },
    async triggerReboot(input) {
      log('reboot', input);
    },
    async waitForBoot(input) {
      log('waitForBoot', input);
      if (fleet.brokenBoot.has(input.host.id) && !restored.has(input.host.id))
        throw Object.assign(new Error('never booted'), { name: 'HostNotUp' });
      return 'boot-2';
    },
    async readVersion(input) {
      return versions.get(input.host.id) ?? '1.0.0';
    },
    async checkHealth(input) {
      log('health', input);
      if (input.host.role === 'test-system' && fleet.soakFailsAfter !== undefined) {
        probes += 1;
        return healthy(probes <= fleet.soakFailsAfter);
      }
      return healthy(true);
    },
    async restoreImage(input) {
      log('restore', input);
      restored.add(input.host.id);
      versions.set(input.host.id, '1.0.0');
    },
    async powerCycle(input) {
      log('powerCycle', input);
    },
  };
}

let env: TestWorkflowEnvironment;
let bundle: WorkflowBundleWithSourceMap;

beforeAll(async () => {
  env = await timeSkippingEnv();
  bundle = await bundleWorkflows();
});

afterAll(async () => {
  await env?.teardown();
});

async function withWorker<T>(fleet: FakeFleet, taskQueue: string, fn: () => Promise<T>): Promise<T> {
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: bundle,
    activities: fakeActivities(fleet),
  });
  return worker.runUntil(fn);
}

function campaignFile(overrides: (raw: ReturnType<typeof validCampaign>) => void = () => {}) {
  const raw = validCampaign(6);
  raw.patch.bootTimeout = '10m';
  overrides(raw);
  return CampaignFile.parse(raw);
}

function startCampaignWorkflow(id: string, taskQueue: string, file: CampaignFile) {
  return env.client.workflow.start<typeof campaignWorkflow>('campaignWorkflow', {
    taskQueue,
    workflowId: id,
    args: [{ campaignId: id, startedBy: STARTER, file }],
  });
}

async function waitForState(id: string, state: CampaignStatus['state']): Promise<CampaignStatus> {
  const handle = env.client.workflow.getHandle(id);
  for (let i = 0; i < 400; i++) {
    const status = await handle.query(campaignStatusQuery);
    if (status.state === state) return status;
    if (['completed', 'soak-failed', 'test-failed'].includes(status.state))
      throw new Error(`campaign ended ${status.state} while waiting for ${state}`);
    await env.sleep('30 minutes');
  }
  throw new Error(`campaign never reached ${state}`);
}

async function refusal(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
    return (err as WorkflowUpdateFailedError & { cause: { type: string } }).cause.type;
  }
  throw new Error('the update was accepted');
}

describe('campaign workflow (time-skipping)', () => {
  it('soaks 48 hours with a probe every 15 minutes, refuses bad approvals, then rolls out and rolls back the broken host', async () => {
    const fleet: FakeFleet = { brokenBoot: new Set(['h3']), calls: [] };
    const file = campaignFile();
    const id = 'campaign-time-skip-1';
    const status = await withWorker(fleet, 'tq-soak-pass', async () => {
      const handle = await startCampaignWorkflow(id, 'tq-soak-pass', file);
      const approve = (identity: string, sha = SHA, stage = 'production') =>
        handle.executeUpdate(approveStageUpdate, { args: [{ stage, identity, artifactSha256: sha }] });

      expect(await refusal(approve(VENDOR))).toBe('InvalidPhase');
      const gate = await waitForState(id, 'awaiting-approval');
      // 48 h / 15 min = 192 intervals: a probe at the start and after each interval.
      expect(gate.soak.probes).toHaveLength(193);
      expect(gate.soak.verdict).toBe('pass');
      expect(Date.parse(gate.soak.endsAt!) - Date.parse(gate.soak.startedAt!)).toBe(48 * 3_600_000);
      expect(gate.hosts.h1).toBe('pending');

      expect(await refusal(approve('intruder@example.com'))).toBe('NotAnApprover');
      expect(await refusal(approve(VENDOR, 'f'.repeat(64)))).toBe('StaleApproval');
      expect(await refusal(approve(VENDOR, SHA, 'pilot'))).toBe('UnknownStage');
      const record = await approve(VENDOR);
      expect(record).toMatchObject({
        identity: VENDOR,
        role: 'vendor',
        soakVerdict: 'pass',
        probesSeen: 193,
      });
      return handle.result();
    });

    expect(status.state).toBe('completed');
    expect(status.hosts).toEqual({
      h0: 'patched',
      h1: 'patched',
      h2: 'patched',
      h3: 'rolled-back',
      h4: 'patched',
      h5: 'patched',
    });
    const h3 = status.outcomes.find((o) => o.hostId === 'h3')!;
    expect(h3.failure?.step).toBe('reboot');
    expect(h3.image?.imageId).toBe('h3-img');
    expect(fleet.calls.filter((c) => c.endsWith(':h3'))).toEqual(
      expect.arrayContaining(['snapshot:h3', 'install:h3', 'restore:h3', 'powerCycle:h3']),
    );
    // The canary finished before any host of the next wave started.
    const canaryDone = fleet.calls.lastIndexOf('health:h1');
    const restStart = Math.min(...['h2', 'h3', 'h4', 'h5'].map((h) => fleet.calls.indexOf(`preflight:${h}`)));
    expect(canaryDone).toBeLessThan(restStart);
    expect(status.approvals).toHaveLength(1);
  });

  it('refuses approval by the person who started the campaign (four eyes)', async () => {
    const fleet: FakeFleet = { brokenBoot: new Set(), calls: [] };
    const file = campaignFile((raw) => {
      raw.campaign.approval.approvers.push({ identity: STARTER, role: 'operator' });
      raw.campaign.soak = { duration: '1h', probeInterval: '30m' };
    });
    const id = 'campaign-four-eyes';
    await withWorker(fleet, 'tq-four-eyes', async () => {
      const handle = await startCampaignWorkflow(id, 'tq-four-eyes', file);
      await waitForState(id, 'awaiting-approval');
      const type = await refusal(
        handle.executeUpdate(approveStageUpdate, {
          args: [{ stage: 'production', identity: STARTER, artifactSha256: SHA }],
        }),
      );
      expect(type).toBe('FourEyes');
      await handle.terminate('test done');
    });
  });

  it('ends soak-failed when a probe fails during the soak, and touches no other host', async () => {
    const fleet: FakeFleet = { brokenBoot: new Set(), soakFailsAfter: 100, calls: [] };
    const file = campaignFile();
    const id = 'campaign-soak-fail';
    const status = await withWorker(fleet, 'tq-soak-fail', async () => {
      const handle = await startCampaignWorkflow(id, 'tq-soak-fail', file);
      return handle.result();
    });
    expect(status.state).toBe('soak-failed');
    expect(status.soak.verdict).toBe('fail');
    expect(status.soak.probes.filter((p) => !p.ok).length).toBeGreaterThan(0);
    expect(fleet.calls.some((c) => /:h[1-5]$/.test(c))).toBe(false);
  });
});
