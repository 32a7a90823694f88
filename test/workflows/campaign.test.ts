/**
 * Campaign and host workflows on the time-skipping test server: 48-hour soaks, 72-hour gates and
 * maintenance windows days away pass in seconds. Fakes stand in for SSH and images only; Temporal, the
 * campaign store and the campaign activities are real.
 */
import { settings } from '../../runtime/config.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WorkflowNotFoundError, WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createCampaignActivities } from '../../activities/campaign-activities.js';
import { createTrustActivities } from '../../activities/trust-activities.js';
import { decisionSigner, serviceSigner, type DecisionSigner } from '../../client/signing.js';
import { hostWorkflowId } from '../../domain/ids.js';
import type { hostPatchWorkflow } from '../../workflows/host-patch.js';
import { foldedReads, type HostActivities, type HostSteps } from '../../activities/host-activities.js';
import type { CampaignStore } from '../../adapters/campaign-store.js';
import { campaignInput } from '../../client/campaigns.js';
import {
  CampaignFile,
  TERMINAL_CAMPAIGN_STATES,
  type CampaignStatus,
  type DecisionAction,
  type UserRole,
  type HealthReport,
  type HostPatchInput,
} from '../../domain/schema.js';
import { windowState } from '../../domain/windows.js';
import type { campaignWorkflow } from '../../workflows/campaign.js';
import {
  abortUpdate,
  approveStageUpdate,
  campaignStatusQuery,
  hostActionUpdate,
  pauseUpdate,
  rejectStageUpdate,
  resumeUpdate,
  reviewSoakUpdate,
} from '../../workflows/contract.js';
import { ONCALL, OPERATOR2, SHA, STARTER, VENDOR, VENDOR2, validCampaign } from '../fixtures/campaign.js';
import { tempRolloutStore } from '../helpers/store.js';
import { bundleWorkflows, timeSkippingEnv } from '../helpers/temporal.js';

interface FakeFleet {
  /** Hosts whose install "breaks boot": waitForBoot fails for them until restored. */
  brokenBoot: Set<string>;
  /** Result of the test system's Nth soak probe (0-based); healthy when undefined. */
  soakProbe?: (n: number) => boolean | 'error';
  /** Hosts whose install changes a protected file. */
  tampered?: Set<string>;
  /** Hosts whose health checks fail this many times before they pass (until restored: healthy). */
  unhealthyChecks?: Map<string, number>;
  /** Hosts whose image restore fails. */
  restoreFails?: Set<string>;
  /** Hosts whose preflight finds a prerequisite unmet, with the reason. */
  unmet?: Map<string, string>;
  /** Hosts whose upload fails with this failure type (nothing on them changed). */
  uploadFails?: Map<string, string>;
  /** Hosts whose install outcome cannot be read (its process vanished without an exit code). */
  installUnknown?: Set<string>;
  /** Hosts that keep answering on their old boot after the reboot trigger. */
  neverReboot?: Set<string>;
  /** The source artifact passes this many checks, then no longer matches its checksum. */
  artifactGoodChecks?: number;
  calls: string[];
}

function fakeHostActivities(fleet: FakeFleet): HostActivities {
  const versions = new Map<string, string>();
  const restored = new Set<string>();
  let probes = 0;
  const log = (name: string, input: HostPatchInput) => fleet.calls.push(`${name}:${input.host.id}`);
  const report = (ok: boolean): HealthReport => ({
    ok,
    at: new Date().toISOString(),
    checks: [{ name: 'dicom-port', ok, durationMs: 1, detail: ok ? 'open' : 'refused' }],
  });
  const steps: HostSteps = {
    async verifySourceArtifact() {},
    async preflight(input) {
      log('preflight', input);
      const version = versions.get(input.host.id) ?? '1.0.0';
      const unmet = fleet.unmet?.get(input.host.id);
      return {
        version,
        alreadyPatched: version === input.patch.version,
        bootId: 'boot-1',
        servicePack: 3,
        ...(unmet ? { unmet } : {}),
      };
    },
    async profileProtectedPaths(input) {
      log('profile', input);
      return { files: 3, digest: SHA };
    },
    async compareProtectedPaths(input) {
      log('compare', input);
      const changes = fleet.tampered?.has(input.host.id)
        ? [{ change: 'modified' as const, path: '/store/study-1.dcm' }]
        : [];
      return { files: 3, digest: SHA, changes, moreChanges: 0 };
    },
    async snapshotImage(input) {
      log('snapshot', input);
      return { imageId: `${input.host.id}-img`, location: `/images/${input.host.id}`, sha256: SHA };
    },
    async uploadArtifact(input) {
      log('upload', input);
      const type = fleet.uploadFails?.get(input.host.id);
      if (type)
        throw ApplicationFailure.create({
          type,
          message: `${input.host.id}: the uploaded copy does not match the approved SHA-256; it was deleted`,
          nonRetryable: true,
        });
      return '.rollout/artifacts/x';
    },
    async installPatch(input) {
      log('install', input);
      if (fleet.installUnknown?.has(input.host.id))
        throw ApplicationFailure.create({
          type: 'InstallOutcomeUnknown',
          message: `${input.host.id}: the install's outcome cannot be read: process 42 is gone without an exit code`,
          nonRetryable: true,
        });
      versions.set(input.host.id, input.patch.version);
      return { exitCode: 0, outputTail: 'ok', reattached: false };
    },
    async triggerReboot(input) {
      log('reboot', input);
    },
    async waitForBoot(input) {
      if (fleet.neverReboot?.has(input.host.id) && !restored.has(input.host.id))
        throw ApplicationFailure.create({
          type: 'RebootPending',
          message: `${input.host.id} answers, still on the boot it had before the reboot`,
        });
      if (fleet.brokenBoot.has(input.host.id) && !restored.has(input.host.id))
        throw Object.assign(new Error('never booted'), { name: 'HostNotUp' });
      return 'boot-2';
    },
    async readVersion(input) {
      return versions.get(input.host.id) ?? '1.0.0';
    },
    async checkHealth(input) {
      log('health', input);
      if (input.host.role === 'test-system' && fleet.soakProbe && !restored.has(input.host.id)) {
        const result = fleet.soakProbe(probes++);
        if (result === 'error') throw new Error('the worker could not reach the test system');
        return report(result);
      }
      const left = fleet.unhealthyChecks?.get(input.host.id) ?? 0;
      if (left > 0 && !restored.has(input.host.id)) {
        fleet.unhealthyChecks!.set(input.host.id, left - 1);
        return report(false);
      }
      return report(true);
    },
    async restoreImage(input) {
      log('restore', input);
      if (fleet.restoreFails?.has(input.host.id))
        throw ApplicationFailure.create({
          type: 'ImageFailed',
          message: `controller hv-1: restore exited 1: image of ${input.host.id} unreadable`,
          nonRetryable: true,
        });
      restored.add(input.host.id);
      versions.set(input.host.id, '1.0.0');
    },
    async powerCycle(input) {
      log('powerCycle', input);
    },
    async deleteImage(input) {
      log('delete-image', input);
    },
  };
  return { ...steps, ...foldedReads(steps) };
}

