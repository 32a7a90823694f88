/**
 * What a signed-in person reads and does, bound to that person: the CLI's commands call these, and they
 * are either this installation's own services (the action service as the user the local token names,
 * the rollout store, Temporal) or the rollout API over HTTP (`client/remote-api.ts`, where the API
 * decides who the token is). The two answer alike, so a command cannot tell them apart and neither can
 * its exit code.
 */
import type { AuditEntry, AuditVerdict, CampaignStatus, HostAction } from '../domain/schema.js';
import type { Actor, HostRow, RolloutActions } from './actions.js';
import type { ApproveRequest } from './campaigns.js';
import type { LedgerRow } from './ledger-report.js';

type Answer<K extends keyof RolloutActions> = Awaited<ReturnType<RolloutActions[K]>>;

export interface Reading {
  status(campaignId: string): Promise<CampaignStatus>;
  report(campaignId: string): Promise<Answer<'report'>>;
  hosts(campaignId: string, state?: string): Promise<HostRow[]>;
  ledger(filter: { patchId?: string; missing: boolean }): Promise<LedgerRow[]>;
  audit(filter: { campaignId?: string; limit: number }): Promise<AuditEntry[]>;
  verifyAudit(): Promise<AuditVerdict>;
}

export interface Acting {
  /** Starts a campaign from its document (YAML or JSON); returns the campaign ID. */
  start(document: string, source: string): Promise<string>;
  approve(campaignId: string, request: Omit<ApproveRequest, 'identity'>): Promise<Answer<'approve'>>;
  reject(campaignId: string, stage: string, reason: string): Promise<Answer<'reject'>>;
  reviewSoak(campaignId: string, decision: 'accept' | 'fail', reason: string): Promise<Answer<'reviewSoak'>>;
  control(
    campaignId: string,
    action: 'pause' | 'resume' | 'abort',
    reason: string,
  ): Promise<Answer<'control'>>;
  actOnHost(
    campaignId: string,
    hostId: string,
    action: HostAction['action'],
    note: string,
  ): Promise<Answer<'actOnHost'>>;
}

/** This process's action service, acting as `actor`. */
export function actingAs(actions: RolloutActions, actor: Actor): Acting {
  return {
    start: (document, source) => actions.start(actor, document, source),
    approve: (id, request) => actions.approve(actor, id, request),
    reject: (id, stage, reason) => actions.reject(actor, id, stage, reason),
    reviewSoak: (id, decision, reason) => actions.reviewSoak(actor, id, decision, reason),
    control: (id, action, reason) => actions.control(actor, id, action, reason),
    actOnHost: (id, hostId, action, note) => actions.actOnHost(actor, id, hostId, action, note),
  };
}
