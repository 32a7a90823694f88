/** Human actions (Update arguments) and the campaign file's JSON Schema. */
import { z } from 'zod';
import { Identity, LongText } from '../text.js';
import { CampaignFile } from './campaign-file.js';
import { Name, Sha256 } from './common.js';
import { Signature } from './status.js';

export const ApprovalDecision = z.strictObject({
  stage: Name,
  identity: Identity,
  /** The patch checksum the approver saw; refused if it is not the campaign's. */
  artifactSha256: Sha256,
  /** The stage's host set the approver saw; refused if it is not the gate's. */
  hostSetDigest: Sha256,
  comment: LongText(2000).default(''),
  signature: Signature.optional(),
});
export type ApprovalDecision = z.input<typeof ApprovalDecision>;

export const Rejection = z.strictObject({
  stage: Name,
  identity: Identity,
  reason: LongText(2000).min(1, 'give a reason'),
  signature: Signature.optional(),
});
export type Rejection = z.infer<typeof Rejection>;

export const SoakReview = z.strictObject({
  identity: Identity,
  decision: z.enum(['accept', 'fail']),
  reason: LongText(2000).min(1, 'give a reason'),
  signature: Signature.optional(),
});
export type SoakReview = z.infer<typeof SoakReview>;

export const OperatorControl = z.strictObject({
  identity: Identity,
  reason: LongText(2000).default(''),
  signature: Signature.optional(),
});
export type OperatorControl = z.input<typeof OperatorControl>;

export const HostAction = z.strictObject({
  hostId: Name,
  action: z.enum(['retry', 'rollback', 'mark-fixed', 'skip']),
  identity: Identity,
  note: LongText(2000).default(''),
  signature: Signature.optional(),
});
export type HostAction = z.input<typeof HostAction>;

/** The campaign file's JSON Schema (input form: durations as text or milliseconds), for editors and CI. */
export function campaignFileJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(CampaignFile, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
}