let env: TestWorkflowEnvironment;
let bundle: WorkflowBundleWithSourceMap;
let store: CampaignStore;
let storeDir: string;
let rollout: Awaited<ReturnType<typeof tempRolloutStore>>;

beforeAll(async () => {
  storeDir = mkdtempSync(join(tmpdir(), 'rollout-store-'));
  rollout = await tempRolloutStore();
  store = rollout.store.campaignFiles;
  env = await timeSkippingEnv();
  bundle = await bundleWorkflows();
  signer = decisionSigner(await serviceSigner(rollout.store, join(storeDir, 'keys', 'service.pem')), 'cli');
});

afterAll(async () => {
  await env?.teardown();
  await rollout?.cleanup();
  rmSync(storeDir, { recursive: true, force: true });
});

async function withWorker<T>(fleet: FakeFleet, taskQueue: string, fn: () => Promise<T>): Promise<T> {
  const host = fakeHostActivities(fleet);
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: bundle,
    activities: {
      ...host,
      ...createTrustActivities({ store: rollout.store, campaigns: store, logger: pino({ level: 'silent' }) }),
      ...createCampaignActivities({
        store,
        logger: pino({ level: 'silent' }),
        checkHealth: host.checkHealth,
        ledger: rollout.store,
        artifacts: settings().artifacts,
      }),
      // The artifact file of the fixture does not exist; its check is tested against real files elsewhere.
      verifyArtifact: async () => {
        fleet.calls.push('verify-artifact');
        if (fleet.artifactGoodChecks === undefined) return;
        if (fleet.artifactGoodChecks-- > 0) return;
        throw ApplicationFailure.create({
          type: 'SourceArtifactInvalid',
          message: 'artifact /srv/patches/secfix.sh does not match the SHA-256 the campaign file gives',
          nonRetryable: true,
        });
      },
    },
  });
  return worker.runUntil(fn);
}

type Raw = ReturnType<typeof validCampaign>;

function campaignFile(hostCount: number, overrides: (raw: Raw) => void = () => {}): CampaignFile {
  const raw = validCampaign(hostCount);
  raw.patch.bootTimeout = '10m';
  raw.campaign.soak = { duration: '1h', probeInterval: '30m' };
  overrides(raw);
  return CampaignFile.parse(raw);
}

type Handle = WorkflowHandle<typeof campaignWorkflow>;

const started: Handle[] = [];

async function start(
  id: string,
  taskQueue: string,
  file: CampaignFile,
  startedBy = STARTER,
): Promise<Handle> {
  const handle = await env.client.workflow.start<typeof campaignWorkflow>('campaignWorkflow', {
    taskQueue,
    workflowId: id,
    args: [await campaignInput(store, file, id, startedBy, { signer, role: 'operator' })],
  });
  started.push(handle);
  return handle;
}

// A failed test must not leave a campaign (or its hosts) running: it would hold the shared clock.
afterEach(async () => {
  for (const handle of started.splice(0)) {
    await handle.terminate('test over').catch(() => undefined);
    for (const h of ['h0', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'h7', 'h8'])
      await env.client.workflow
        .getHandle(`patch-host/${h}`)
        .terminate('test over')
        .catch(() => undefined);
  }
});

async function waitFor(
  handle: Handle,
  done: (s: CampaignStatus) => boolean,
  step = '10 minutes',
): Promise<CampaignStatus> {
  for (let i = 0; i < 2_000; i++) {
    const status = await handle.query(campaignStatusQuery);
    if (done(status)) return status;
    if (TERMINAL_CAMPAIGN_STATES.includes(status.state))
      throw new Error(`campaign ended ${status.state} (${status.reason ?? ''}) while waiting`);
    await env.sleep(step);
  }
  throw new Error('the campaign never reached the expected state');
}

const inState = (state: CampaignStatus['state']) => (s: CampaignStatus) => s.state === state;

async function refusal(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
    return (err as WorkflowUpdateFailedError & { cause: { type: string } }).cause.type;
  }
  throw new Error('the update was accepted');
}

/** A test service key registered in the store the trust activities read: it signs every decision. */
let signer: DecisionSigner;

/** The request as the rollout CLI or API would send it: signed, in the given role. */
function signedAs<const T extends object>(
  role: UserRole,
  action: DecisionAction,
  handle: { workflowId: string },
  fields: T,
) {
  return {
    ...fields,
    signature: signer.sign(action, handle.workflowId, fields as Record<string, unknown>, role),
  };
}

function approve(
  handle: Handle,
  status: CampaignStatus,
  identity: string,
  patch: Partial<{ sha: string; digest: string; stage: string }> = {},
) {
  // Before the run is admitted the status has no gates yet.
  const gate = status.gates.find((g) => g.state === 'open') ?? status.gates[0];
  return handle.executeUpdate(approveStageUpdate, {
    args: [
      signedAs('vendor', 'approve', handle, {
        stage: patch.stage ?? gate?.stage ?? 'production',
        identity,
        artifactSha256: patch.sha ?? status.patch.sha256,
        hostSetDigest: patch.digest ?? gate?.hostSetDigest ?? '0'.repeat(64),
        comment: 'evidence reviewed',
      }),
    ],
  });
}

async function approveOpenGate(handle: Handle, identity = VENDOR): Promise<void> {
  const status = await waitFor(handle, inState('awaiting-approval'));
  await approve(handle, status, identity);
}

/** [host, start ms, end ms] of each child run, read from the campaign's own (single-run) history. */
async function childIntervals(handle: Handle): Promise<Array<{ host: string; start: number; end: number }>> {
  const history = await handle.fetchHistory();
  const ms = (t: { seconds?: unknown; nanos?: number | null } | null | undefined) =>
    Number(t?.seconds ?? 0) * 1000 + Math.floor((t?.nanos ?? 0) / 1e6);
  const started = new Map<number, { host: string; start: number }>();
  const intervals: Array<{ host: string; start: number; end: number }> = [];
  for (const e of history.events ?? []) {
    const init = e.startChildWorkflowExecutionInitiatedEventAttributes;
    if (init)
      started.set(Number(e.eventId), {
        host: init.workflowId!.replace('patch-host/', ''),
        start: ms(e.eventTime),
      });
    const done = e.childWorkflowExecutionCompletedEventAttributes;
    if (done) {
      const s = started.get(Number(done.initiatedEventId));
      if (s) intervals.push({ ...s, end: ms(e.eventTime) });
    }
  }
  return intervals;
}

