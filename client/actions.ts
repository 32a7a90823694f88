/**
 * What people do, the one way every interface does it (CLI, HTTP API, web pages): each human action is
 * checked against the actor's signed-in role, sent to the campaign (whose validators apply the campaign's
 * own rules), and recorded in the audit log as accepted or refused with the reason. Reads combine the
 * ledger (lists) with workflow queries (one campaign's live detail).
 */
import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { CampaignStore } from '../adapters/campaign-store.js';
import type { RolloutStore } from '../adapters/rollout-store.js';
import { campaignNames, roleMay } from '../domain/access.js';
import { campaignWorkflowId } from '../domain/ids.js';
import { PlanInfeasible, planCampaign } from '../domain/planner.js';
import type {
  AuditAction,
  AuditInput,
  CampaignFile,
  CampaignRecord,
  CampaignStatus,
  HostAction,
  HostState,
  UserRole,
} from '../domain/schema.js';
import { CampaignFileError, parseCampaignFile } from './campaign-file.js';
import {
  actOnHost,
  approveStage,
  BadInput,
  campaignStatus,
  controlCampaign,
  hostOutcomes,
  Refused,
  rejectStage,
  reviewSoak,
  startCampaign,
  type ApproveRequest,
  type Signing,
} from './campaigns.js';
import { runAudited, type AuditedAction, type WriteEntry } from './audited.js';
import { auditWriter } from '../adapters/audit-writer.js';
import { buildReport, type CampaignReport } from './report.js';
import type { DecisionSigner } from './signing.js';
import type { ArtifactPolicy } from '../adapters/artifacts.js';
import { campaignStatusQuery } from '../workflows/contract.js';

/** Who acts: a signed-in user, with the role the user store gives them. */
export interface Actor {
  identity: string;
  role: UserRole;
  via: 'cli' | 'api';
}

export interface ActionDeps {
  client: Client;
  taskQueue: string;
  campaigns: CampaignStore;
  store: RolloutStore;
  /** Signs every decision this service sends (the service key, or a person's own key). */
  signer: DecisionSigner;
  /** Where artifacts may be read from, for the check before a start (default: this process's settings). */
  artifacts?: ArtifactPolicy;
}

/** The refusal inside an error, if it is one (not for outages or bugs). */
export function refusalOf(err: unknown): { type: string; message: string } | undefined {
  if (err instanceof Refused) return { type: err.type, message: err.message };
  if (err instanceof BadInput || err instanceof PlanInfeasible || err instanceof CampaignFileError)
    return { type: 'InvalidInput', message: err.message };
  if (err instanceof WorkflowUpdateFailedError) {
    const cause = err.cause instanceof ApplicationFailure ? err.cause : undefined;
    return { type: cause?.type ?? 'Refused', message: cause?.message ?? err.message };
  }
  if (err instanceof WorkflowNotFoundError)
    // The same words as for a campaign the asker may not see: a vendor learns nothing from the answer.
    return { type: 'NotFound', message: 'no such campaign' };
  return undefined;
}

export interface HostRow {
  hostId: string;
  role?: string;
  wave: string;
  state: HostState | 'pending';
  step?: string;
  failure?: string;
  imageId?: string;
  updatedAt?: string;
}

export interface AttentionItem {
  campaignId: string;
  campaignName: string;
  patchId: string;
  hostId: string;
  group?: string;
  failure?: string;
  rollbackFailure?: string;
  imageId?: string;
}

export interface CampaignListItem extends CampaignRecord {
  state: string;
  running: boolean;
}

