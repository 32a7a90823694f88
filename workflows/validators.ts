/**
 * Update validators: each checks one human action against the campaign's rules and throws the refusal
 * the client sees (type + message). Pure: they read the status and plan, never change them.
 */
import { ApplicationFailure } from '@temporalio/workflow';
import type { z } from 'zod';
import { isOnCall, isOperator, mayDecideGate } from '../domain/access.js';
import type { RefusalType } from '../domain/errors.js';
import {
  ApprovalDecision,
  HostAction,
  OperatorControl,
  Rejection,
  SoakReview,
  PersonRole,
  TERMINAL_CAMPAIGN_STATES,
  type CampaignStatus,
  type GatePlan,
  type PlanSummary,
} from '../domain/schema.js';

function refuse(type: RefusalType, message: string): never {
  throw ApplicationFailure.create({ type, message, nonRetryable: true });
}

function parsed<T extends z.ZodType>(schema: T, value: unknown): z.infer<T> {
  const result = schema.safeParse(value);
  if (!result.success)
    refuse(
      'InvalidInput',
      result.error.issues.map((i) => `${i.path.join('.') || 'argument'}: ${i.message}`).join('; '),
    );
  return result.data;
}

function openGate(status: CampaignStatus, plan: PlanSummary, stage: string): GatePlan {
  if (status.state !== 'awaiting-approval' || status.aborting)
    refuse('InvalidPhase', `campaign is ${status.state}, not awaiting approval`);
  const open = status.gates.find((g) => g.state === 'open');
  const gate = plan.gates.find((g) => g.stage === open?.stage);
  if (!open || !gate) return refuse('InvalidPhase', 'no approval gate is open');
  if (stage !== open.stage) refuse('UnknownStage', `the open gate is "${open.stage}", not "${stage}"`);
  return gate;
}

function checkDecider(status: CampaignStatus, plan: PlanSummary, gate: GatePlan, identity: string): void {
  if (!mayDecideGate(gate, plan.people, identity))
    refuse(
      'NotAnApprover',
      `${identity} may not decide stage ${gate.stage} (needs role ${gate.roles.join('/')} or to be named)`,
    );
  if (identity === status.startedBy)
    refuse('FourEyes', `${identity} started this campaign and cannot decide its gates`);
}

/** Decisions that failed verification before the workflow stops sending them to the worker at all. */
export const MAX_FORGED_DECISIONS = 20;

/**
 * A decision must carry a signature (the worker verifies it before anything changes). After
 * MAX_FORGED_DECISIONS refusals the workflow refuses every decision here, before history, so forged
 * updates cannot fill the campaign's history or exhaust its update budget.
 */
export function validateSigned(status: CampaignStatus, args: { signature?: unknown }): void {
  if ((status.forgedDecisions ?? 0) >= MAX_FORGED_DECISIONS)
    refuse(
      'TooManyForgedDecisions',
      `${status.forgedDecisions} decisions failed verification; find who is sending them before going on`,
    );
  if (args.signature === undefined)
    refuse('Unsigned', 'the decision carries no signature: send it through the rollout CLI or API');
  // Strict here (validators never run on replay): the old spelling "oncall" is read only when a recorded
  // decision is replayed through its handler (domain/schema/status.ts).
  const role = (args.signature as { role?: unknown } | null)?.role;
  if (!PersonRole.safeParse(role).success)
    refuse('InvalidInput', `signature.role: must be one of ${PersonRole.options.join(', ')}`);
}

export function validateApproval(status: CampaignStatus, plan: PlanSummary, raw: unknown): void {
  const d = parsed(ApprovalDecision, raw);
  const gate = openGate(status, plan, d.stage);
  checkDecider(status, plan, gate, d.identity);
  const record = status.gates.find((g) => g.stage === gate.stage);
  if (record?.decisions.some((r) => r.identity === d.identity))
    refuse('AlreadyDecided', `${d.identity} has already approved stage ${gate.stage}`);
  if (d.artifactSha256 !== status.patch.sha256)
    refuse(
      'StaleApproval',
      `approval names checksum ${d.artifactSha256}, the campaign installs ${status.patch.sha256}`,
    );
  if (d.hostSetDigest !== gate.hostSetDigest)
    refuse(
      'StaleHostSet',
      `approval names host set ${d.hostSetDigest.slice(0, 12)}…, stage ${gate.stage} releases ${gate.hostCount} hosts with digest ${gate.hostSetDigest.slice(0, 12)}…`,
    );
}

export function validateRejection(status: CampaignStatus, plan: PlanSummary, raw: unknown): void {
  const r = parsed(Rejection, raw);
  const gate = openGate(status, plan, r.stage);
  checkDecider(status, plan, gate, r.identity);
}

export function validateSoakReview(status: CampaignStatus, plan: PlanSummary, raw: unknown): void {
  const r = parsed(SoakReview, raw);
  if (status.state !== 'soak-review' || status.aborting)
    refuse('InvalidPhase', `campaign is ${status.state}, not waiting for a soak review`);
  const first = plan.gates[0];
  if (!first) return refuse('InvalidPhase', 'the campaign has no approval gate');
  checkDecider(status, plan, first, r.identity);
}

export function validateControl(
  status: CampaignStatus,
  plan: PlanSummary,
  action: 'pause' | 'resume' | 'abort',
  raw: unknown,
): void {
  const c = parsed(OperatorControl, raw);
  if (!isOperator(plan.people, status.startedBy, c.identity))
    refuse('NotAnOperator', `${c.identity} is not an operator of this campaign`);
  if (TERMINAL_CAMPAIGN_STATES.includes(status.state))
    refuse('InvalidPhase', `campaign is already ${status.state}`);
  if (status.aborting) refuse('InvalidPhase', 'campaign is aborting');
  if (action === 'pause' && (status.paused || !['rolling-out', 'needs-attention'].includes(status.state)))
    refuse('InvalidPhase', `cannot pause while ${status.paused ? 'paused' : status.state}`);
  if (action === 'resume' && !status.paused && status.state !== 'needs-decision')
    refuse('InvalidPhase', `nothing to resume: campaign is ${status.state}`);
}

export function validateHostAction(
  status: CampaignStatus,
  plan: PlanSummary,
  inFlight: ReadonlySet<string>,
  raw: unknown,
): void {
  const a = parsed(HostAction, raw);
  if (!isOnCall(plan.people, status.startedBy, a.identity))
    refuse('NotOnCall', `${a.identity} is not on-call or an operator for this campaign`);
  if (TERMINAL_CAMPAIGN_STATES.includes(status.state))
    refuse('InvalidPhase', `campaign is already ${status.state}`);
  const host = status.failed.find((f) => f.hostId === a.hostId);
  if (!host) refuse('UnknownHost', `${a.hostId} is not a failed host of this campaign`);
  if (host.state !== 'needs-attention' || inFlight.has(a.hostId))
    refuse(
      'InvalidPhase',
      `${a.hostId} is ${inFlight.has(a.hostId) ? 'being worked on' : host.state}, not needs-attention`,
    );
  if (a.action === 'rollback' && !host.image)
    refuse('InvalidInput', `${a.hostId} has no saved image to restore`);
  if (a.action === 'mark-fixed' && !a.note.trim())
    refuse('InvalidInput', 'mark-fixed needs a note saying what was done');
  if (a.action === 'retry' && status.aborting) refuse('InvalidPhase', 'no retries while the campaign aborts');
}
