/**
 * The typed client every interface uses (CLI, demo, later the API): start, status, decisions, controls,
 * report. Every call carries a deadline, so a missing worker or server gives an error instead of a hang.
 */
import { randomBytes } from 'node:crypto';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { UpdateDefinition } from '@temporalio/common';
import type { CampaignStore } from '../adapters/campaign-store.js';
import { verifySourceArtifact, type ArtifactPolicy } from '../adapters/artifacts.js';
import { isOperator } from '../domain/access.js';
import { RolloutError } from '../domain/errors.js';
import { campaignWorkflowId, hostWorkflowId, newCampaignId } from '../domain/ids.js';
import { planCampaign, type Plan } from '../domain/planner.js';
import type {
  ApprovalRecord,
  CampaignFile,
  DecisionAction,
  UserRole,
  CampaignInput,
  CampaignStatus,
  Decision,
  HostAction,
  HostOutcome,
  OperatorControl,
  Rejection,
  SoakReview,
} from '../domain/schema.js';
import { settings } from '../runtime/config.js';
import type { campaignWorkflow } from '../workflows/campaign.js';
import type { DecisionSigner } from './signing.js';
import {
  abortUpdate,
  approveStageUpdate,
  campaignStatusQuery,
  hostActionUpdate,
  hostProgressQuery,
  pauseUpdate,
  rejectStageUpdate,
  resumeUpdate,
  reviewSoakUpdate,
} from '../workflows/contract.js';

export const CALL_DEADLINE_MS = 15_000;

/** The request was understood and refused (who asks, or what it conflicts with); nothing changed. */
export class Refused extends Error {
  constructor(
    readonly type: string,
    message: string,
  ) {
    super(message);
    this.name = 'Refused';
  }
}

/** The request is malformed or names something that is not valid (corrupt artifact); nothing changed. */
export class BadInput extends Error {
  override name = 'BadInput';
}

function within<T>(client: Client, fn: () => Promise<T>, ms = CALL_DEADLINE_MS): Promise<T> {
  return client.withDeadline(Date.now() + ms, fn);
}

const handle = (client: Client, campaignId: string) =>
  client.workflow.getHandle<typeof campaignWorkflow>(campaignWorkflowId(campaignId));

/** The state a campaign ended in, or undefined while it runs (or when there is no such campaign). */
async function endedState(client: Client, campaignId: string): Promise<string | undefined> {
  const h = handle(client, campaignId);
  try {
    const described = await within(client, () => h.describe());
    if (described.status.name === 'RUNNING') return undefined;
    if (described.status.name !== 'COMPLETED') return described.status.name.toLowerCase();
    return (await within(client, () => h.result())).state;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  }
}

/**
 * Sends a person's decision as a signed Update. Temporal answers "not found" for an Update to a workflow
 * that has closed; a campaign that exists but has ended is refused for what it is (InvalidPhase), not
 * as unknown. A refusal by the workflow comes back as WorkflowUpdateFailedError.
 */
async function sendDecision<Result, Args extends object>(
  client: Client,
  campaignId: string,
  update: UpdateDefinition<Result, [Args]>,
  action: DecisionAction,
  fields: Omit<Args, 'signature'>,
  signing: Signing,
): Promise<Result> {
  const args = signed(signing, action, campaignId, fields) as unknown as Args;
  try {
    return await within(client, () => handle(client, campaignId).executeUpdate(update, { args: [args] }));
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError)) throw err;
    const ended = await endedState(client, campaignId);
    if (ended) throw new Refused('InvalidPhase', `campaign is already ${ended}`);
    throw err;
  }
}

/** Who signs a request, in which signed-in role. */
export interface Signing {
  signer: DecisionSigner;
  role: UserRole;
}

/** The request with its signature: the signature covers every field but itself. */
function signed<T extends object>(signing: Signing, action: DecisionAction, campaignId: string, fields: T) {
  const signature = signing.signer.sign(action, campaignId, fields as Record<string, unknown>, signing.role);
  return { ...fields, signature };
}

