/**
 * The worker decides nothing from what a workflow is told. `admitRun` verifies the start's signature and
 * derives the plan from the stored campaign file itself (a start that names another plan, or a run that
 * claims to continue a campaign it does not belong to, is refused); `verifyDecision` verifies the
 * signature of every human decision against the public keys in the rollout store before the workflow
 * acts on it. Every refusal is audited; every accepted decision is kept as evidence.
 */
import { createHash } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import type { Logger } from 'pino';
import { auditWriter, unverified } from '../adapters/audit-writer.js';
import type { CampaignStore } from '../adapters/campaign-store.js';
import { verifyDecisionSignature } from '../adapters/signing.js';
import { roleMay } from '../domain/access.js';
import { PersonRole, type CampaignFile } from '../domain/schema.js';
import { RolloutError } from '../domain/errors.js';
import { canonicalJson, decisionMessage, SIGNATURE_WINDOW_MS } from '../domain/decisions.js';
import { isOperator } from '../domain/access.js';
import { summarizePlan } from '../domain/planner.js';
import { planCache, type PlanCache } from './plan-cache.js';
import type {
  AuditAction,
  AuditInput,
  CampaignRecord,
  DecisionAction,
  InventoryHost,
  PlanSummary,
  Signature,
  SigningKey,
  UserRole,
  VerifiedDecision,
} from '../domain/schema.js';

/** What the trust checks need from the rollout store. */
export interface TrustStore {
  signingKey(keyId: string): Promise<SigningKey | undefined>;
  userRole(name: string): Promise<UserRole | undefined>;
  claimNonce(nonce: string, campaignId: string, useId: string): Promise<boolean>;
  recordDecision(decision: VerifiedDecision): Promise<void>;
  admit(campaignId: string, firstRunId: string, fileSha256: string, startedBy: string): Promise<boolean>;
  admission(campaignId: string): Promise<{ firstRunId: string; fileSha256: string } | undefined>;
  recordCampaign(campaign: CampaignRecord, hosts: InventoryHost[]): Promise<void>;
  appendAudit(entry: AuditInput): Promise<unknown>;
}

export interface AdmitRequest {
  campaignId: string;
  fileSha256: string;
  startedBy: string;
  signature?: Signature;
  /** A plan the start carried (older clients, or a forgery): it must equal the derived one. */
  plan?: PlanSummary;
  /** From workflowInfo(): the first run of this run's chain, and the run it continued from. */
  firstRunId: string;
  continuedFromRunId?: string;
  /** The run carries state from an earlier run (continue-as-new). */
  carried: boolean;
}

export interface DecisionRequest {
  campaignId: string;
  /** Run ID and update ID: a retried verification of the same update may reuse its nonce. */
  useId: string;
  action: DecisionAction;
  fields: Record<string, unknown>;
  signature?: Signature;
}

/** The audit log's word for each signed action. */
function auditActionOf(action: DecisionAction, fields: Record<string, unknown>): AuditAction {
  if (action === 'host-action') {
    const hostAction = String(fields.action ?? '');
    return (['retry', 'rollback', 'mark-fixed', 'skip'] as const).find((a) => a === hostAction) ?? 'retry';
  }
  return action;
}

const sha256Hex = (text: string) => createHash('sha256').update(text).digest('hex');

