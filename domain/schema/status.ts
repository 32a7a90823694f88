/** Campaign status: the query answer, the report, decisions, signatures, and what continue-as-new carries. */
import { z } from 'zod';
import { PersonRole } from './campaign-file.js';
import { Sha256 } from './common.js';
import { CampaignState, HostState, ImageRecord, StepFailure } from './host-outcomes.js';
import { PlanSummary } from './plan.js';

export const SoakProbe = z.strictObject({
  at: z.string(),
  result: z.enum(['ok', 'failed', 'error']),
  failed: z.array(z.string()),
});
export type SoakProbe = z.infer<typeof SoakProbe>;

export const SoakVerdict = z.enum(['pass', 'fail', 'inconclusive']);
export type SoakVerdict = z.infer<typeof SoakVerdict>;

export const Decision = z.strictObject({
  at: z.string(),
  identity: z.string(),
  action: z.string(),
  hostId: z.string().optional(),
  note: z.string(),
});
export type Decision = z.infer<typeof Decision>;

export const ApprovalRecord = z.strictObject({
  stage: z.string(),
  decision: z.enum(['approved', 'rejected']),
  identity: z.string(),
  roles: z.array(z.string()),
  at: z.string(),
  comment: z.string(),
  /** What the approver saw: checksum, host set, soak verdict and probes. */
  artifactSha256: Sha256,
  hostSetDigest: Sha256,
  hostCount: z.number(),
  soakVerdict: z.string(),
  probesSeen: z.number(),
  failedProbesSeen: z.number(),
});
export type ApprovalRecord = z.infer<typeof ApprovalRecord>;

export const GateStatus = z.strictObject({
  stage: z.string(),
  beforeWave: z.number(),
  state: z.enum(['waiting', 'open', 'approved', 'rejected', 'expired']),
  required: z.number(),
  openedAt: z.string().optional(),
  expiresAt: z.string().optional(),
  hostCount: z.number(),
  hostSetDigest: Sha256,
  decisions: z.array(ApprovalRecord),
});
export type GateStatus = z.infer<typeof GateStatus>;

/** needs-decision is the failure budget being spent. */
export const NotificationKind = z.enum([
  'approval-requested',
  'approval-reminder',
  'gate-expired',
  'host-rolled-back',
  'needs-decision',
  'needs-attention',
  'finished',
]);
export type NotificationKind = z.infer<typeof NotificationKind>;

export const Notification = z.strictObject({
  at: z.string(),
  kind: NotificationKind,
  stage: z.string().optional(),
  hostId: z.string().optional(),
  to: z.array(z.string()),
  text: z.string(),
});
export type Notification = z.infer<typeof Notification>;

export const FailedHost = z.strictObject({
  hostId: z.string(),
  state: HostState,
  failure: StepFailure.optional(),
  rollbackFailure: StepFailure.optional(),
  image: ImageRecord.optional(),
  group: z.string().optional(),
  /** Failed before anything on it changed: nothing to restore. */
  unchanged: z.boolean().optional(),
});
export type FailedHost = z.infer<typeof FailedHost>;

export const CampaignStatus = z.strictObject({
  campaignId: z.string(),
  name: z.string(),
  state: CampaignState,
  /** Why the campaign is in this state, for people (e.g. the soak verdict's reason, a rejection). */
  reason: z.string().optional(),
  /** What the scheduler waits for when nothing starts (window, redundancy budget, pause). */
  waitingFor: z.string().optional(),
  startedBy: z.string(),
  /** Workflow time the campaign started and ended (absent in campaigns started before they were kept). */
  startedAt: z.string().optional(),
  finishedAt: z.string().optional(),
  fileSha256: Sha256,
  patch: z.strictObject({ id: z.string(), version: z.string(), sha256: Sha256 }),
  testHosts: z.array(z.string()),
  /** Images saved on the test systems, restored if the soak fails. */
  testImages: z.record(z.string(), ImageRecord),
  soak: z.strictObject({
    durationMs: z.number(),
    probeIntervalMs: z.number(),
    startedAt: z.string().optional(),
    endsAt: z.string().optional(),
    probes: z.array(SoakProbe),
    verdict: SoakVerdict.optional(),
    reason: z.string().optional(),
    /** How long the soak was extended to make up missed probes, and why. */
    extendedByMs: z.number().optional(),
    extension: z.string().optional(),
  }),
  gates: z.array(GateStatus),
  waves: z.array(z.strictObject({ name: z.string(), size: z.number() })),
  currentWave: z.number(),
  /** Test systems, the current wave's hosts and every failed host; totals are in `counts`. */
  hosts: z.record(z.string(), HostState),
  counts: z.record(z.string(), z.number()),
  failed: z.array(FailedHost),
  budget: z.strictObject({ allowed: z.number(), failed: z.number(), baseline: z.number() }),
  paused: z.boolean(),
  aborting: z.boolean(),
  decisions: z.array(Decision),
  notifications: z.array(Notification),
  runs: z.number(),
  /** Decisions that reached the workflow but failed verification (forged, replayed, unsigned). */
  forgedDecisions: z.number().optional(),
});
export type CampaignStatus = z.infer<typeof CampaignStatus>;