describe('soak', () => {
  it('probes every 15 minutes for 48 hours, passes, and shows the timeline as approval evidence', async () => {
    const fleet: FakeFleet = { brokenBoot: new Set(), calls: [] };
    const file = campaignFile(3, (raw) => {
      raw.campaign.soak = { duration: '48h', probeInterval: '15m' };
    });
    await withWorker(fleet, 'tq-soak-pass', async () => {
      const handle = await start('soak-pass', 'tq-soak-pass', file);
      const gate = await waitFor(handle, inState('awaiting-approval'), '2 hours');
      // 48 h / 15 min = 192 intervals: a probe at the start and after each interval.
      expect(gate.soak.probes).toHaveLength(193);
      expect(gate.soak.verdict).toBe('pass');
      expect(Date.parse(gate.soak.endsAt!) - Date.parse(gate.soak.startedAt!)).toBe(48 * 3_600_000);
      // Probes keep to the schedule; each is stamped when it returns (its own run time adds milliseconds).
      const offsets = gate.soak.probes.map((p) => Date.parse(p.at) - Date.parse(gate.soak.startedAt!));
      offsets.forEach((offset, k) => expect(Math.abs(offset - k * 15 * 60_000)).toBeLessThan(1_000));
      const record = await approve(handle, gate, VENDOR);
      expect(record).toMatchObject({
        soakVerdict: 'pass',
        probesSeen: 193,
        failedProbesSeen: 0,
        roles: ['vendor'],
      });
      expect((await handle.result()).state).toBe('completed');
    });
  });

  it('fails after three failed probes in a row, rolls the test system back, and touches no other host', async () => {
    const fleet: FakeFleet = { brokenBoot: new Set(), calls: [], soakProbe: (n) => n < 10 };
    const file = campaignFile(4, (raw) => {
      raw.campaign.soak = { duration: '48h', probeInterval: '1h' };
    });
    const status = await withWorker(fleet, 'tq-soak-fail', async () => {
      const handle = await start('soak-fail', 'tq-soak-fail', file);
      return handle.result();
    });
    expect(status.state).toBe('soak-failed');
    expect(status.soak.verdict).toBe('fail');
    expect(status.soak.probes.map((p) => p.result).slice(-4)).toEqual(['ok', 'failed', 'failed', 'failed']);
    // It ended early (12 probes: the install's own health check was the fake's first), not after 48 hours.
    expect(status.soak.probes).toHaveLength(12);
    expect(fleet.calls).toContain('restore:h0');
    expect(status.hosts.h0).toBe('rolled-back');
    expect(fleet.calls.some((c) => /:h[1-3]$/.test(c))).toBe(false);
  });

  it('is inconclusive after an isolated failed probe: a vendor reviews it (not the starter), then rejects the gate', async () => {
    const fleet: FakeFleet = { brokenBoot: new Set(), calls: [], soakProbe: (n) => n !== 2 };
    const file = campaignFile(3, (raw) => {
      raw.campaign.soak = { duration: '4h', probeInterval: '1h' };
      raw.campaign.people![0]!.roles = ['operator', 'vendor']; // the starter could review, but four eyes
    });
    await withWorker(fleet, 'tq-soak-review', async () => {
      const handle = await start('soak-review', 'tq-soak-review', file);
      const review = await waitFor(handle, inState('soak-review'));
      expect(review.soak.verdict).toBe('inconclusive');
      expect(review.soak.reason).toMatch(/1 failed probe/);
      const ask = (identity: string, decision: 'accept' | 'fail' = 'accept') =>
        handle.executeUpdate(reviewSoakUpdate, {
          args: [
            signedAs('vendor', 'review-soak', handle, {
              identity,
              decision,
              reason: 'blip during backup window',
            }),
          ],
        });
      expect(await refusal(ask(STARTER))).toBe('FourEyes');
      expect(await refusal(ask(ONCALL))).toBe('NotAnApprover');
      expect(
        await refusal(
          handle.executeUpdate(reviewSoakUpdate, {
            args: [
              signedAs('vendor', 'review-soak', handle, { identity: VENDOR, decision: 'accept', reason: '' }),
            ],
          }),
        ),
      ).toBe('InvalidInput');
      await ask(VENDOR);
      const gate = await waitFor(handle, inState('awaiting-approval'));
      const reject = (identity: string, reason: string) =>
        handle.executeUpdate(rejectStageUpdate, {
          args: [signedAs('vendor', 'reject', handle, { stage: 'production', identity, reason })],
        });
      expect(await refusal(reject(VENDOR2, ''))).toBe('InvalidInput');
      expect(await refusal(reject(ONCALL, 'no'))).toBe('NotAnApprover');
      const record = await reject(VENDOR2, 'probe failure not explained');
      expect(record).toMatchObject({
        decision: 'rejected',
        soakVerdict: 'inconclusive',
        failedProbesSeen: 1,
      });
      const final = await handle.result();
      expect(final.state).toBe('rejected');
      expect(final.reason).toMatch(/rejected by second-engineer@vendor.example: probe failure not explained/);
      expect(final.decisions.map((d) => d.action)).toEqual(['soak-accept']);
      expect(gate.gates[0]!.state).toBe('open');
    });
    expect(fleet.calls.some((c) => /:h[12]$/.test(c))).toBe(false);
  });

  it('a soak review can also fail the campaign, which rolls the test system back', async () => {
    const fleet: FakeFleet = { brokenBoot: new Set(), calls: [], soakProbe: (n) => n !== 1 };
    const file = campaignFile(3, (raw) => {
      raw.campaign.soak = { duration: '3h', probeInterval: '1h' };
    });
    const status = await withWorker(fleet, 'tq-soak-review-fail', async () => {
      const handle = await start('soak-review-fail', 'tq-soak-review-fail', file);
      await waitFor(handle, inState('soak-review'));
      await handle.executeUpdate(reviewSoakUpdate, {
        args: [
          signedAs('vendor', 'review-soak', handle, {
            identity: VENDOR,
            decision: 'fail',
            reason: 'not comfortable',
          }),
        ],
      });
      return handle.result();
    });
    expect(status.state).toBe('soak-failed');
    expect(fleet.calls).toContain('restore:h0');
  });
});