export function createTrustActivities({
  store,
  campaigns,
  logger,
  plans = planCache(),
}: {
  store: TrustStore;
  campaigns: CampaignStore;
  logger: Logger;
  /** Plans by file checksum, shared with the campaign activities (default: a cache of its own). */
  plans?: PlanCache;
}) {
  /** Audits the refusal and throws it as a non-retryable failure of that type. */
  async function refuse(
    type: string,
    message: string,
    where: { campaignId: string; action: AuditAction; identity?: unknown; stage?: unknown; hostId?: unknown },
  ): Promise<never> {
    const identity = typeof where.identity === 'string' ? where.identity.slice(0, 200) : 'unknown';
    await auditWriter(store)
      .refused(unverified(identity), where.action, `${type}: ${message}`, {
        campaignId: where.campaignId,
        ...(typeof where.hostId === 'string' ? { hostId: where.hostId } : {}),
        ...(typeof where.stage === 'string' ? { stage: where.stage } : {}),
      })
      .catch((err: Error) => logger.error({ err: err.message }, 'audit write failed'));
    logger.warn({ campaignId: where.campaignId, action: where.action, type }, 'decision refused');
    throw ApplicationFailure.create({ type, message, nonRetryable: true });
  }

  /** Verifies one signed decision; returns the key that signed it. Refuses (and audits) otherwise. */
  async function verified(request: DecisionRequest): Promise<SigningKey> {
    const { campaignId, action, fields, signature } = request;
    const where = {
      campaignId,
      action: auditActionOf(action, fields),
      identity: fields.identity,
      stage: fields.stage,
      hostId: fields.hostId,
    };
    if (!signature) return refuse('Unsigned', 'the decision carries no signature', where);
    const key = await store.signingKey(signature.keyId);
    if (!key) return refuse('UnknownSigningKey', `no registered key ${signature.keyId.slice(0, 16)}…`, where);
    if (key.revokedAt)
      return refuse(
        'RevokedSigningKey',
        `key ${key.keyId.slice(0, 16)}… was revoked at ${key.revokedAt}`,
        where,
      );
    if (!verifyDecisionSignature(Buffer.from(key.publicKey, 'base64'), action, campaignId, fields, signature))
      return refuse('BadSignature', 'the signature does not match the decision', where);
    const identity = String(fields.identity ?? '');
    if (key.kind === 'personal') {
      if (key.owner !== identity)
        return refuse(
          'IdentityMismatch',
          `the key belongs to ${key.owner}, the decision names ${identity}`,
          where,
        );
      const role = await store.userRole(identity);
      if (role !== signature.role)
        return refuse('IdentityMismatch', `${identity} is not a user with role ${signature.role}`, where);
    }
    if (!PersonRole.safeParse(signature.role).success)
      return refuse('InvalidInput', `no such role ${String(signature.role).slice(0, 40)}`, where);
    if (!roleMay(signature.role, where.action))
      return refuse('NotPermitted', `role ${signature.role} may not ${where.action}`, where);
    const skew = Math.abs(Date.now() - Date.parse(signature.at));
    if (!(skew <= SIGNATURE_WINDOW_MS))
      return refuse(
        'StaleDecision',
        `signed at ${signature.at}, outside the ${SIGNATURE_WINDOW_MS / 60_000}-minute window`,
        where,
      );
    if (!(await store.claimNonce(signature.nonce, campaignId, request.useId)))
      return refuse('ReplayedDecision', 'this signature was already used for another decision', where);
    const { value, ...meta } = signature;
    await store.recordDecision({
      campaignId,
      nonce: signature.nonce,
      action,
      identity,
      role: signature.role,
      keyId: key.keyId,
      keyKind: key.kind,
      ...(typeof fields.stage === 'string' ? { stage: fields.stage } : {}),
      ...(typeof fields.hostId === 'string' ? { hostId: fields.hostId } : {}),
      at: signature.at,
      signature: value,
      payload: decisionMessage(action, campaignId, fields, meta),
    });
    return key;
  }

  return {
    /**
     * Admits one run of a campaign: a first run must carry a valid start signature by an operator; a
     * continued run must belong to the admitted chain. Derives the plan from the stored file (checked
     * against its checksum) and refuses a start whose carried plan differs. Records a first run's
     * campaign and fleet in the ledger. Idempotent for one run. Throws StartRefused and the signature
     * refusals of verifyDecision.
     */
    async admitRun(request: AdmitRequest): Promise<PlanSummary> {
      const { campaignId, fileSha256, startedBy } = request;
      const where = { campaignId, action: 'start' as const, identity: startedBy };
      const continued = request.continuedFromRunId !== undefined;
      if (request.carried !== continued)
        return refuse(
          'StartRefused',
          'a run that carries campaign state must continue an earlier run',
          where,
        );
      let file: CampaignFile;
      try {
        file = await campaigns.get(fileSha256);
      } catch (err) {
        // A database that does not answer is retried; a file that is not there or not intact refuses.
        if (!(err instanceof RolloutError)) throw err;
        return refuse(
          'StartRefused',
          `the campaign file ${fileSha256.slice(0, 16)}… is not usable: ${(err as Error).message}`,
          where,
        );
      }
      const plan = summarizePlan(file, await plans(fileSha256, async () => file), sha256Hex);
      if (continued) {
        const admitted = await store.admission(campaignId);
        if (!admitted || admitted.firstRunId !== request.firstRunId || admitted.fileSha256 !== fileSha256)
          return refuse('StartRefused', 'this run does not continue an admitted run of the campaign', where);
        return plan;
      }
      await verified({
        campaignId,
        useId: 'start',
        action: 'start',
        fields: { fileSha256, identity: startedBy },
        signature: request.signature,
      });
      if (request.plan && canonicalJson(request.plan) !== canonicalJson(plan))
        return refuse(
          'StartRefused',
          'the start names a plan that is not the one its campaign file gives',
          where,
        );
      const operators = file.campaign.people.filter((p) => p.roles.includes('operator'));
      if (operators.length && !isOperator(file.campaign.people, '', startedBy))
        return refuse('StartRefused', `${startedBy} is not an operator in campaign.people`, where);
      if (!(await store.admit(campaignId, request.firstRunId, fileSha256, startedBy)))
        return refuse('StartRefused', 'the campaign was started before, as another run', where);
      await store.recordCampaign(
        {
          campaignId,
          name: file.campaign.name,
          patchId: file.patch.id,
          patchVersion: file.patch.version,
          artifactSha256: file.patch.artifact.sha256,
          startedBy,
          startedAt: new Date().toISOString(),
          hostCount: plan.testHosts.length + plan.rolloutHostCount,
        },
        file.fleet.hosts.map((h) => ({ hostId: h.id, role: h.role, ...(h.site ? { site: h.site } : {}) })),
      );
      logger.info({ campaignId, startedBy }, 'campaign admitted');
      return plan;
    },

    /**
     * Verifies a human decision's signature, time, nonce and the signer's role before the workflow acts
     * on it, and keeps it as evidence. Idempotent for one update. Throws Unsigned, UnknownSigningKey,
     * RevokedSigningKey, BadSignature, IdentityMismatch, NotPermitted, StaleDecision, ReplayedDecision.
     */
    async verifyDecision(request: DecisionRequest): Promise<void> {
      await verified(request);
    },
  };
}

export type TrustActivities = ReturnType<typeof createTrustActivities>;