/** What a signature covers: each human action on a campaign (see domain/decisions.ts). */
export const DecisionAction = z.enum([
  'start',
  'approve',
  'reject',
  'review-soak',
  'pause',
  'resume',
  'abort',
  'host-action',
]);
export type DecisionAction = z.infer<typeof DecisionAction>;

/** Who signed a decision and how: it travels with the request it signs. */
export const Signature = z.strictObject({
  /** SHA-256 of the raw Ed25519 public key, hex: the key's ID in the rollout store. */
  keyId: Sha256,
  /** The 64-byte Ed25519 signature, base64. */
  value: z.string().regex(/^[A-Za-z0-9+/]{86}==$/, 'an Ed25519 signature in base64'),
  at: z.iso.datetime(),
  /** 128 random bits, hex: a signature is good for one decision only. */
  nonce: z.string().regex(/^[0-9a-f]{32}$/, '32 hex digits'),
  /**
   * The signed-in role the request was made in (service-key signatures attest it). `oncall`, the
   * spelling before there was one, is read as `on-call`: decisions recorded with it must replay (the
   * update handlers check their arguments again); new signatures never carry it.
   */
  role: z.union([PersonRole, z.literal('oncall').transform(() => 'on-call' as const)]),
  via: z.enum(['cli', 'api']),
});
export type Signature = z.infer<typeof Signature>;

/** A host run a campaign started and has not yet seen end. */
export const InFlightHost = z.strictObject({
  id: z.string(),
  group: z.string().optional(),
  mode: z.enum(['patch', 'rollback']),
  /** A test system (its image is kept for the soak's rollback). */
  isTest: z.boolean(),
  /** The child workflow's first run, once started. */
  runId: z.string().optional(),
});
export type InFlightHost = z.infer<typeof InFlightHost>;

/**
 * What the campaign workflow starts (or continues-as-new) with: references and counters. The workflow
 * trusts none of it: the worker verifies the start's signature, and derives the plan itself from the
 * stored file (by its checksum) on every run.
 */
export const CampaignInput = z.strictObject({
  campaignId: z.string(),
  startedBy: z.string().min(1),
  fileSha256: Sha256,
  /** The starter's signature over (start, campaign, file checksum, identity). */
  signature: Signature.optional(),
  /**
   * Runs started before the worker derived the plan carry it here; a start that sends one is refused
   * unless it is exactly the plan the worker derives from the stored file.
   */
  plan: PlanSummary.optional(),
  carry: z
    .strictObject({
      status: z.custom<CampaignStatus>(),
      /** Hosts of the current wave already finished before the last continue-as-new. */
      doneInWave: z.array(z.string()),
      /** Where the campaign was: the phase to resume in (the wave is status.currentWave). */
      phase: z.enum(['soak', 'rollout']),
      /**
       * Host runs still going when the last run continued as new (they are abandoned by it, not
       * stopped): the new run waits for each by its run ID instead of starting it again.
       */
      inFlight: z.array(InFlightHost).optional(),
    })
    .optional(),
});
export type CampaignInput = z.infer<typeof CampaignInput>;