export function rolloutActions({ client, taskQueue, campaigns, store, signer, artifacts }: ActionDeps) {
  const signing = (actor: Actor): Signing => ({ signer, role: actor.role });
  const audit = auditWriter(store);
  /** Every action through runAudited (client/audited.ts): refusals and acceptances in the audit log. */
  function audited<T>(
    actor: Actor,
    action: AuditAction,
    where: Pick<AuditInput, 'campaignId' | 'hostId' | 'stage'>,
    detail: string | (() => string),
    act: () => Promise<T>,
    more: Pick<AuditedAction<T>, 'describe' | 'followUp'> = {},
  ): Promise<T> {
    const write: WriteEntry = (outcome, text, extra) =>
      audit.write(actor, action, outcome, text, { ...where, ...extra });
    return runAudited(write, refusalOf, {
      notPermitted: roleMay(actor.role, action) ? undefined : `role ${actor.role} may not ${action}`,
      detail: typeof detail === 'string' ? () => detail : detail,
      act,
      ...more,
    });
  }

  /**
   * A vendor decides only on campaigns whose file names them; for any other the answer is the one for a
   * campaign that does not exist, so the refusal tells nothing of the hospital's other campaigns.
   */
  const visibleTo = async (actor: Actor, campaignId: string): Promise<void> => {
    if (actor.role !== 'vendor') return;
    const admitted = await store.admission(campaignId);
    if (!admitted || !(await actions.mayFollow(actor, admitted.fileSha256)))
      throw new Refused('NotFound', 'no such campaign');
  };

  const hostIdsOf = (file: CampaignFile) => {
    const plan = planCampaign(file);
    return [...plan.testHosts, ...plan.waves.flatMap((w) => w.hosts.map((h) => h.id))];
  };

  const actions = {
    /**
     * Validates and starts a campaign from its document (YAML or JSON), signed by the starter. A
     * document that is not a valid, plannable campaign file is refused and the refusal audited like
     * any other. The worker verifies the signature, derives the plan and records the campaign and its
     * fleet in the ledger when it admits the start (a start it refuses leaves no trace there).
     * Returns the campaign ID.
     */
    start: (actor: Actor, document: string, source: string, signal?: AbortSignal) => {
      let summary = `campaign file from ${source}`;
      return audited(
        actor,
        'start',
        {},
        () => summary,
        () => {
          const file = parseCampaignFile(document, source);
          const plan = planCampaign(file);
          summary = `${file.campaign.name}: patch ${file.patch.id} ${file.patch.version}`;
          return startCampaign(client, taskQueue, campaigns, file, actor.identity, {
            plan,
            signing: signing(actor),
            ...(artifacts ? { artifacts } : {}),
            ...(signal ? { signal } : {}),
          });
        },
        { describe: (campaignId) => ({ campaignId }) },
      );
    },

    /** Approves the open gate, bound to the checksum and host set the approver was shown. */
    approve: (actor: Actor, campaignId: string, request: Omit<ApproveRequest, 'identity'>) =>
      audited(actor, 'approve', { campaignId, stage: request.stage }, request.comment ?? '', async () => {
        await visibleTo(actor, campaignId);
        return approveStage(client, campaignId, { ...request, identity: actor.identity }, signing(actor));
      }),

    reject: (actor: Actor, campaignId: string, stage: string, reason: string) =>
      audited(actor, 'reject', { campaignId, stage }, reason, async () => {
        await visibleTo(actor, campaignId);
        return rejectStage(client, campaignId, { stage, identity: actor.identity, reason }, signing(actor));
      }),

    reviewSoak: (actor: Actor, campaignId: string, decision: 'accept' | 'fail', reason: string) =>
      audited(actor, 'review-soak', { campaignId }, `${decision}: ${reason}`, async () => {
        await visibleTo(actor, campaignId);
        return reviewSoak(client, campaignId, { identity: actor.identity, decision, reason }, signing(actor));
      }),

    control: (actor: Actor, campaignId: string, action: 'pause' | 'resume' | 'abort', reason: string) =>
      audited(actor, action, { campaignId }, reason, () =>
        controlCampaign(client, campaignId, action, { identity: actor.identity, reason }, signing(actor)),
      ),

    /** retry | rollback | mark-fixed | skip on a failed host; a skip or mark-fixed is also the ledger's state. */
    actOnHost: (
      actor: Actor,
      campaignId: string,
      hostId: string,
      action: HostAction['action'],
      note: string,
    ) =>
      audited(
        actor,
        action,
        { campaignId, hostId },
        note,
        () =>
          actOnHost(client, campaignId, { hostId, action, identity: actor.identity, note }, signing(actor)),
        {
          followUp: {
            what: "the ledger's entry for the host",
            run: async (decision) => {
              if (action !== 'skip' && action !== 'mark-fixed') return;
              const [entry] = await store.ledger({ campaignId, hostId });
              if (entry)
                await store.recordHostState({
                  ...entry,
                  state: action === 'skip' ? 'skipped' : 'marked-fixed',
                  updatedAt: decision.at,
                  finishedAt: decision.at,
                });
            },
          },
        },
      ),

    status: (campaignId: string) => campaignStatus(client, campaignId),

    /**
     * Whether the actor may follow the campaign of this file: everyone the API lets see campaigns, but
     * a vendor only the campaigns whose file names them (the hospital's other campaigns are not theirs).
     */
    async mayFollow(actor: Actor, fileSha256: string): Promise<boolean> {
      if (actor.role !== 'vendor') return true;
      try {
        return campaignNames(await campaigns.get(fileSha256), actor.identity);
      } catch {
        return false;
      }
    },

    /** Campaigns from the ledger, newest first, each with its state now; a vendor sees only theirs. */
    async list(actor?: Actor, limit = 50): Promise<CampaignListItem[]> {
      const all = await store.campaigns();
      const visible =
        actor?.role === 'vendor'
          ? (
              await Promise.all(
                all.map(async (record) => {
                  const admitted = await store.admission(record.campaignId);
                  return admitted && (await actions.mayFollow(actor, admitted.fileSha256)) ? [record] : [];
                }),
              )
            ).flat()
          : all;
      const records = visible.slice(0, limit);
      return Promise.all(
        records.map(async (record) => {
          const h = client.workflow.getHandle(campaignWorkflowId(record.campaignId));
          try {
            const described = await client.withDeadline(Date.now() + 5_000, () => h.describe());
            const running = described.status.name === 'RUNNING';
            const status = running
              ? await client.withDeadline(Date.now() + 5_000, () => h.query(campaignStatusQuery))
              : ((await client.withDeadline(Date.now() + 5_000, () => h.result())) as CampaignStatus);
            return { ...record, state: status.state, running };
          } catch {
            return { ...record, state: 'unknown', running: false };
          }
        }),
      );
    },

    /** Hosts waiting for on-call in running campaigns, with what failed and the image to restore. */
    async attentionQueue(): Promise<AttentionItem[]> {
      const running = (await actions.list()).filter((c) => c.running);
      const items = await Promise.all(
        running.map(async (c) => {
          const status = await campaignStatus(client, c.campaignId);
          return status.failed
            .filter((f) => f.state === 'needs-attention')
            .map((f) => ({
              campaignId: c.campaignId,
              campaignName: c.name,
              patchId: c.patchId,
              hostId: f.hostId,
              ...(f.group ? { group: f.group } : {}),
              ...(f.failure ? { failure: `${f.failure.step}: ${f.failure.type}: ${f.failure.message}` } : {}),
              ...(f.rollbackFailure
                ? { rollbackFailure: `${f.rollbackFailure.step}: ${f.rollbackFailure.message}` }
                : {}),
              ...(f.image ? { imageId: f.image.imageId } : {}),
            }));
        }),
      );
      return items.flat();
    },

    /** Every host of the campaign with its state: live for the current wave, else the ledger's. */
    async hosts(campaignId: string, state?: string): Promise<HostRow[]> {
      const status = await campaignStatus(client, campaignId);
      const file = await campaigns.get(status.fileSha256);
      const plan = planCampaign(file);
      const roles = new Map(file.fleet.hosts.map((h) => [h.id, h.role]));
      const ledger = new Map((await store.ledger({ campaignId })).map((e) => [e.hostId, e]));
      const failed = new Map(status.failed.map((f) => [f.hostId, f]));
      const rows: HostRow[] = [
        ...plan.testHosts.map((id) => ({ id, wave: 'test system' })),
        ...plan.waves.flatMap((w) => w.hosts.map((h) => ({ id: h.id, wave: w.name }))),
      ].map(({ id, wave }) => {
        const entry = ledger.get(id);
        const f = failed.get(id);
        const live = status.hosts[id];
        const failure = f?.failure ? `${f.failure.step}: ${f.failure.message}` : entry?.failure;
        const imageId = f?.image?.imageId ?? entry?.imageId;
        return {
          hostId: id,
          role: roles.get(id),
          wave,
          state: live ?? f?.state ?? entry?.state ?? 'pending',
          ...(status.steps[id] ? { step: status.steps[id] } : {}),
          ...(failure ? { failure } : {}),
          ...(imageId ? { imageId } : {}),
          ...(entry ? { updatedAt: entry.updatedAt } : {}),
        };
      });
      return state ? rows.filter((r) => r.state === state) : rows;
    },

    /** The campaign report: status, approvals, soak evidence, every host's outcome and image. */
    async report(campaignId: string): Promise<CampaignReport & { status: CampaignStatus }> {
      const status = await campaignStatus(client, campaignId);
      const file = await campaigns.get(status.fileSha256);
      const hostIds = hostIdsOf(file);
      const roles = Object.fromEntries(file.fleet.hosts.map((h) => [h.id, h.role]));
      return {
        ...buildReport(status, hostIds, await hostOutcomes(client, campaignId, hostIds), roles),
        status,
      };
    },
  };
  return actions;
}

export type RolloutActions = ReturnType<typeof rolloutActions>;