describe('approval gates', () => {
  it('refuses wrong phase, wrong role, unknown stage, stale checksum and host set, the starter, and double votes; needs two approvals', async () => {
    const fleet: FakeFleet = { brokenBoot: new Set(['h3']), calls: [] };
    const file = campaignFile(6, (raw) => {
      raw.campaign.approvals[0]!.required = 2;
      raw.campaign.approvals[0]!.identities = [STARTER];
    });
    await withWorker(fleet, 'tq-gate', async () => {
      const handle = await start('gate-rules', 'tq-gate', file);
      // Past admission (an Update that arrives before the handlers exist is refused by the SDK with no
      // type of ours); on a loaded machine the admitting activity can still be running here.
      let early = await handle.query(campaignStatusQuery);
      while (early.state === 'admitting') {
        await new Promise((r) => setTimeout(r, 50));
        early = await handle.query(campaignStatusQuery);
      }
      expect(await refusal(approve(handle, early, VENDOR))).toBe('InvalidPhase');
      const status = await waitFor(handle, inState('awaiting-approval'));
      expect(await refusal(approve(handle, status, ONCALL))).toBe('NotAnApprover');
      expect(await refusal(approve(handle, status, 'intruder@example.com'))).toBe('NotAnApprover');
      expect(await refusal(approve(handle, status, VENDOR, { stage: 'pilot' }))).toBe('UnknownStage');
      expect(await refusal(approve(handle, status, VENDOR, { sha: 'f'.repeat(64) }))).toBe('StaleApproval');
      expect(await refusal(approve(handle, status, VENDOR, { digest: 'e'.repeat(64) }))).toBe('StaleHostSet');
      // Named in the gate, but started the campaign: four eyes.
      expect(await refusal(approve(handle, status, STARTER))).toBe('FourEyes');
      await approve(handle, status, VENDOR);
      expect(await refusal(approve(handle, status, VENDOR))).toBe('AlreadyDecided');
      expect((await handle.query(campaignStatusQuery)).state).toBe('awaiting-approval');
      await approve(handle, status, VENDOR2);
      const final = await handle.result();
      expect(final.state).toBe('completed');
      expect(final.gates[0]!.decisions.map((d) => d.identity)).toEqual([VENDOR, VENDOR2]);
      expect(final.gates[0]!.hostCount).toBe(5);
      expect(final.counts).toMatchObject({ patched: 5, 'rolled-back': 1 });
      expect(final.failed).toEqual([expect.objectContaining({ hostId: 'h3', state: 'rolled-back' })]);
      expect(final.runs).toBe(2);
    });
    // The canary finished before any host of the next wave started.
    const canaryDone = fleet.calls.lastIndexOf('health:h1');
    const restStart = Math.min(...['h2', 'h3', 'h4', 'h5'].map((h) => fleet.calls.indexOf(`preflight:${h}`)));
    expect(canaryDone).toBeLessThan(restStart);
  });

  it('sends reminders on schedule and expires after its deadline', async () => {
    const fleet: FakeFleet = { brokenBoot: new Set(), calls: [] };
    const file = campaignFile(3);
    const status = await withWorker(fleet, 'tq-expiry', async () => {
      const handle = await start('gate-expiry', 'tq-expiry', file);
      const open = await waitFor(handle, inState('awaiting-approval'));
      const expired = await handle.result();
      // An approval after expiry goes nowhere: the campaign is over.
      const late = approve(handle, open, VENDOR);
      await expect(late).rejects.toThrow(WorkflowNotFoundError);
      await expect(late).rejects.toMatchObject({ workflowId: 'gate-expiry' });
      return expired;
    });
    expect(status.state).toBe('approval-expired');
    const gate = status.gates[0]!;
    expect(gate.state).toBe('expired');
    const opened = Date.parse(gate.openedAt!);
    const sent = status.notifications.filter((n) => n.stage === 'production');
    expect(sent.map((n) => n.kind)).toEqual([
      'approval-requested',
      'approval-reminder',
      'approval-reminder',
      'gate-expired',
    ]);
    [0, 24, 48].forEach((hours, i) =>
      expect(Math.abs(Date.parse(sent[i]!.at) - opened - hours * 3_600_000)).toBeLessThan(1_000),
    );
    expect(sent[1]!.to).toEqual([VENDOR, VENDOR2]);
    expect(Math.abs(Date.parse(status.notifications.at(-1)!.at) - opened - 72 * 3_600_000)).toBeLessThan(
      1_000,
    );
    expect(fleet.calls.some((c) => /:h[12]$/.test(c))).toBe(false);
  });

  it('opens a second gate after the canary wave, bound to the remaining hosts', async () => {
    const fleet: FakeFleet = { brokenBoot: new Set(), calls: [] };
    const file = campaignFile(5, (raw) => {
      raw.campaign.approvals.push({ stage: 'after-canary', beforeWave: 'rest', roles: ['operator'] });
    });
    await withWorker(fleet, 'tq-two-gates', async () => {
      const handle = await start('two-gates', 'tq-two-gates', file);
      await approveOpenGate(handle, VENDOR);
      const second = await waitFor(
        handle,
        (s) => s.state === 'awaiting-approval' && s.gates[1]!.state === 'open',
      );
      expect(second.hosts.h1).toBe('patched');
      expect(second.gates[1]!.hostCount).toBe(3);
      expect(fleet.calls.some((c) => /:h[234]$/.test(c))).toBe(false);
      expect(await refusal(approve(handle, second, STARTER))).toBe('FourEyes');
      await approve(handle, second, OPERATOR2);
      expect((await handle.result()).state).toBe('completed');
    });
  });
});

