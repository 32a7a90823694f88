/** People's interfaces: users, keys, the audit log, the patch ledger, credentials, webhooks. */
import { z } from 'zod';
import { Identity, Text } from '../text.js';
import { PersonRole } from './campaign-file.js';
import { Name, Sha256 } from './common.js';
import { HostState } from './host-outcomes.js';
import { DecisionAction, NotificationKind } from './status.js';

/** A signed-in user's role: the same four roles, spelt the same, as a campaign's people have. */
export const UserRole = PersonRole;
export type UserRole = z.infer<typeof UserRole>;

/** A user of the API and CLI: the identity their decisions are recorded under. */
export const UserName = Identity;

export const User = z.strictObject({
  name: UserName,
  role: UserRole,
  createdAt: z.string(),
  /** The token stops working at this time (rotate it with `rollout users rotate`). */
  expiresAt: z.string().optional(),
});
export type User = z.infer<typeof User>;

/** A public key the worker verifies decisions with: a person's own, or a service's (the API's). */
export const SigningKey = z.strictObject({
  keyId: Sha256,
  /** The person (a user name) or service (`service:<name>`) holding the private key. */
  owner: z.string().min(1).max(200),
  kind: z.enum(['personal', 'service']),
  /** Raw 32-byte Ed25519 public key, base64. */
  publicKey: z.string(),
  createdAt: z.string(),
  revokedAt: z.string().optional(),
});
export type SigningKey = z.infer<typeof SigningKey>;

/** A decision whose signature the worker verified: the evidence of who decided what. */
export const VerifiedDecision = z.strictObject({
  campaignId: z.string(),
  nonce: z.string(),
  action: DecisionAction,
  identity: z.string(),
  role: z.string(),
  keyId: Sha256,
  keyKind: z.enum(['personal', 'service']),
  stage: z.string().optional(),
  hostId: z.string().optional(),
  at: z.string(),
  signature: z.string(),
  /** The exact signed message. */
  payload: z.string(),
});
export type VerifiedDecision = z.infer<typeof VerifiedDecision>;

/** Every human action the audit log records. */
export const AuditAction = z.enum([
  'start',
  'approve',
  'reject',
  'review-soak',
  'pause',
  'resume',
  'abort',
  'retry',
  'rollback',
  'mark-fixed',
  'skip',
  'user-add',
  'user-remove',
  'user-rotate',
  'key-register',
  'key-revoke',
  'sign-in',
  /** A refused read (a role asking for a view it may not see). */
  'view',
]);
export type AuditAction = z.infer<typeof AuditAction>;

/** One audit entry as it is appended: who did what, where, and whether it was accepted. */
export const AuditInput = z.strictObject({
  at: z.string(),
  actor: z.string(),
  /** The actor's role as authenticated (a user's role), or `unauthenticated` for a bare `--as`. */
  role: z.string(),
  /** Through which interface; `worker` when the worker refused a decision that reached it directly. */
  via: z.enum(['cli', 'api', 'worker']),
  action: AuditAction,
  campaignId: z.string().optional(),
  hostId: z.string().optional(),
  stage: z.string().optional(),
  outcome: z.enum(['accepted', 'refused']),
  /** The note or comment given, or why the action was refused. */
  detail: z.string(),
});
export type AuditInput = z.infer<typeof AuditInput>;

/** A stored audit entry: its place in the chain and the hash that links it to the one before. */
export const AuditEntry = AuditInput.extend({
  seq: z.number().int().positive(),
  prevHash: Sha256,
  hash: Sha256,
});
export type AuditEntry = z.infer<typeof AuditEntry>;

export const AuditVerdict = z.strictObject({
  ok: z.boolean(),
  entries: z.number().int(),
  /** Hash of the last entry: keep it elsewhere to detect a truncated log later. */
  head: z.string(),
  /** The first entry that does not verify, and why. */
  firstBad: z.strictObject({ seq: z.number(), problem: z.string() }).optional(),
});
export type AuditVerdict = z.infer<typeof AuditVerdict>;

/** A campaign as the ledger lists it (live detail comes from the workflow). */
export const CampaignRecord = z.strictObject({
  campaignId: z.string(),
  name: z.string(),
  patchId: z.string(),
  patchVersion: z.string(),
  artifactSha256: Sha256,
  startedBy: z.string(),
  startedAt: z.string(),
  hostCount: z.number().int(),
});
export type CampaignRecord = z.infer<typeof CampaignRecord>;

/** A fleet member the ledger knows, so it can say who lacks a patch. */
export const InventoryHost = z.strictObject({
  hostId: z.string(),
  role: z.string(),
  site: z.string().optional(),
});
export type InventoryHost = z.infer<typeof InventoryHost>;

/** One host's record for one patch in one campaign; upserted on every state change. */
export const LedgerEntry = z.strictObject({
  hostId: z.string(),
  /** The host's role, so the ledger knows the host even if its campaign was started elsewhere. */
  hostRole: z.string().optional(),
  campaignId: z.string(),
  patchId: z.string(),
  patchVersion: z.string(),
  artifactSha256: Sha256,
  state: HostState,
  fromVersion: z.string().optional(),
  toVersion: z.string().optional(),
  imageId: z.string().optional(),
  imageLocation: z.string().optional(),
  imageSha256: z.string().optional(),
  failure: z.string().optional(),
  startedAt: z.string(),
  updatedAt: z.string(),
  finishedAt: z.string().optional(),
});
export type LedgerEntry = z.infer<typeof LedgerEntry>;

/** Approvals a host's patch went out under (accepted approve entries of its campaign's audit). */
export const LedgerApproval = z.strictObject({
  campaignId: z.string(),
  stage: z.string(),
  actor: z.string(),
  at: z.string(),
});
export type LedgerApproval = z.infer<typeof LedgerApproval>;

/** What a secret in the worker's key store is, and so what it may be used for. */
export const CredentialKind = z.enum(['ssh-key', 'http-basic', 'http-bearer', 'vsphere']);
export type CredentialKind = z.infer<typeof CredentialKind>;

/**
 * `<key dir>/credentials.json`: the kind of each credential and where it may be sent. A secret that is
 * sent (an HTTP password, a vSphere login) goes only to the origins listed here, whatever a campaign
 * file says; a file the manifest does not list is an SSH key and is never sent anywhere.
 */
export const CredentialManifest = z.record(
  Name,
  z.strictObject({
    kind: CredentialKind,
    /** Origins (scheme://host:port) the secret may be sent to; SSH keys need none. */
    destinations: z
      .array(z.url({ protocol: /^https?$/ }))
      .max(100)
      .default([]),
  }),
);
export type CredentialManifest = z.infer<typeof CredentialManifest>;

/** A webhook the worker delivers notifications to (ROLLOUT_WEBHOOKS); the URL may hold a secret. */
export const Webhook = z.strictObject({
  name: Text(100).min(1),
  url: z
    .url({ protocol: /^https?$/ })
    .max(2048)
    .refine((u) => {
      const url = new URL(u);
      return !url.username && !url.password;
    }, 'must not hold a user name or password; put a token in the path or a header the receiver checks'),
  /** `json`: the notification as JSON; `slack`: Slack-compatible `{ text }`. */
  format: z.enum(['json', 'slack']).default('json'),
  /** Only these kinds; all when left out. */
  events: z.array(NotificationKind).optional(),
});
export type Webhook = z.infer<typeof Webhook>;
