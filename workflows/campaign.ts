import {
  ActivityFailure,
  ApplicationFailure,
  ChildWorkflowFailure,
  currentUpdateInfo,
  metricMeter,
  patched,
  allHandlersFinished,
  condition,
  continueAsNew,
  executeChild,
  ParentClosePolicy,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { CampaignActivities } from '../activities/campaign-activities.js';
import type { TrustActivities } from '../activities/trust-activities.js';
import { gateAudience, rolesOf } from '../domain/access.js';
import { hostWorkflowId } from '../domain/ids.js';
import { budgetSpent, nextHost } from '../domain/scheduling.js';
import { failsEarly, scheduledProbes, soakExtensionMs, soakVerdict } from '../domain/soak.js';
import {
  type ApprovalRecord,
  type CampaignInput,
  type CampaignState,
  type CampaignStatus,
  type Decision,
  type DecisionAction,
  type GateStatus,
  type HostOutcome,
  type HostRun,
  type ImageRecord,
  type OperatorControl,
  type Notification,
  type PlanSummary,
  type SoakProbe,
  type WaveHost,
} from '../domain/schema.js';
import { HEARTBEATING, QUICK } from './activity-options.js';
import {
  abortUpdate,
  approveStageUpdate,
  campaignStatusQuery,
  hostActionUpdate,
  pauseUpdate,
  rejectStageUpdate,
  resumeUpdate,
  reviewSoakUpdate,
} from './contract.js';
import { hostPatchWorkflow } from './host-patch.js';
import {
  validateApproval,
  validateControl,
  validateHostAction,
  validateRejection,
  validateSigned,
  validateSoakReview,
} from './validators.js';

const quick = proxyActivities<CampaignActivities>(QUICK);
const heartbeating = proxyActivities<CampaignActivities>(HEARTBEATING);
const trust = proxyActivities<TrustActivities>(QUICK);

/** Host failures that say the artifact itself may have changed: the campaign checks its source at once. */
const ARTIFACT_SUSPECT: readonly string[] = ['ArtifactChecksumMismatch', 'SourceArtifactInvalid'];

/** The failure type inside an activity failure (workflows branch on types, never on classes). */
function failureType(err: unknown): string | undefined {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  return cause instanceof ApplicationFailure ? (cause.type ?? undefined) : undefined;
}

/** What a failure says, in words: the activity's own message, not Temporal's wrapper. */
function failureText(err: unknown): string {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  return cause instanceof Error ? cause.message : String(err);
}

const CONTROLS = { pause: pauseUpdate, resume: resumeUpdate, abort: abortUpdate } as const;

/** What a failed child workflow says, in words (not Temporal's "Child Workflow execution failed"). */
function childFailureText(err: unknown): string {
  if (err instanceof ChildWorkflowFailure && err.cause instanceof Error)
    return `the host's workflow failed: ${err.cause.message}`;
  return err instanceof Error ? `the host's workflow failed: ${err.message}` : String(err);
}

/** Notifications and decisions kept in the status (older ones stay in history and the ledger). */
const KEPT_RECORDS = 200;

/** What the status query answers while the worker admits the run (before the plan is known). */
function admittingStatus(input: CampaignInput): CampaignStatus {
  return {
    campaignId: input.campaignId,
    name: '',
    state: 'admitting',
    startedBy: input.startedBy,
    fileSha256: input.fileSha256,
    patch: { id: '', version: '', sha256: '0'.repeat(64) },
    testHosts: [],
    testImages: {},
    soak: { durationMs: 0, probeIntervalMs: 0, probes: [] },
    gates: [],
    waves: [],
    currentWave: -1,
    hosts: {},
    counts: {},
    failed: [],
    budget: { allowed: 0, failed: 0, baseline: 0 },
    paused: false,
    aborting: false,
    decisions: [],
    notifications: [],
    runs: 1,
  };
}

function initialStatus(input: CampaignInput, plan: PlanSummary): CampaignStatus {
  return {
    campaignId: input.campaignId,
    name: plan.name,
    state: 'test-install',
    startedBy: input.startedBy,
    startedAt: new Date().toISOString(),
    fileSha256: input.fileSha256,
    patch: plan.patch,
    testHosts: plan.testHosts,
    testImages: {},
    soak: { durationMs: plan.soak.durationMs, probeIntervalMs: plan.soak.probeIntervalMs, probes: [] },
    gates: plan.gates.map((g) => ({
      stage: g.stage,
      beforeWave: g.beforeWave,
      state: 'waiting',
      required: g.required,
      hostCount: g.hostCount,
      hostSetDigest: g.hostSetDigest,
      decisions: [],
    })),
    waves: plan.waves,
    currentWave: -1,
    hosts: Object.fromEntries(plan.testHosts.map((h) => [h, 'pending' as const])),
    counts: {},
    failed: [],
    budget: { allowed: plan.failuresAllowed, failed: 0, baseline: 0 },
    paused: false,
    aborting: false,
    decisions: [],
    notifications: [],
    runs: 1,
  };
}

/** Host outcomes that put a host on the campaign's failed list (shown to on-call and in reports). */
const LISTED_AS_FAILED: readonly string[] = ['rolled-back', 'needs-attention', 'prerequisite-failed'];

/**
 * One patch campaign. Install on the test system(s) → soak with periodic probes and a verdict (pass,
 * fail, inconclusive → a person reviews) → per-stage approval gates (Updates with validators, reminders,
 * expiry) → waves, each host a child workflow, started only when a lane is free, its redundancy group has
 * room and its maintenance window is open. Failed hosts count against the failure budget; when it is
 * spent the campaign waits in needs-decision. Hosts that need a person wait for on-call actions.
 * Operators pause, resume and abort. The workflow holds IDs and counters (the file lives in the campaign
 * store) and continues-as-new between waves and whenever Temporal suggests it, after draining its hosts.
 */
export async function campaignWorkflow(input: CampaignInput): Promise<CampaignStatus> {
  let status: CampaignStatus = admittingStatus(input);
  setHandler(campaignStatusQuery, () => status);
  // Runs recorded before the worker admitted each run follow the plan in their input.
  const admitted = patched('admit-runs');
  const signedDecisions = patched('signed-decisions');
  let plan: PlanSummary;
  if (admitted) {
    try {
      const info = workflowInfo();
      plan = await trust.admitRun({
        campaignId: input.campaignId,
        fileSha256: input.fileSha256,
        startedBy: input.startedBy,
        ...(input.signature ? { signature: input.signature } : {}),
        ...(input.plan ? { plan: input.plan } : {}),
        firstRunId: info.firstExecutionRunId,
        ...(info.continuedFromExecutionRunId ? { continuedFromRunId: info.continuedFromExecutionRunId } : {}),
        carried: input.carry !== undefined,
      });
    } catch (err) {
      // Nothing was touched: the start was not one the worker could verify.
      status = {
        ...status,
        state: 'refused',
        reason: failureText(err),
        finishedAt: new Date().toISOString(),
      };
      return status;
    }
  } else if (input.plan) plan = input.plan;
  else throw ApplicationFailure.create({ type: 'StartRefused', message: 'no plan', nonRetryable: true });
  status = input.carry
    ? { ...input.carry.status, runs: input.carry.status.runs + 1 }
    : initialStatus(input, plan);
  const doneInWave = new Set(input.carry?.doneInWave ?? []);
  const inFlight = new Map<string, WaveHost>();
  const attention = new Set(status.failed.filter((f) => f.state === 'needs-attention').map((f) => f.hostId));
  let waveHosts = new Map<string, WaveHost>();
  let soakReviewed = false;
  let changes = 0;
  /** Set when the patch artifact was found changed: nothing more starts, the campaign ends. */
  let artifactChanged = false;
  /** A host reported a checksum mismatch: check the source artifact before the next host starts. */
  let artifactSuspect = false;
  /** Counts operator resumes, so a wait can tell a fresh one. */
  let resumes = 0;
  // Campaigns started before the artifact was re-checked along the way replay without those checks.
  const reverify = patched('artifact-reverify');
  // Prometheus gauges (through the worker's runtime): hosts by state and the campaign's phase.
  const hostsGauge = metricMeter.createGauge(
    'rollout_campaign_hosts',
    'int',
    'hosts',
    'hosts of a campaign by state',
  );
  const phaseGauge = metricMeter.createGauge(
    'rollout_campaign_phase',
    'int',
    '',
    '1 for the phase a campaign is in',
  );
  let lastPhase = '';
  const changed = () => {
    changes += 1;
    for (const [state, count] of Object.entries(status.counts))
      hostsGauge.set(count, { campaign_id: input.campaignId, state });
    if (lastPhase !== status.state) {
      if (lastPhase) phaseGauge.set(0, { campaign_id: input.campaignId, phase: lastPhase });
      phaseGauge.set(1, { campaign_id: input.campaignId, phase: status.state });
      lastPhase = status.state;
    }
  };
  const now = () => new Date().toISOString();

  // ---- records ----
  const decide = (identity: string, action: string, note: string, hostId?: string): Decision => {
    const d: Decision = { at: now(), identity, action, note, ...(hostId ? { hostId } : {}) };
    status.decisions = [...status.decisions, d].slice(-KEPT_RECORDS);
    changed();
    return d;
  };
  /** Notifications still being delivered: a new run or the end must not orphan them. */
  const delivering = new Set<Promise<void>>();
  const notify = (n: Omit<Notification, 'at'>): Promise<void> => {
    const record: Notification = { at: now(), ...n };
    status.notifications = [...status.notifications, record].slice(-KEPT_RECORDS);
    const delivery = quick.notify(input.campaignId, record).then(
      () => undefined,
      () => undefined, // A lost notification must not stop the campaign; the record stays in the status.
    );
    delivering.add(delivery);
    void delivery.then(() => delivering.delete(delivery));
    return delivery;
  };
  // Runs recorded before this continued-as-new (or ended) with a notification still in flight.
  const drainNotifications = async () => {
    if (delivering.size > 0 && patched('drain-notifications')) await Promise.all([...delivering]);
  };
  const operators = () => [
    ...new Set([
      input.startedBy,
      ...plan.people.filter((p) => p.roles.includes('operator')).map((p) => p.identity),
    ]),
  ];
  const onCall = () => plan.people.filter((p) => p.roles.includes('on-call')).map((p) => p.identity);

  // ---- queries and updates ----

  /**
   * Verifies a decision's signature through the worker before the workflow acts on it. A refusal fails
   * the update (nothing changed) and counts towards the cap on forged decisions.
   */
  const verifyDecision = async (
    action: DecisionAction,
    args: { signature?: unknown } & Record<string, unknown>,
  ): Promise<void> => {
    if (!signedDecisions) return;
    const { signature, ...fields } = args;
    try {
      await trust.verifyDecision({
        campaignId: input.campaignId,
        useId: `${workflowInfo().runId}/${currentUpdateInfo()?.id ?? ''}`,
        action,
        fields,
        ...(signature ? { signature: signature as NonNullable<CampaignInput['signature']> } : {}),
      });
    } catch (err) {
      const type = failureType(err) ?? 'VerificationFailed';
      if (type !== 'VerificationFailed') {
        status.forgedDecisions = (status.forgedDecisions ?? 0) + 1;
        changed();
      }
      throw ApplicationFailure.create({ type, message: failureText(err), nonRetryable: true });
    }
  };
  const signedOnly = (args: { signature?: unknown }) => {
    if (signedDecisions) validateSigned(status, args);
  };

  /** Records a decision on the open gate with what the person saw (validators checked it matches). */
  const decideGate = (
    decision: ApprovalRecord['decision'],
    identity: string,
    comment: string,
  ): ApprovalRecord => {
    const gate = status.gates.find((g) => g.state === 'open');
    if (!gate) throw new Error(`validator let a gate decision (${decision}) through without an open gate`);
    const record: ApprovalRecord = {
      stage: gate.stage,
      decision,
      identity,
      roles: rolesOf(plan.people, identity),
      at: now(),
      comment,
      artifactSha256: status.patch.sha256,
      hostSetDigest: gate.hostSetDigest,
      hostCount: gate.hostCount,
      soakVerdict: status.soak.verdict ?? 'none',
      probesSeen: status.soak.probes.length,
      failedProbesSeen: status.soak.probes.filter((p) => p.result !== 'ok').length,
    };
    gate.decisions.push(record);
    if (decision === 'rejected') {
      gate.state = 'rejected';
      status.reason = `stage ${gate.stage} rejected by ${identity}: ${comment}`;
    } else if (gate.decisions.filter((r) => r.decision === 'approved').length >= gate.required)
      gate.state = 'approved';
    changed();
    return record;
  };

  setHandler(
    approveStageUpdate,
    async (d) => {
      await verifyDecision('approve', d);
      // An approval is bound to the checksum the approver saw: if the artifact no longer has it, the
      // approval is refused and the campaign stops before touching another host.
      if (reverify) {
        if ((await checkArtifact()) === 'changed')
          throw ApplicationFailure.create({
            type: 'ArtifactChanged',
            message: `the patch artifact no longer matches ${status.patch.sha256}: approval refused, campaign stopped`,
            nonRetryable: true,
          });
        // Another decision may have closed the gate while the artifact was checked.
        const open = status.gates.find((g) => g.state === 'open');
        if (!open || open.stage !== d.stage)
          throw ApplicationFailure.create({
            type: 'InvalidPhase',
            message: `stage ${d.stage} was decided meanwhile`,
            nonRetryable: true,
          });
        if (open.decisions.some((r) => r.identity === d.identity))
          throw ApplicationFailure.create({
            type: 'AlreadyDecided',
            message: `${d.identity} has already approved stage ${d.stage}`,
            nonRetryable: true,
          });
      }
      // The campaign may have moved on while the decision was verified.
      if (signedDecisions) validateApproval(status, plan, d);
      return decideGate('approved', d.identity, d.comment ?? '');
    },
    {
      validator: (d) => {
        signedOnly(d);
        validateApproval(status, plan, d);
      },
    },
  );

  setHandler(
    rejectStageUpdate,
    async (r) => {
      await verifyDecision('reject', r);
      if (signedDecisions) validateRejection(status, plan, r);
      return decideGate('rejected', r.identity, r.reason);
    },
    {
      validator: (r) => {
        signedOnly(r);
        validateRejection(status, plan, r);
      },
    },
  );

  setHandler(
    reviewSoakUpdate,
    async (r) => {
      await verifyDecision('review-soak', r);
      if (signedDecisions) validateSoakReview(status, plan, r);
      soakReviewed = true;
      status.soak.reason = `${status.soak.reason ?? ''}; reviewed by ${r.identity}: ${r.decision} (${r.reason})`;
      if (r.decision === 'fail') status.soak.verdict = 'fail';
      return decide(r.identity, `soak-${r.decision}`, r.reason);
    },
    {
      validator: (r) => {
        signedOnly(r);
        validateSoakReview(status, plan, r);
      },
    },
  );

  /** An operator control: verified, then checked again against the campaign as it is now. */
  const control = (action: 'pause' | 'resume' | 'abort', apply: (c: OperatorControl) => Decision) =>
    setHandler(
      CONTROLS[action],
      async (c) => {
        await verifyDecision(action, c);
        if (signedDecisions) validateControl(status, plan, action, c);
        return apply(c);
      },
      {
        validator: (c) => {
          signedOnly(c);
          validateControl(status, plan, action, c);
        },
      },
    );

  control('pause', (c) => {
    status.paused = true;
    return decide(c.identity, 'pause', c.reason ?? '');
  });

  control('resume', (c) => {
    status.paused = false;
    resumes += 1;
    // Failures so far are acknowledged: the budget counts again from here.
    status.budget.baseline = status.budget.failed;
    return decide(c.identity, 'resume', c.reason ?? '');
  });

  control('abort', (c) => {
    status.aborting = true;
    status.reason = `aborted by ${c.identity}${c.reason ? `: ${c.reason}` : ''}`;
    return decide(c.identity, 'abort', c.reason ?? '');
  });

  setHandler(
    hostActionUpdate,
    async (a) => {
      await verifyDecision('host-action', a);
      if (signedDecisions) validateHostAction(status, plan, new Set(inFlight.keys()), a);
      const failed = status.failed.find((f) => f.hostId === a.hostId);
      const note = a.note ?? '';
      if (a.action === 'retry') launch(a.hostId, 'patch', failed?.group);
      else if (a.action === 'rollback' && failed?.image)
        launch(a.hostId, 'rollback', failed.group, failed.image);
      else settle(a.hostId, a.action === 'skip' ? 'skipped' : 'marked-fixed');
      return decide(a.identity, a.action, note, a.hostId);
    },
    {
      validator: (a) => {
        signedOnly(a);
        validateHostAction(status, plan, new Set(inFlight.keys()), a);
      },
    },
  );

  // ---- host runs ----
  const count = (state: string, delta: number) => {
    status.counts[state] = (status.counts[state] ?? 0) + delta;
  };

  /** Ends an attention host by a person's word (skip, mark-fixed): it leaves the attention list. */
  function settle(hostId: string, state: 'skipped' | 'marked-fixed') {
    const failed = status.failed.find((f) => f.hostId === hostId);
    if (failed) {
      count(failed.state, -1);
      failed.state = state;
    }
    count(state, 1);
    attention.delete(hostId);
    status.hosts[hostId] = state;
    changed();
  }

  function record(outcome: HostOutcome, group: string | undefined, isTest: boolean) {
    inFlight.delete(outcome.hostId);
    const previous = status.failed.find((f) => f.hostId === outcome.hostId);
    if (previous) count(previous.state, -1);
    count(outcome.state, 1);
    status.hosts[outcome.hostId] = outcome.state;
    if (isTest && outcome.image) status.testImages[outcome.hostId] = outcome.image;
    if (LISTED_AS_FAILED.includes(outcome.state)) {
      const entry = {
        hostId: outcome.hostId,
        state: outcome.state,
        ...(outcome.unchanged ? { unchanged: true } : {}),
        ...(outcome.failure ? { failure: outcome.failure } : {}),
        ...(outcome.rollbackFailure ? { rollbackFailure: outcome.rollbackFailure } : {}),
        ...((outcome.image ?? previous?.image) ? { image: outcome.image ?? previous?.image } : {}),
        ...(group ? { group } : {}),
      };
      if (previous) Object.assign(previous, entry);
      else {
        status.failed.push(entry);
        // A host that misses a prerequisite was not touched: it is listed, but spends no failure budget.
        if (!isTest && outcome.mode === 'patch' && outcome.state !== 'prerequisite-failed')
          status.budget.failed += 1;
      }
    } else if (previous) Object.assign(previous, { state: outcome.state });
    if (outcome.state === 'needs-attention') {
      attention.add(outcome.hostId);
      void notify({
        kind: 'needs-attention',
        hostId: outcome.hostId,
        to: onCall().length ? onCall() : operators(),
        text: `${outcome.hostId} needs attention: ${outcome.rollbackFailure?.message ?? outcome.failure?.message ?? 'unknown'}`,
      });
    } else attention.delete(outcome.hostId);
    if (outcome.state === 'rolled-back' && outcome.mode === 'patch' && patched('notify-rollback-and-expiry'))
      void notify({
        kind: 'host-rolled-back',
        hostId: outcome.hostId,
        to: onCall().length ? onCall() : operators(),
        text: `${outcome.hostId} was rolled back to its saved image: ${outcome.failure?.message ?? 'unknown failure'}`,
      });
    if (waveHosts.has(outcome.hostId)) doneInWave.add(outcome.hostId);
    if (reverify && ARTIFACT_SUSPECT.includes(outcome.failure?.type ?? '')) artifactSuspect = true;
    changed();
  }

  /** Starts a host's child workflow without waiting; its outcome is recorded when it ends. */
  function launch(
    hostId: string,
    mode: HostRun['mode'],
    group?: string,
    image?: ImageRecord,
    isTest = false,
  ) {
    inFlight.set(hostId, { id: hostId, ...(group ? { group } : {}) });
    attention.delete(hostId);
    status.hosts[hostId] = mode === 'patch' ? 'preflight' : 'rolling-back';
    changed();
    const run: HostRun = {
      campaignId: input.campaignId,
      fileSha256: input.fileSha256,
      hostId,
      mode,
      onFailure: plan.rollback.onHostFailure,
      ...(image ? { image } : {}),
    };
    const started = now();
    void executeChild(hostPatchWorkflow, {
      workflowId: hostWorkflowId(hostId),
      args: [run],
      // A host's run must never be killed half-way because its campaign ended or continued-as-new.
      parentClosePolicy: ParentClosePolicy.ABANDON,
    }).then(
      (outcome) => record(outcome, group, isTest),
      (err: unknown) => {
        const busy = err instanceof WorkflowExecutionAlreadyStartedError;
        record(
          {
            campaignId: input.campaignId,
            hostId,
            mode,
            state: 'needs-attention',
            failure: {
              step: 'start',
              type: busy ? 'HostBusy' : 'HostWorkflowFailed',
              message: busy
                ? `${hostId} is already being patched by another campaign`
                : childFailureText(err),
            },
            timings: [],
            startedAt: started,
            finishedAt: now(),
          },
          group,
          isTest,
        );
      },
    );
  }

  const unavailableByGroup = (): Record<string, number> => {
    const counts: Record<string, number> = {};
    for (const h of inFlight.values()) if (h.group) counts[h.group] = (counts[h.group] ?? 0) + 1;
    for (const f of status.failed)
      if (f.group && attention.has(f.hostId) && !inFlight.has(f.hostId))
        counts[f.group] = (counts[f.group] ?? 0) + 1;
    return counts;
  };

  /** Waits until something changes (a host ends, a person acts) or `timeoutMs` passes. */
  const nextChange = async (timeoutMs?: number) => {
    const seen = changes;
    await condition(() => changes !== seen, timeoutMs === undefined ? undefined : Math.max(1, timeoutMs));
  };

  const finish = async (state: CampaignState, reason?: string): Promise<CampaignStatus> => {
    while (inFlight.size > 0) await nextChange();
    status.state = state;
    status.finishedAt = now();
    if (reason && !status.reason) status.reason = reason;
    delete status.waitingFor;
    await notify({
      kind: 'finished',
      to: operators(),
      text: `campaign ${state}${status.reason ? `: ${status.reason}` : ''}`,
    });
    await drainNotifications();
    await condition(allHandlersFinished);
    return status;
  };

  const carryOn = async (phase: 'soak' | 'rollout'): Promise<never> => {
    await drainNotifications();
    await condition(allHandlersFinished);
    return continueAsNew<typeof campaignWorkflow>({
      campaignId: input.campaignId,
      startedBy: input.startedBy,
      fileSha256: input.fileSha256,
      plan,
      carry: { status, doneInWave: [...doneInWave], phase },
    });
  };

  // ---- 1. test systems ----
  if (!input.carry) {
    try {
      await quick.verifyArtifact(input.fileSha256);
    } catch (err) {
      const reason = `the patch artifact failed its check: ${(err as Error).message}`;
      return finish(
        failureType(err) === 'SourceArtifactInvalid' ? 'artifact-changed' : 'test-failed',
        reason,
      );
    }
    for (const hostId of plan.testHosts) launch(hostId, 'patch', undefined, undefined, true);
    while (inFlight.size > 0) await nextChange();
    const bad = plan.testHosts.filter((h) => !['patched', 'already-patched'].includes(status.hosts[h] ?? ''));
    if (bad.length) return finish('test-failed', `test system(s) not patched: ${bad.join(', ')}`);
    if (status.aborting) return finish('aborted');
  }

  // ---- 2. soak ----
  if (!input.carry || input.carry.phase === 'soak') {
    status.state = 'soaking';
    const start = status.soak.startedAt ? Date.parse(status.soak.startedAt) : Date.now();
    let end = start + plan.soak.durationMs + (status.soak.extendedByMs ?? 0);
    status.soak.startedAt = new Date(start).toISOString();
    status.soak.endsAt = new Date(end).toISOString();
    const scheduled = scheduledProbes(plan.soak.durationMs, plan.soak.probeIntervalMs);
    /** Extends the soak to make up missed probes, within the plan's bound; false when it may not. */
    const extendForMissedProbes = (): boolean => {
      if (plan.soak.missedProbes !== 'extend' || !patched('soak-extend')) return false;
      const extendedBy = status.soak.extendedByMs ?? 0;
      const extra = soakExtensionMs(
        status.soak.probes,
        plan.soak.criteria,
        scheduled,
        plan.soak.probeIntervalMs,
        extendedBy,
        plan.soak.maxExtensionMs ?? 0,
      );
      if (extra <= 0) return false;
      const missed = scheduled - status.soak.probes.filter((p) => p.result !== 'error').length;
      status.soak.extendedByMs = extendedBy + extra;
      status.soak.extension = `extended by ${Math.round(status.soak.extendedByMs / 1000)} s in all to make up ${missed} probe(s) that did not run (at most ${Math.round((plan.soak.maxExtensionMs ?? 0) / 1000)} s)`;
      end += extra;
      status.soak.endsAt = new Date(end).toISOString();
      changed();
      return true;
    };
    for (;;) {
      let probe: SoakProbe;
      try {
        probe = await quick.probeTestHosts(input.campaignId, input.fileSha256, plan.testHosts);
      } catch (err) {
        probe = { at: '', result: 'error', failed: [`probe could not run: ${(err as Error).message}`] };
      }
      // The workflow's clock, not the worker's: the timeline is what the campaign saw, replayably.
      status.soak.probes.push({ ...probe, at: now() });
      changed();
      if (failsEarly(status.soak.probes, plan.soak.criteria)) break;
      if (Date.now() >= end && !extendForMissedProbes()) break;
      // Probes keep to the schedule start + k × interval; a slot missed (worker down) stays missed.
      const nextSlot =
        start +
        (Math.floor((Date.now() - start) / plan.soak.probeIntervalMs) + 1) * plan.soak.probeIntervalMs;
      await condition(() => status.aborting, Math.min(nextSlot, end) - Date.now());
      if (status.aborting) return finish('aborted');
      if (workflowInfo().continueAsNewSuggested) await carryOn('soak');
    }
    const verdict = soakVerdict(status.soak.probes, plan.soak.criteria, scheduled);
    status.soak.verdict = verdict.verdict;
    status.soak.reason = verdict.reason;
    if (verdict.verdict === 'inconclusive') {
      status.state = 'soak-review';
      await notify({
        kind: 'approval-requested',
        to: plan.gates[0] ? gateAudience(plan.gates[0], plan.people) : operators(),
        text: `soak inconclusive (${verdict.reason}): review with accept or fail`,
      });
      await condition(() => soakReviewed || status.aborting);
      if (status.aborting) return finish('aborted');
    }
    if (status.soak.verdict === 'fail') {
      if (plan.rollback.testSystemOnSoakFailure)
        for (const [hostId, image] of Object.entries(status.testImages))
          launch(hostId, 'rollback', undefined, image, true);
      return finish('soak-failed', `soak failed: ${status.soak.reason}`);
    }
    status.currentWave = 0;
    doneInWave.clear();
  }

  // ---- 3. gates and waves ----
  for (let w = status.currentWave; w < plan.waves.length; w++) {
    status.currentWave = w;
    const gateOutcome = await passGate(w);
    if (gateOutcome !== 'pass') return finish(gateOutcome);
    if (reverify) {
      const artifact = await checkArtifact();
      if (artifact !== 'ok') return finish(artifact === 'changed' ? 'artifact-changed' : 'aborted');
    }
    const members = await quick.loadWave(input.fileSha256, w);
    waveHosts = new Map(members.map((h) => [h.id, h]));
    // The status lists the test systems, this wave and failed hosts; totals live in counts.
    status.hosts = Object.fromEntries(
      Object.entries(status.hosts).filter(
        ([id]) => plan.testHosts.includes(id) || status.failed.some((f) => f.hostId === id),
      ),
    );
    for (const h of members) if (!doneInWave.has(h.id)) status.hosts[h.id] = 'pending';
    const pending = members.filter((h) => !doneInWave.has(h.id));
    const result = await runWave(pending);
    if (result === 'aborted' || result === 'artifact-changed') return finish(result);
    if (result === 'continue-as-new') await carryOn('rollout');
    doneInWave.clear();
    if (w + 1 < plan.waves.length) {
      status.currentWave = w + 1;
      await carryOn('rollout');
    }
  }

  // ---- 4. hosts that need a person ----
  status.currentWave = plan.waves.length;
  while ((attention.size > 0 || inFlight.size > 0) && !status.aborting) {
    status.state = inFlight.size > 0 ? 'rolling-out' : 'needs-attention';
    status.waitingFor = `on-call action on ${[...attention].join(', ')}`;
    await nextChange();
  }
  if (status.aborting) return finish('aborted');
  return finish('completed');

  // ---- helpers that read the campaign state above ----

  /**
   * Re-checks the patch artifact against the approved checksum. A mismatch ends the campaign
   * ("changed"). A file that cannot be read even after retries is not taken as changed (one transient
   * error must not decide): the campaign waits in needs-decision until an operator resumes (check
   * again) or aborts.
   */
  async function checkArtifact(): Promise<'ok' | 'changed' | 'aborted'> {
    for (;;) {
      if (artifactChanged) return 'changed';
      try {
        await heartbeating.verifyArtifact(input.fileSha256);
        return 'ok';
      } catch (err) {
        if (failureType(err) === 'SourceArtifactInvalid') {
          artifactChanged = true;
          status.reason = `the patch artifact changed after it was tested and approved: ${(err as Error).message}`;
          changed();
          return 'changed';
        }
        const before = status.state;
        const seen = resumes;
        status.state = 'needs-decision';
        status.waitingFor = `cannot re-check the patch artifact (${(err as Error).message}): resume to check again, or abort`;
        await notify({ kind: 'needs-decision', to: operators(), text: status.waitingFor });
        changed();
        await condition(() => resumes !== seen || status.aborting);
        status.state = before;
        delete status.waitingFor;
        if (status.aborting) return 'aborted';
      }
    }
  }

  async function passGate(
    wave: number,
  ): Promise<'pass' | 'rejected' | 'approval-expired' | 'aborted' | 'artifact-changed'> {
    const gate = status.gates.find((g) => g.beforeWave === wave);
    const gatePlan = plan.gates.find((g) => g.beforeWave === wave);
    if (!gate || !gatePlan || gate.state === 'approved') return 'pass';
    if (reverify && !gate.openedAt) {
      // Nobody is asked to approve an artifact that is no longer the one tested.
      const artifact = await checkArtifact();
      if (artifact !== 'ok') return artifact === 'changed' ? 'artifact-changed' : 'aborted';
    }
    status.state = 'awaiting-approval';
    gate.state = 'open';
    const audience = gateAudience(gatePlan, plan.people);
    if (!gate.openedAt) {
      gate.openedAt = now();
      gate.expiresAt = new Date(Date.now() + gatePlan.expiresAfterMs).toISOString();
      await notify({
        kind: 'approval-requested',
        stage: gate.stage,
        to: audience,
        text: `approve stage ${gate.stage} (${gate.hostCount} hosts) by ${gate.expiresAt}`,
      });
    }
    const opened = Date.parse(gate.openedAt);
    const decided = () => gate.state !== 'open' || status.aborting || artifactChanged;
    for (const offset of gatePlan.remindersMs) {
      const left = opened + offset - Date.now();
      if (left <= 0) continue;
      if (await condition(decided, left)) break;
      await notify({
        kind: 'approval-reminder',
        stage: gate.stage,
        to: audience,
        text: `reminder: stage ${gate.stage} awaits ${gate.required - gate.decisions.length} approval(s); expires ${gate.expiresAt}`,
      });
    }
    const expiresIn = Date.parse(gate.expiresAt ?? '') - Date.now();
    if (!decided() && expiresIn > 0) await condition(decided, expiresIn);
    // Handlers changed the gate while this function waited; read it afresh.
    const final: GateStatus['state'] = gate.state as GateStatus['state'];
    if (artifactChanged) return 'artifact-changed';
    if (status.aborting) return 'aborted';
    if (final === 'rejected') return 'rejected';
    if (final !== 'approved') {
      gate.state = 'expired';
      status.reason = `nobody approved stage ${gate.stage} before ${gate.expiresAt}`;
      if (patched('notify-rollback-and-expiry'))
        await notify({ kind: 'gate-expired', stage: gate.stage, to: operators(), text: status.reason });
      return 'approval-expired';
    }
    return 'pass';
  }

  async function runWave(
    pending: WaveHost[],
  ): Promise<'done' | 'aborted' | 'continue-as-new' | 'artifact-changed'> {
    let decisionAnnounced = false;
    for (;;) {
      if (artifactSuspect) {
        artifactSuspect = false;
        const artifact = await checkArtifact();
        if (artifact !== 'ok') {
          status.state = 'aborting';
          while (inFlight.size > 0) await nextChange();
          return artifact === 'changed' ? 'artifact-changed' : 'aborted';
        }
      }
      if (status.aborting) {
        status.state = 'aborting';
        while (inFlight.size > 0) await nextChange();
        return 'aborted';
      }
      const spent = budgetSpent(status.budget.failed, status.budget.baseline, status.budget.allowed);
      const wantsNewRun = workflowInfo().continueAsNewSuggested;
      if (spent) {
        status.state = 'needs-decision';
        status.waitingFor = `failure budget spent (${status.budget.failed - status.budget.baseline} failed, ${status.budget.allowed} allowed): resume or abort`;
        if (!decisionAnnounced) {
          decisionAnnounced = true;
          void notify({ kind: 'needs-decision', to: operators(), text: status.waitingFor });
        }
        await nextChange();
        continue;
      }
      decisionAnnounced = false;
      if (status.paused || wantsNewRun) {
        status.state = status.paused ? 'paused' : 'rolling-out';
        status.waitingFor = status.paused ? 'paused by an operator' : 'draining hosts before continue-as-new';
        if (!status.paused && inFlight.size === 0) return 'continue-as-new';
        await nextChange();
        continue;
      }
      status.state = 'rolling-out';
      const step = nextHost({
        pending,
        inFlight: inFlight.size,
        concurrency: plan.concurrency,
        unavailableByGroup: unavailableByGroup(),
        groupBudgets: plan.groupBudgets,
        windows: plan.windows,
        nowMs: Date.now(),
      });
      if (step.kind === 'start') {
        pending.splice(pending.indexOf(step.host), 1);
        delete status.waitingFor;
        launch(step.host.id, 'patch', step.host.group);
        continue;
      }
      if (step.kind === 'done') {
        if (inFlight.size === 0) {
          delete status.waitingFor;
          return 'done';
        }
        status.waitingFor = `${inFlight.size} host(s) in flight`;
        await nextChange();
        continue;
      }
      status.waitingFor = step.reason;
      await nextChange(step.wakeInMs);
    }
  }
}