describe('waves and operator controls', () => {
  const slowReboots = (raw: Raw) => {
    raw.patch.rebootGrace = '30m';
    raw.campaign.waves = [{ name: 'all', size: '100%' }];
    raw.campaign.concurrency = 2;
  };

  it('pause stops new hosts (in-flight ones finish); resume goes on', async () => {
    const fleet: FakeFleet = { brokenBoot: new Set(), calls: [] };
    const file = campaignFile(7, slowReboots);
    await withWorker(fleet, 'tq-pause', async () => {
      const handle = await start('pause-resume', 'tq-pause', file);
      await approveOpenGate(handle);
      await waitFor(
        handle,
        (s) => Object.values(s.hosts).filter((h) => h === 'preflight').length === 2,
        '1 minute',
      );
      expect(
        await refusal(
          handle.executeUpdate(pauseUpdate, {
            args: [signedAs('operator', 'pause', handle, { identity: VENDOR })],
          }),
        ),
      ).toBe('NotAnOperator');
      await handle.executeUpdate(pauseUpdate, {
        args: [signedAs('operator', 'pause', handle, { identity: OPERATOR2, reason: 'CT backlog' })],
      });
      const paused = await waitFor(
        handle,
        (s) => s.state === 'paused' && !Object.values(s.hosts).includes('preflight'),
      );
      const startedBefore = fleet.calls.filter((c) => c.startsWith('preflight:')).length;
      await env.sleep('6 hours');
      expect(fleet.calls.filter((c) => c.startsWith('preflight:')).length).toBe(startedBefore);
      expect(paused.counts.patched).toBe(3); // test system + the two in flight when paused
      expect(
        await refusal(
          handle.executeUpdate(pauseUpdate, {
            args: [signedAs('operator', 'pause', handle, { identity: STARTER })],
          }),
        ),
      ).toBe('InvalidPhase');
      await handle.executeUpdate(resumeUpdate, {
        args: [signedAs('operator', 'resume', handle, { identity: STARTER })],
      });
      const final = await handle.result();
      expect(final.state).toBe('completed');
      expect(final.decisions.map((d) => `${d.action}:${d.identity}`)).toEqual([
        `pause:${OPERATOR2}`,
        `resume:${STARTER}`,
      ]);
      expect(final.counts.patched).toBe(7);
    });
  });

  it('abort mid-wave: no new hosts, the failing in-flight host still rolls back', async () => {
    const fleet: FakeFleet = { brokenBoot: new Set(['h1', 'h2']), calls: [] };
    const file = campaignFile(7, (raw) => {
      slowReboots(raw);
      raw.campaign.failureBudget = { maxFailures: 5 };
    });
    const status = await withWorker(fleet, 'tq-abort', async () => {
      const handle = await start('abort', 'tq-abort', file);
      await approveOpenGate(handle);
      await waitFor(handle, (s) => s.hosts.h1 === 'preflight' && s.hosts.h2 === 'preflight', '1 minute');
      await handle.executeUpdate(abortUpdate, {
        args: [signedAs('operator', 'abort', handle, { identity: STARTER, reason: 'vendor recall' })],
      });
      expect(
        await refusal(
          handle.executeUpdate(resumeUpdate, {
            args: [signedAs('operator', 'resume', handle, { identity: STARTER })],
          }),
        ),
      ).toBe('InvalidPhase');
      return handle.result();
    });
    expect(status.state).toBe('aborted');
    expect(status.reason).toBe(`aborted by ${STARTER}: vendor recall`);
    expect(fleet.calls).toEqual(expect.arrayContaining(['restore:h1', 'restore:h2']));
    expect(status.hosts).toMatchObject({
      h1: 'rolled-back',
      h2: 'rolled-back',
      h3: 'pending',
      h6: 'pending',
    });
    expect(fleet.calls.some((c) => /:h[3-6]$/.test(c))).toBe(false);
  });

  it('pauses in needs-decision when the failure budget is spent; resume counts afresh', async () => {
    const fleet: FakeFleet = { brokenBoot: new Set(['h1', 'h2', 'h4']), calls: [] };
    const file = campaignFile(7, (raw) => {
      raw.campaign.waves = [{ name: 'all', size: '100%' }];
      raw.campaign.concurrency = 1;
      raw.campaign.failureBudget = { maxFailures: 1 };
    });
    await withWorker(fleet, 'tq-budget', async () => {
      const handle = await start('budget', 'tq-budget', file);
      await approveOpenGate(handle);
      // h1 fails (within budget), h2 fails: 2 > 1, the campaign stops before h3.
      const decision = await waitFor(handle, inState('needs-decision'));
      expect(decision.budget).toEqual({ allowed: 1, failed: 2, baseline: 0 });
      expect(decision.hosts.h3).toBe('pending');
      expect(decision.notifications.at(-1)).toMatchObject({
        kind: 'needs-decision',
        to: [STARTER, OPERATOR2],
      });
      await env.sleep('12 hours');
      expect(fleet.calls.some((c) => c.endsWith(':h3'))).toBe(false);
      await handle.executeUpdate(resumeUpdate, {
        args: [
          signedAs('operator', 'resume', handle, { identity: STARTER, reason: 'NAS failures understood' }),
        ],
      });
      const final = await handle.result();
      // h4 failed after the resume: 1 failure since the decision is within budget.
      expect(final.state).toBe('completed');
      expect(final.budget).toEqual({ allowed: 1, failed: 3, baseline: 2 });
      expect(final.counts).toMatchObject({ patched: 4, 'rolled-back': 3 });
    });
  });

  it('never has more members of a redundancy group in flight than its budget', async () => {
    const fleet: FakeFleet = { brokenBoot: new Set(), calls: [] };
    const file = campaignFile(9, (raw) => {
      slowReboots(raw);
      raw.campaign.concurrency = 6;
      raw.fleet.hosts.forEach((h, i) => {
        if (i > 0) h.redundancyGroup = i % 2 ? 'archive-pair' : 'db-cluster';
      });
      raw.campaign.redundancy = {
        groups: [
          { name: 'archive-pair', minAvailable: 3 },
          { name: 'db-cluster', maxUnavailable: 2 },
        ],
      };
    });
    let handle!: Handle;
    await withWorker(fleet, 'tq-groups', async () => {
      handle = await start('groups', 'tq-groups', file);
      await approveOpenGate(handle);
      expect((await handle.result()).state).toBe('completed');
    });
    const intervals = (await childIntervals(handle)).filter((i) => i.host !== 'h0');
    expect(intervals).toHaveLength(8);
    const groupOf = (host: string) => (Number(host.slice(1)) % 2 ? 'archive-pair' : 'db-cluster');
    const peak = (group: string) => {
      const mine = intervals.filter((i) => groupOf(i.host) === group);
      return Math.max(...mine.map((a) => mine.filter((b) => b.start <= a.start && a.start < b.end).length));
    };
    expect(peak('archive-pair')).toBe(1); // 4 members, 3 must stay available
    expect(peak('db-cluster')).toBe(2);
  });

  it('starts hosts only inside their maintenance window, waiting across days', async () => {
    const fleet: FakeFleet = { brokenBoot: new Set(), calls: [] };
    const file = campaignFile(5, (raw) => {
      raw.campaign.waves = [{ name: 'all', size: '100%' }];
      raw.campaign.concurrency = 1;
      raw.patch.rebootGrace = '50m';
      raw.campaign.maintenanceWindows = [
        { name: 'sat-night', days: ['sat'], start: '02:00', end: '04:00', timeZone: 'Europe/Berlin' },
      ];
      raw.campaign.defaultMaintenanceWindow = 'sat-night';
    });
    let handle!: Handle;
    let approvedAt = 0;
    await withWorker(fleet, 'tq-window', async () => {
      handle = await start('window', 'tq-window', file);
      await approveOpenGate(handle);
      approvedAt = await env.currentTimeMs();
      expect((await handle.result()).state).toBe('completed');
    });
    const intervals = (await childIntervals(handle)).filter((i) => i.host !== 'h0');
    expect(intervals).toHaveLength(4);
    const w = file.campaign.maintenanceWindows[0]!;
    for (const i of intervals) expect(windowState(w, i.start).open).toBe(true);
    // Four hosts of about 50 minutes each do not fit one 2-hour window: the rest waited a week.
    const first = Math.min(...intervals.map((i) => i.start));
    const last = Math.max(...intervals.map((i) => i.start));
    expect(last - first).toBeGreaterThan(6 * 86_400_000);
    expect(first).toBeGreaterThanOrEqual(approvedAt - 60_000);
  });
});

