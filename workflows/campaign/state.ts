/**
 * A campaign run's state: the status clients query, the hosts in flight and done, the flags the phases
 * and the message handlers share, and the records every part writes (decisions, notifications). One
 * object per workflow run; the phases (test-install, soak, gates, waves, attention) and the handlers take
 * it as their first argument.
 */
import { condition, metricMeter, patched } from '@temporalio/workflow';
import type {
  CampaignInput,
  CampaignStatus,
  Decision,
  InFlightHost,
  Notification,
  PlanSummary,
  WaveHost,
} from '../../domain/schema.js';
import { quick } from './activities.js';

/** Notifications and decisions kept in the status (older ones stay in history and the ledger). */
const KEPT_RECORDS = 200;

/** What the status query answers while the worker admits the run (before the plan is known). */
export function admittingStatus(input: CampaignInput): CampaignStatus {
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

/** The status of a campaign's first run, from its plan. */
export function initialStatus(input: CampaignInput, plan: PlanSummary): CampaignStatus {
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

/** Which behaviours this run has, by the patch markers recorded in its history. */
export interface RunPatches {
  /** Decisions carry a signature the worker verifies (patched 'signed-decisions'). */
  signedDecisions: boolean;
  /** The artifact is re-checked before gates, waves and approvals (patched 'artifact-reverify'). */
  reverify: boolean;
  /**
   * Host runs in flight are carried into the next run instead of being waited for before
   * continue-as-new (patched 'carry-in-flight').
   */
  carryInFlight: boolean;
}

export class CampaignRun {
  /** Hosts of the current wave that have ended (carried across continue-as-new). */
  readonly doneInWave: Set<string>;
  /** Hosts whose child workflow runs now. */
  readonly inFlight = new Map<string, InFlightHost>();
  /** Hosts whose child workflow was asked for and has not started yet (carrying runs only). */
  readonly starting = new Set<string>();
  /** Hosts an earlier run started and this one waits for. */
  readonly adopted = new Set<string>();
  /** Hosts that wait for an on-call action. */
  readonly attention: Set<string>;
  /** The current wave's members. */
  waveHosts = new Map<string, WaveHost>();
  soakReviewed = false;
  /** Set when the patch artifact was found changed: nothing more starts, the campaign ends. */
  artifactChanged = false;
  /** A host reported a checksum mismatch: check the source artifact before the next host starts. */
  artifactSuspect = false;
  /** Counts operator resumes, so a wait can tell a fresh one. */
  resumes = 0;
  /** Counts changes, so a wait can tell that something happened. */
  private changes = 0;
  /** Notifications still being delivered: a new run or the end must not orphan them. */
  private readonly delivering = new Set<Promise<void>>();
  // Prometheus gauges (through the worker's runtime): hosts by state and the campaign's phase.
  private readonly hostsGauge = metricMeter.createGauge(
    'rollout_campaign_hosts',
    'int',
    'hosts',
    'hosts of a campaign by state',
  );
  private readonly phaseGauge = metricMeter.createGauge(
    'rollout_campaign_phase',
    'int',
    '',
    '1 for the phase a campaign is in',
  );
  private lastPhase = '';

  constructor(
    readonly input: CampaignInput,
    readonly plan: PlanSummary,
    readonly status: CampaignStatus,
    readonly patches: RunPatches,
  ) {
    this.doneInWave = new Set(input.carry?.doneInWave ?? []);
    this.attention = new Set(status.failed.filter((f) => f.state === 'needs-attention').map((f) => f.hostId));
  }

  now(): string {
    return new Date().toISOString();
  }

  /** Marks a change: waits wake, the gauges follow. */
  changed(): void {
    this.changes += 1;
    const campaign_id = this.input.campaignId;
    for (const [state, count] of Object.entries(this.status.counts))
      this.hostsGauge.set(count, { campaign_id, state });
    if (this.lastPhase !== this.status.state) {
      if (this.lastPhase) this.phaseGauge.set(0, { campaign_id, phase: this.lastPhase });
      this.phaseGauge.set(1, { campaign_id, phase: this.status.state });
      this.lastPhase = this.status.state;
    }
  }

  /** Waits until something changes (a host ends, a person acts) or `timeoutMs` passes. */
  async nextChange(timeoutMs?: number): Promise<void> {
    const seen = this.changes;
    await condition(
      () => this.changes !== seen,
      timeoutMs === undefined ? undefined : Math.max(1, timeoutMs),
    );
  }

  /** Keeps a person's decision in the status. */
  decide(identity: string, action: string, note: string, hostId?: string): Decision {
    const d: Decision = { at: this.now(), identity, action, note, ...(hostId ? { hostId } : {}) };
    this.status.decisions = [...this.status.decisions, d].slice(-KEPT_RECORDS);
    this.changed();
    return d;
  }

  /** Keeps a notification in the status and delivers it; a lost delivery never stops the campaign. */
  notify(n: Omit<Notification, 'at'>): Promise<void> {
    const record: Notification = { at: this.now(), ...n };
    this.status.notifications = [...this.status.notifications, record].slice(-KEPT_RECORDS);
    const delivery = quick.notify(this.input.campaignId, record).then(
      () => undefined,
      () => undefined, // The record stays in the status.
    );
    this.delivering.add(delivery);
    void delivery.then(() => this.delivering.delete(delivery));
    return delivery;
  }

  /** Waits for deliveries still in flight (runs recorded before this ended with some outstanding). */
  async drainNotifications(): Promise<void> {
    if (this.delivering.size > 0 && patched('drain-notifications')) await Promise.all([...this.delivering]);
  }

  /** Who hears about the campaign: whoever started it and the plan's operators. */
  operators(): string[] {
    return [
      ...new Set([
        this.input.startedBy,
        ...this.plan.people.filter((p) => p.roles.includes('operator')).map((p) => p.identity),
      ]),
    ];
  }

  onCall(): string[] {
    return this.plan.people.filter((p) => p.roles.includes('on-call')).map((p) => p.identity);
  }

  /** Who hears that a host needs a person: on-call, else the operators. */
  responders(): string[] {
    const onCall = this.onCall();
    return onCall.length ? onCall : this.operators();
  }
}