/**
 * Stores the file and builds the campaign workflow's input: references only, and the starter's
 * signature over them. The worker derives the plan from the stored file itself.
 */
export async function campaignInput(
  store: CampaignStore,
  file: CampaignFile,
  campaignId: string,
  startedBy: string,
  signing: Signing,
): Promise<CampaignInput> {
  const fileSha256 = await store.put(file);
  const { signature } = signed(signing, 'start', campaignId, { fileSha256, identity: startedBy });
  return { campaignId, startedBy, fileSha256, signature };
}

/** Running campaigns that hold any of `hosts`, with the hosts they share. */
export async function conflictingCampaigns(
  client: Client,
  store: CampaignStore,
  hosts: Set<string>,
): Promise<{ campaignId: string; hosts: string[] }[]> {
  const conflicts: { campaignId: string; hosts: string[] }[] = [];
  await within(client, async () => {
    for await (const wf of client.workflow.list({
      query: `WorkflowType = 'campaignWorkflow' AND ExecutionStatus = 'Running'`,
    })) {
      const status = await handle(client, wf.workflowId).query(campaignStatusQuery);
      const plan = planCampaign(await store.get(status.fileSha256));
      const theirs = [...plan.testHosts, ...plan.waves.flatMap((w) => w.hosts.map((h) => h.id))];
      const shared = theirs.filter((h) => hosts.has(h));
      if (shared.length) conflicts.push({ campaignId: status.campaignId, hosts: shared });
    }
  });
  return conflicts;
}

/**
 * Validates everything that can be checked before anything changes (plan feasible, starter may operate,
 * artifact matches its checksum, no host already in a running campaign), stores the file and starts
 * the campaign. Throws PlanInfeasible, BadInput or Refused; nothing is started then.
 */