describe('guided failure (on-call)', () => {
  it('holds failed hosts in needs-attention under a manual policy; retry, rollback, mark-fixed and skip each validated and recorded', async () => {
    const fleet: FakeFleet = { brokenBoot: new Set(['h1', 'h2', 'h3', 'h4']), calls: [] };
    const file = campaignFile(6, (raw) => {
      raw.campaign.waves = [{ name: 'all', size: '100%' }];
      raw.campaign.failureBudget = { maxFailures: 10 };
      raw.campaign.rollback = { onHostFailure: 'manual' };
    });
    await withWorker(fleet, 'tq-oncall', async () => {
      const handle = await start('oncall', 'tq-oncall', file);
      await approveOpenGate(handle);
      const waiting = await waitFor(handle, inState('needs-attention'));
      expect(waiting.failed.map((f) => [f.hostId, f.state]).sort()).toEqual([
        ['h1', 'needs-attention'],
        ['h2', 'needs-attention'],
        ['h3', 'needs-attention'],
        ['h4', 'needs-attention'],
      ]);
      expect(fleet.calls.some((c) => c.startsWith('restore:'))).toBe(false);
      expect(waiting.notifications.filter((n) => n.kind === 'needs-attention').map((n) => n.to)).toEqual(
        Array(4).fill([ONCALL]),
      );
      const act = (
        hostId: string,
        action: 'retry' | 'rollback' | 'mark-fixed' | 'skip',
        identity = ONCALL,
        note = '',
      ) =>
        handle.executeUpdate(hostActionUpdate, {
          args: [signedAs('on-call', 'host-action', handle, { hostId, action, identity, note })],
        });
      expect(await refusal(act('h1', 'retry', VENDOR))).toBe('NotOnCall');
      expect(await refusal(act('h5', 'skip'))).toBe('UnknownHost');
      expect(await refusal(act('h3', 'mark-fixed'))).toBe('InvalidInput');

      // On-call repaired the boot loader by hand; the retry finds the patch in place and the host healthy.
      fleet.brokenBoot.delete('h1');
      await act('h1', 'retry', ONCALL, 'boot loader repaired');
      await act('h2', 'rollback');
      await act('h3', 'mark-fixed', ONCALL, 'restored from vendor media');
      await act('h4', 'skip', STARTER, 'decommissioned next week');
      const final = await handle.result();
      expect(final.state).toBe('completed');
      expect(final.failed.map((f) => [f.hostId, f.state]).sort()).toEqual([
        ['h1', 'already-patched'],
        ['h2', 'rolled-back'],
        ['h3', 'marked-fixed'],
        ['h4', 'skipped'],
      ]);
      expect(final.decisions.map((d) => [d.action, d.hostId, d.identity])).toEqual([
        ['retry', 'h1', ONCALL],
        ['rollback', 'h2', ONCALL],
        ['mark-fixed', 'h3', ONCALL],
        ['skip', 'h4', STARTER],
      ]);
      expect(final.counts).toMatchObject({
        patched: 2,
        'already-patched': 1,
        'rolled-back': 1,
        'marked-fixed': 1,
        skipped: 1,
      });
    });
    expect(fleet.calls.filter((c) => c.startsWith('restore:'))).toEqual(['restore:h2']);
  });

  it('refuses a second campaign on a busy host: that host waits for on-call, the first campaign is untouched', async () => {
    const fleet: FakeFleet = { brokenBoot: new Set(), calls: [] };
    const first = campaignFile(3, (raw) => {
      raw.campaign.name = 'first';
      raw.patch.rebootGrace = '2h';
    });
    // The second campaign uses the first one's test system, h0, as its own test system.
    const second = campaignFile(3, (raw) => {
      raw.campaign.name = 'second';
    });
    await withWorker(fleet, 'tq-busy', async () => {
      const a = await start('busy-a', 'tq-busy', first);
      await waitFor(a, (s) => s.hosts.h0 === 'preflight', '1 minute');
      const b = await start('busy-b', 'tq-busy', second);
      const ended = await b.result();
      expect(ended.state).toBe('test-failed');
      expect(ended.failed[0]).toMatchObject({
        hostId: 'h0',
        state: 'needs-attention',
        failure: { type: 'HostBusy' },
      });
      await approveOpenGate(a);
      const done = await a.result();
      expect(done.state).toBe('completed');
      expect(done.hosts.h0).toBe('patched');
    });
    expect(fleet.calls.filter((c) => c === 'install:h0')).toHaveLength(1);
  });
});

