/**
 * Signed human decisions. Every start and every decision on a campaign (approve, reject, soak review,
 * pause, resume, abort, host action) carries an Ed25519 signature over its exact content: the action,
 * the campaign, every field of the request (stage, checksum, host-set digest, comment, …), who decides,
 * in which role, through which interface, when, and a nonce. The worker verifies it against the public
 * keys in the rollout store before the workflow acts, so a decision sent straight to Temporal, altered
 * on the way, or replayed, changes nothing. Pure: the message is built here the same way by the signer
 * (CLI, API) and the verifier (worker).
 */
import type { DecisionAction, Signature } from './schema.js';

/** How far a signature's time may be from the verifier's clock. */
export const SIGNATURE_WINDOW_MS = 5 * 60_000;

/** JSON with object keys sorted at every level: the same value always gives the same text. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/**
 * The exact text that is signed: a domain line, then the canonical JSON of the action, the campaign,
 * the request's fields (without the signature itself) and the signature's metadata.
 */
export function decisionMessage(
  action: DecisionAction,
  campaignId: string,
  fields: Record<string, unknown>,
  meta: Omit<Signature, 'value'>,
): string {
  const { signature: _ignored, ...signed } = fields;
  return `pacs-rollout decision v1\n${canonicalJson({ action, campaignId, fields: signed, ...meta })}`;
}