export async function startCampaign(
  client: Client,
  taskQueue: string,
  store: CampaignStore,
  file: CampaignFile,
  startedBy: string,
  options: { signing: Signing; artifacts?: ArtifactPolicy; signal?: AbortSignal; plan?: Plan },
): Promise<string> {
  // The caller's plan of this same file when it made one (the action service validates with it); the
  // worker derives its own from the stored file in any case: it trusts no plan it is given.
  const plan = options.plan ?? planCampaign(file);
  const operators = file.campaign.people.filter((p) => p.roles.includes('operator'));
  if (operators.length && !isOperator(file.campaign.people, '', startedBy))
    throw new Refused('NotAnOperator', `${startedBy} is not an operator in campaign.people`);
  try {
    await verifySourceArtifact(file.patch, options.artifacts ?? settings().artifacts, {
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } catch (err) {
    if (err instanceof RolloutError)
      throw new BadInput(`patch.artifact.${file.patch.artifact.url ? 'url' : 'path'}: ${err.message}`);
    throw err;
  }
  const hosts = new Set([...plan.testHosts, ...plan.waves.flatMap((w) => w.hosts.map((h) => h.id))]);
  const conflicts = await conflictingCampaigns(client, store, hosts);
  if (conflicts.length)
    throw new Refused(
      'HostBusy',
      conflicts
        .map(
          (c) =>
            `${c.hosts.length} host(s) already in running campaign ${c.campaignId}: ${c.hosts.slice(0, 10).join(', ')}`,
        )
        .join('; '),
    );
  const campaignId = newCampaignId(file.campaign.name, Date.now(), randomBytes(3).toString('hex'));
  const input = await campaignInput(store, file, campaignId, startedBy, options.signing);
  await within(client, () =>
    client.workflow.start<typeof campaignWorkflow>('campaignWorkflow', {
      workflowId: campaignWorkflowId(campaignId),
      taskQueue,
      args: [input],
    }),
  );
  return campaignId;
}

/** The campaign's status, with in-flight hosts' live step read from their own workflows. */
export async function campaignStatus(
  client: Client,
  campaignId: string,
  deadlineMs = CALL_DEADLINE_MS,
): Promise<CampaignStatus & { steps: Record<string, string> }> {
  const status = await within(
    client,
    () => handle(client, campaignId).query(campaignStatusQuery),
    deadlineMs,
  );
  const steps: Record<string, string> = {};
  const inFlight = Object.entries(status.hosts)
    .filter(([, state]) => state === 'preflight' || state === 'rolling-back')
    .slice(0, 200);
  await Promise.all(
    inFlight.map(async ([hostId]) => {
      try {
        const progress = await within(
          client,
          () => client.workflow.getHandle(hostWorkflowId(hostId)).query(hostProgressQuery),
          5_000,
        );
        if (progress.campaignId !== campaignId) return;
        status.hosts[hostId] = progress.state;
        steps[hostId] = progress.step;
      } catch {
        // Not started yet, or finished between the two queries: the campaign's own view stands.
      }
    }),
  );
  return { ...status, steps };
}

export interface ApproveRequest {
  stage: string;
  identity: string;
  comment?: string;
  /** What the approver was shown: the patch checksum and the stage's host-set digest. Never filled in. */
  artifactSha256: string;
  hostSetDigest: string;
}

/** Sends a signed approval through the gate's validator; a refusal comes back as WorkflowUpdateFailedError. */
export function approveStage(
  client: Client,
  campaignId: string,
  request: ApproveRequest,
  signing: Signing,
): Promise<ApprovalRecord> {
  const fields = {
    stage: request.stage,
    identity: request.identity,
    comment: request.comment ?? '',
    artifactSha256: request.artifactSha256,
    hostSetDigest: request.hostSetDigest,
  };
  return sendDecision(client, campaignId, approveStageUpdate, 'approve', fields, signing);
}

export function rejectStage(
  client: Client,
  campaignId: string,
  rejection: Omit<Rejection, 'signature'>,
  signing: Signing,
): Promise<ApprovalRecord> {
  return sendDecision(client, campaignId, rejectStageUpdate, 'reject', rejection, signing);
}

export function reviewSoak(
  client: Client,
  campaignId: string,
  review: Omit<SoakReview, 'signature'>,
  signing: Signing,
): Promise<Decision> {
  return sendDecision(client, campaignId, reviewSoakUpdate, 'review-soak', review, signing);
}

const CONTROLS = { pause: pauseUpdate, resume: resumeUpdate, abort: abortUpdate } as const;

export function controlCampaign(
  client: Client,
  campaignId: string,
  action: keyof typeof CONTROLS,
  control: Omit<OperatorControl, 'signature'>,
  signing: Signing,
): Promise<Decision> {
  const fields = { identity: control.identity, reason: control.reason ?? '' };
  return sendDecision(client, campaignId, CONTROLS[action], action, fields, signing);
}

export function actOnHost(
  client: Client,
  campaignId: string,
  action: Omit<HostAction, 'signature'>,
  signing: Signing,
): Promise<Decision> {
  const fields = {
    hostId: action.hostId,
    action: action.action,
    identity: action.identity,
    note: action.note ?? '',
  };
  return sendDecision(client, campaignId, hostActionUpdate, 'host-action', fields, signing);
}

/** Waits for the campaign to end and returns its final status (the report). No deadline: campaigns are long. */
export async function campaignResult(client: Client, campaignId: string): Promise<CampaignStatus> {
  return handle(client, campaignId).result();
}

/**
 * The latest outcome of each host's workflow for this campaign (hosts never started, or last run by
 * another campaign, are left out).
 */
export async function hostOutcomes(
  client: Client,
  campaignId: string,
  hostIds: string[],
): Promise<Map<string, HostOutcome>> {
  const outcomes = new Map<string, HostOutcome>();
  const queue = [...hostIds];
  const lane = async () => {
    for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
      try {
        const h = client.workflow.getHandle(hostWorkflowId(id));
        const description = await within(client, () => h.describe(), 5_000);
        if (description.status.name !== 'COMPLETED') continue;
        const outcome = (await within(client, () => h.result(), 5_000)) as HostOutcome;
        if (outcome.campaignId === campaignId) outcomes.set(id, outcome);
      } catch {
        // No such workflow: the host was never started by any campaign.
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, lane));
  return outcomes;
}