describe('preflight prerequisites and protected paths in the rollout', () => {
  it('ends a host that misses a prerequisite as prerequisite-failed (no budget spent) and rolls back a host that changed a protected file', async () => {
    const fleet: FakeFleet = {
      brokenBoot: new Set(),
      calls: [],
      tampered: new Set(['h2']),
      unmet: new Map([['h3', 'service pack 1 is below the required 2']]),
    };
    const file = campaignFile(4, (raw) => {
      raw.patch.integrity = { protectedPaths: ['/var/lib/pacs/studies'] };
      raw.campaign.failureBudget = { maxFailures: 1 };
    });
    await withWorker(fleet, 'tq-host-steps', async () => {
      const handle = await start('host-steps', 'tq-host-steps', file);
      await approveOpenGate(handle);
      const done = await handle.result();
      expect(done.state).toBe('completed');
      expect(done.hosts).toMatchObject({
        h0: 'patched',
        h2: 'rolled-back',
        h3: 'prerequisite-failed',
      });
      expect(done.counts).toMatchObject({ patched: 2, 'rolled-back': 1, 'prerequisite-failed': 1 });
      expect(done.budget.failed).toBe(1);
      expect(done.failed.find((f) => f.hostId === 'h2')?.failure).toMatchObject({
        step: 'integrity-after',
        type: 'IntegrityViolation',
        message: '1 protected file(s) changed: modified /store/study-1.dcm',
      });
      expect(done.failed.find((f) => f.hostId === 'h3')?.failure).toMatchObject({
        type: 'PrerequisiteFailed',
        message: 'service pack 1 is below the required 2',
      });
    });
    // The profile is taken before the image and the install; nothing is done to the host that missed a prerequisite.
    const h1 = fleet.calls.filter((c) => c.endsWith(':h1')).map((c) => c.split(':')[0]);
    expect(h1.slice(0, 5)).toEqual(['preflight', 'profile', 'snapshot', 'upload', 'install']);
    expect(h1).toContain('compare');
    expect(fleet.calls.filter((c) => c.endsWith(':h3'))).toEqual(['preflight:h3']);
    expect(fleet.calls).toContain('restore:h2');
  });
});

describe('health after boot', () => {
  it('checks again while services come up; rolls back only a host that stays unhealthy', async () => {
    const fleet: FakeFleet = {
      brokenBoot: new Set(),
      calls: [],
      unhealthyChecks: new Map([
        ['h1', 2],
        ['h2', 99],
      ]),
    };
    const file = campaignFile(3, (raw) => {
      raw.patch.healthRetry = { attempts: 3, interval: '30s' };
      raw.campaign.failureBudget = { maxFailures: 1 };
    });
    await withWorker(fleet, 'tq-health-retry', async () => {
      const handle = await start('health-retry', 'tq-health-retry', file);
      await approveOpenGate(handle);
      // Short steps: the retries wait on durable 30 s timers inside the host workflows.
      for (let i = 0; i < 60 && (await handle.query(campaignStatusQuery)).state !== 'completed'; i++)
        await env.sleep('30 seconds');
      const done = await handle.result();
      expect(done.state).toBe('completed');
      expect(done.counts).toMatchObject({ patched: 2, 'rolled-back': 1 });
      expect(done.failed.find((f) => f.hostId === 'h2')?.failure).toMatchObject({
        step: 'health',
        type: 'HealthCheckFailed',
      });
      const h1 = await env.client.workflow.getHandle<typeof hostPatchWorkflow>(hostWorkflowId('h1')).result();
      expect(h1.state).toBe('patched');
      // Three checks 30 s apart: two failed, the third passed.
      const health = h1.timings.find((t) => t.step === 'health')!;
      expect(health.durationMs).toBeGreaterThanOrEqual(60_000);
      expect(health.durationMs).toBeLessThan(62_000);
    });
    const checks = (h: string) => fleet.calls.filter((c) => c === `health:${h}`).length;
    expect(checks('h1')).toBe(3);
    // h2: three failing checks, then one after its rollback.
    expect(checks('h2')).toBe(4);
  });
});

describe('no false rollbacks, no needless outages', () => {
  it('does not restore or reboot a host whose upload failed: its image is deleted, it is listed unchanged', async () => {
    const fleet: FakeFleet = {
      brokenBoot: new Set(),
      calls: [],
      uploadFails: new Map([['h2', 'ConnectionLost']]),
    };
    const file = campaignFile(4, (raw) => {
      raw.campaign.failureBudget = { maxFailures: 2 };
    });
    await withWorker(fleet, 'tq-unchanged', async () => {
      const handle = await start('unchanged', 'tq-unchanged', file);
      await approveOpenGate(handle);
      const status = await waitFor(handle, (s) => s.state === 'needs-attention');
      const h2 = status.failed.find((f) => f.hostId === 'h2');
      expect(h2).toMatchObject({ state: 'needs-attention', unchanged: true, failure: { step: 'upload' } });
      expect(fleet.calls).toContain('delete-image:h2');
      expect(fleet.calls.filter((c) => /^(install|reboot|restore|powerCycle):h2$/.test(c))).toEqual([]);
      expect(status.counts.patched).toBe(3);
    });
  });

  it('sends a host whose install outcome cannot be read, or that never rebooted, to on-call: no restore', async () => {
    const fleet: FakeFleet = {
      brokenBoot: new Set(),
      calls: [],
      installUnknown: new Set(['h1']),
      neverReboot: new Set(['h3']),
    };
    const file = campaignFile(5, (raw) => {
      raw.campaign.failureBudget = { maxFailures: 3 };
      raw.patch.bootTimeout = '5m';
    });
    await withWorker(fleet, 'tq-unsure', async () => {
      const handle = await start('unsure', 'tq-unsure', file);
      await approveOpenGate(handle);
      const status = await waitFor(
        handle,
        (s) =>
          s.state === 'needs-attention' && s.failed.filter((f) => f.state === 'needs-attention').length === 2,
        '1 minute',
      );
      const byHost = Object.fromEntries(status.failed.map((f) => [f.hostId, f]));
      expect(byHost.h1).toMatchObject({
        state: 'needs-attention',
        failure: { step: 'install', type: 'InstallOutcomeUnknown' },
        image: { imageId: 'h1-img' },
      });
      expect(byHost.h3).toMatchObject({
        state: 'needs-attention',
        failure: { step: 'reboot', type: 'RebootNotObserved' },
      });
      expect(byHost.h3?.failure?.message).toMatch(
        /did not reboot; last attempt: h3 answers, still on the boot/,
      );
      expect(fleet.calls.filter((c) => /^(restore|powerCycle):h[13]$/.test(c))).toEqual([]);
      // On-call can still roll the host back with one action, from the image that was kept.
      await handle.executeUpdate(hostActionUpdate, {
        args: [
          signedAs('on-call', 'host-action', handle, {
            hostId: 'h1',
            action: 'rollback',
            identity: ONCALL,
            note: 'install log says it died',
          }),
        ],
      });
      await waitFor(
        handle,
        (s) => s.failed.find((f) => f.hostId === 'h1')?.state === 'rolled-back',
        '1 minute',
      );
      expect(fleet.calls).toContain('restore:h1');
    });
  });
});

