/**
 * What a signed-in person does and reads, bound to that person: the CLI's commands call this, and it is
 * either the action service in this process (`actingAs`, with the user the local token names) or the
 * rollout API over HTTP (`client/remote-api.ts`, where the API decides who the token is). The two
 * answer alike, so a command cannot tell them apart and neither can its exit code.
 */
import type { CampaignStatus, HostAction } from '../domain/schema.js';
import type { Actor, HostRow, RolloutActions } from './actions.js';
import type { ApproveRequest } from './campaigns.js';

type Answer<K extends keyof RolloutActions> = Awaited<ReturnType<RolloutActions[K]>>;

/** Reads a person may make (through the API they need a token; locally the Temporal identity reads). */
export interface Reading {
  status(campaignId: string): Promise<CampaignStatus>;
  report(campaignId: string): Promise<Answer<'report'>>;
  hosts(campaignId: string, state?: string): Promise<HostRow[]>;
}

export interface Acting extends Reading {
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

/** Reads through this process's action service. */
export function readingWith(actions: RolloutActions): Reading {
  return {
    status: (id) => actions.status(id),
    report: (id) => actions.report(id),
    hosts: (id, state) => actions.hosts(id, state),
  };
}

/** This process's action service, acting as `actor`. */
export function actingAs(actions: RolloutActions, actor: Actor): Acting {
  return {
    ...readingWith(actions),
    start: (document, source) => actions.start(actor, document, source),
    approve: (id, request) => actions.approve(actor, id, request),
    reject: (id, stage, reason) => actions.reject(actor, id, stage, reason),
    reviewSoak: (id, decision, reason) => actions.reviewSoak(actor, id, decision, reason),
    control: (id, action, reason) => actions.control(actor, id, action, reason),
    actOnHost: (id, hostId, action, note) => actions.actOnHost(actor, id, hostId, action, note),
  };
}
