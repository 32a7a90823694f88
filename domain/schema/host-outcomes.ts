/** Runtime state: what workflows hold, report and return for hosts. */
import { z } from 'zod';
import type { JumpHost } from './common.js';
import { Sha256 } from './common.js';
import type { Controller, HealthCheck, Host } from './fleet.js';
import type { Patch } from './patch.js';

export const HostState = z.enum([
  'pending',
  'preflight',
  'imaging',
  'uploading',
  'installing',
  'rebooting',
  'health-check',
  'patched',
  'already-patched',
  'rolling-back',
  'rolled-back',
  'needs-attention',
  'prerequisite-failed',
  'skipped',
  'marked-fixed',
]);
export type HostState = z.infer<typeof HostState>;

/** Host states after which the campaign will not touch the host again (unless on-call retries it). */
export const FINAL_HOST_STATES: readonly HostState[] = [
  'patched',
  'already-patched',
  'rolled-back',
  'needs-attention',
  'prerequisite-failed',
  'skipped',
  'marked-fixed',
];

export const CampaignState = z.enum([
  /** The worker is verifying the start and deriving the plan. */
  'admitting',
  'test-install',
  'soaking',
  'soak-review',
  'awaiting-approval',
  'rolling-out',
  'paused',
  'needs-decision',
  'needs-attention',
  'aborting',
  'completed',
  'test-failed',
  'soak-failed',
  'rejected',
  'approval-expired',
  'aborted',
  /** The patch artifact no longer matches the checksum that was tested and approved. */
  'artifact-changed',
  /** The worker could not verify the start (signature, plan, chain): nothing was touched. */
  'refused',
]);
export type CampaignState = z.infer<typeof CampaignState>;

export const TERMINAL_CAMPAIGN_STATES: readonly CampaignState[] = [
  'completed',
  'test-failed',
  'soak-failed',
  'rejected',
  'approval-expired',
  'aborted',
  'artifact-changed',
  'refused',
];

/** A saved disk image. `sha256` is there when the provider can checksum the image (lab: the archive). */
export const ImageRecord = z.strictObject({
  imageId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, 'not an image ID'),
  location: z.string(),
  sha256: Sha256.optional(),
});
export type ImageRecord = z.infer<typeof ImageRecord>;

export const CheckResult = z.strictObject({
  name: z.string(),
  ok: z.boolean(),
  durationMs: z.number(),
  detail: z.string(),
});
export type CheckResult = z.infer<typeof CheckResult>;

export const HealthReport = z.strictObject({
  ok: z.boolean(),
  at: z.string(),
  checks: z.array(CheckResult),
});
export type HealthReport = z.infer<typeof HealthReport>;

export const StepTiming = z.strictObject({ step: z.string(), startedAt: z.string(), durationMs: z.number() });
export type StepTiming = z.infer<typeof StepTiming>;

export const StepFailure = z.strictObject({ step: z.string(), type: z.string(), message: z.string() });
export type StepFailure = z.infer<typeof StepFailure>;

/** What preflight measured on the host. */
export const PreflightReport = z.strictObject({
  version: z.string(),
  bootId: z.string(),
  servicePack: z.number().optional(),
  os: z.string().optional(),
  freeDiskMiB: z.number().optional(),
  /** Windows: the OS build with its update revision, e.g. 19045.3803. */
  build: z.string().optional(),
  /** Windows: the reboot already pending before the install, and why (CBS, Windows Update, file renames). */
  pendingReboot: z.array(z.string()).optional(),
  /** Why the host does not meet the patch's prerequisites, with the measured value; absent when it does. */
  unmet: z.string().optional(),
});
export type PreflightReport = z.infer<typeof PreflightReport>;

export const IntegrityChange = z.strictObject({
  path: z.string(),
  change: z.enum(['modified', 'removed', 'added']),
});
export type IntegrityChange = z.infer<typeof IntegrityChange>;

/** A protected-path profile: taken before install (kept on the host) and compared after. */
export const IntegrityReport = z.strictObject({
  files: z.number(),
  /** SHA-256 of the whole profile. */
  digest: z.string(),
  /** At most 50 changes; `moreChanges` counts the rest. */
  changes: z.array(IntegrityChange),
  moreChanges: z.number(),
});
export type IntegrityReport = z.infer<typeof IntegrityReport>;

/** The outcome of one host workflow run: what the campaign report and the ledger record. */
export const HostOutcome = z.strictObject({
  campaignId: z.string(),
  hostId: z.string(),
  mode: z.enum(['patch', 'rollback']),
  state: HostState,
  fromVersion: z.string().optional(),
  toVersion: z.string().optional(),
  image: ImageRecord.optional(),
  failure: StepFailure.optional(),
  rollbackFailure: StepFailure.optional(),
  installOutputTail: z.string().optional(),
  preflight: PreflightReport.optional(),
  integrity: IntegrityReport.optional(),
  health: HealthReport.optional(),
  /** The host failed before anything on it was changed: not restored, not rebooted ("not changed"). */
  unchanged: z.boolean().optional(),
  timings: z.array(StepTiming),
  startedAt: z.string(),
  finishedAt: z.string(),
});
export type HostOutcome = z.infer<typeof HostOutcome>;

/** What one host workflow starts with: references only; it loads its host record from the store. */
export const HostRun = z.strictObject({
  campaignId: z.string(),
  fileSha256: Sha256,
  hostId: z.string(),
  mode: z.enum(['patch', 'rollback']),
  /** The image to restore (rollback mode). */
  image: ImageRecord.optional(),
  onFailure: z.enum(['automatic', 'manual']),
});
export type HostRun = z.infer<typeof HostRun>;

/** What one host's activities need: its own host record, its controllers, its checks, the patch. */
export const HostPatchInput = z.strictObject({
  campaignId: z.string(),
  host: z.custom<Host>(),
  imageProvider: z.custom<Controller>(),
  powerController: z.custom<Controller>(),
  /** The jump hosts this host and its controllers go through (records only, no keys). */
  jumpHosts: z.array(z.custom<JumpHost>()).default([]),
  healthChecks: z.array(z.custom<HealthCheck>()),
  patch: z.custom<Patch>(),
});
export type HostPatchInput = z.infer<typeof HostPatchInput>;