describe('the artifact is re-checked before every gate and wave', () => {
  it('stops before the gate opens when the artifact changed after the soak: no host but the test system touched', async () => {
    const fleet: FakeFleet = { brokenBoot: new Set(), calls: [], artifactGoodChecks: 1 };
    const file = campaignFile(4);
    const status = await withWorker(fleet, 'tq-artifact-gate', async () => {
      const handle = await start('artifact-gate', 'tq-artifact-gate', file);
      return handle.result();
    });
    expect(status.state).toBe('artifact-changed');
    expect(status.reason).toMatch(/changed after it was tested and approved/);
    expect(status.gates[0]?.state).toBe('waiting');
    expect(fleet.calls.some((c) => /:h[1-3]$/.test(c))).toBe(false);
  });

  it('refuses an approval bound to the old checksum once the artifact changed, and stops', async () => {
    const fleet: FakeFleet = { brokenBoot: new Set(), calls: [], artifactGoodChecks: 2 };
    const file = campaignFile(4);
    await withWorker(fleet, 'tq-artifact-approve', async () => {
      const handle = await start('artifact-approve', 'tq-artifact-approve', file);
      const gate = await waitFor(handle, inState('awaiting-approval'));
      expect(await refusal(approve(handle, gate, VENDOR))).toBe('ArtifactChanged');
      const final = await handle.result();
      expect(final.state).toBe('artifact-changed');
      expect(final.gates[0]?.decisions).toEqual([]);
    });
    expect(fleet.calls.some((c) => /:h[1-3]$/.test(c))).toBe(false);
  });

  it('stops mid-wave when a host reports a checksum mismatch and the source no longer matches', async () => {
    const fleet: FakeFleet = {
      brokenBoot: new Set(),
      calls: [],
      // start, gate opening, approval, wave 1, wave 2: then the source changed (a host saw it first).
      artifactGoodChecks: 5,
      uploadFails: new Map([['h2', 'ArtifactChecksumMismatch']]),
    };
    const file = campaignFile(6, (raw) => {
      raw.campaign.concurrency = 1;
      raw.campaign.failureBudget = { maxFailures: 3 };
    });
    const status = await withWorker(fleet, 'tq-artifact-wave', async () => {
      const handle = await start('artifact-wave', 'tq-artifact-wave', file);
      await approveOpenGate(handle);
      return handle.result();
    });
    expect(status.state).toBe('artifact-changed');
    expect(status.failed.find((f) => f.hostId === 'h2')).toMatchObject({ unchanged: true });
    // h1 (canary) and h2 ran; nothing started after the mismatch.
    expect(fleet.calls.filter((c) => c.startsWith('preflight:')).sort()).toEqual([
      'preflight:h0',
      'preflight:h1',
      'preflight:h2',
    ]);
    expect(fleet.calls).not.toContain('restore:h2');
  });
});

describe('missed soak probes', () => {
  it('extends the soak to make up probes that could not run, bounded, and records it', async () => {
    const fleet: FakeFleet = {
      brokenBoot: new Set(),
      calls: [],
      soakProbe: (n) => (n === 2 || n === 3 ? 'error' : true),
    };
    const file = campaignFile(3, (raw) => {
      raw.campaign.soak = { duration: '4h', probeInterval: '1h', maxExtension: '2h' };
    });
    await withWorker(fleet, 'tq-soak-extend', async () => {
      const handle = await start('soak-extend', 'tq-soak-extend', file);
      const gate = await waitFor(handle, inState('awaiting-approval'), '30 minutes');
      expect(gate.soak.verdict).toBe('pass');
      expect(gate.soak.extendedByMs).toBe(2 * 3_600_000);
      expect(gate.soak.extension).toMatch(/extended by 7200 s in all to make up 2 probe\(s\)/);
      expect(gate.soak.probes.map((p) => p.result)).toEqual(['ok', 'error', 'error', 'ok', 'ok', 'ok', 'ok']);
      expect(Date.parse(gate.soak.endsAt!) - Date.parse(gate.soak.startedAt!)).toBe(6 * 3_600_000);
    });
  });

  it('leaves short coverage to a review under missedProbes: review', async () => {
    const fleet: FakeFleet = {
      brokenBoot: new Set(),
      calls: [],
      soakProbe: (n) => (n === 2 || n === 3 ? 'error' : true),
    };
    const file = campaignFile(3, (raw) => {
      raw.campaign.soak = { duration: '4h', probeInterval: '1h', missedProbes: 'review' };
    });
    await withWorker(fleet, 'tq-soak-noextend', async () => {
      const handle = await start('soak-noextend', 'tq-soak-noextend', file);
      const review = await waitFor(handle, inState('soak-review'), '30 minutes');
      expect(review.soak.verdict).toBe('inconclusive');
      expect(review.soak.extendedByMs).toBeUndefined();
      expect(review.soak.reason).toMatch(/only 3 of 5 scheduled probes ran/);
    });
  });
});

describe('a failed restore', () => {
  it('is recorded and leaves the host in needs-attention for on-call, never swallowed', async () => {
    const fleet: FakeFleet = {
      brokenBoot: new Set(),
      unhealthyChecks: new Map([['h1', 99]]),
      restoreFails: new Set(['h1']),
      calls: [],
    };
    const file = campaignFile(3, (raw) => {
      raw.campaign.failureBudget = { maxFailures: 2 };
      raw.patch.healthRetry = { attempts: 1, interval: '1s' };
    });
    await withWorker(fleet, 'tq-restore-fails', async () => {
      const handle = await start('restore-fails', 'tq-restore-fails', file);
      await approveOpenGate(handle);
      const attention = await waitFor(handle, inState('needs-attention'), '1 minute');
      const h1 = attention.failed.find((f) => f.hostId === 'h1');
      expect(h1).toMatchObject({
        state: 'needs-attention',
        failure: { step: 'health', type: 'HealthCheckFailed' },
        rollbackFailure: {
          step: 'restore-image',
          type: 'ImageFailed',
          message: 'controller hv-1: restore exited 1: image of h1 unreadable',
        },
      });
      expect(attention.notifications.some((n) => n.kind === 'needs-attention' && n.hostId === 'h1')).toBe(
        true,
      );
      // No power cycle after a failed restore: the host is left as it is for a person.
      expect(fleet.calls).not.toContain('powerCycle:h1');
      await handle.executeUpdate(hostActionUpdate, {
        args: [
          signedAs('on-call', 'host-action', handle, {
            identity: ONCALL,
            hostId: 'h1',
            action: 'mark-fixed',
            note: 'restored by hand from backup',
          }),
        ],
      });
      expect((await handle.result()).state).toBe('completed');
    });
  });
});
