/**
 * The API's request bodies: each the domain's own schema of that request (domain/schema), less what the
 * server fills in (the identity from the token, the signature). The OpenAPI document is built from these.
 */
import { z } from 'zod';
import { ApprovalDecision, HostAction, OperatorControl, Rejection, SoakReview } from '../domain/schema.js';

export const StartBody = z.strictObject({
  /** The campaign document: YAML or JSON text, or the parsed object. */
  file: z.union([z.string().min(1), z.record(z.string(), z.unknown())]),
  /** What the file is called where it came from (the CLI's path), for messages; else "request body". */
  source: z
    .string()
    .min(1)
    .max(200)
    .regex(/^[^\p{Cc}]*$/u, 'must be one line of text')
    .optional(),
});
/** An approval names what the approver was shown: nothing is filled in on their behalf. */
export const ApproveBody = ApprovalDecision.pick({
  stage: true,
  comment: true,
  artifactSha256: true,
  hostSetDigest: true,
});
export const RejectBody = Rejection.pick({ stage: true, reason: true });
export const ReviewBody = SoakReview.pick({ decision: true, reason: true });
export const ControlBody = OperatorControl.pick({ reason: true });
export const HostActionBody = HostAction.pick({ note: true });

/** The dashboard's return from the identity provider: its code, its PKCE verifier, where it came back. */
export const SignInBody = z.strictObject({
  code: z.string().min(1).max(2048),
  /** RFC 7636: 43 to 128 characters of [A-Za-z0-9-._~]. */
  codeVerifier: z.string().regex(/^[A-Za-z0-9._~-]{43,128}$/, 'must be a PKCE code verifier (RFC 7636)'),
  redirectUri: z.url({ protocol: /^https?$/ }).max(2048),
});

/** Query strings: one value per parameter (a repeated one is refused), numbers checked. */
const one = z.string({ error: 'give this parameter once, as text' });
export const AuditQuery = z.strictObject({
  campaign: one.optional(),
  limit: one
    .regex(/^[1-9][0-9]{0,5}$/, 'must be a whole number from 1 to 999999')
    .transform(Number)
    .optional(),
});
export const LedgerQuery = z.strictObject({
  patch: one.optional(),
  missing: z.enum(['true', 'false']).optional(),
  format: z.enum(['json', 'csv']).optional(),
});
