/**
 * The campaign's message handlers: the status query and every person's Update (approve, reject, soak
 * review, pause/resume/abort, host actions). Each Update has a validator that refuses it before anything
 * is written to history; a signed one is then verified by the worker and checked again against the
 * campaign as it is by then.
 */
import { ApplicationFailure, currentUpdateInfo, setHandler, workflowInfo } from '@temporalio/workflow';
import type { UpdateDefinition } from '@temporalio/common';
import { rolesOf } from '../../domain/access.js';
import type {
  ApprovalRecord,
  CampaignInput,
  Decision,
  DecisionAction,
  OperatorControl,
} from '../../domain/schema.js';
import {
  abortUpdate,
  approveStageUpdate,
  campaignStatusQuery,
  hostActionUpdate,
  pauseUpdate,
  rejectStageUpdate,
  resumeUpdate,
  reviewSoakUpdate,
} from '../contract.js';
import {
  validateApproval,
  validateControl,
  validateHostAction,
  validateRejection,
  validateSigned,
  validateSoakReview,
} from '../validators.js';
import { trust } from './activities.js';
import { checkArtifact } from './artifact.js';
import { failureText, failureType } from './failures.js';
import { launch, settle } from './hosts.js';
import type { CampaignRun } from './state.js';

const CONTROLS = { pause: pauseUpdate, resume: resumeUpdate, abort: abortUpdate } as const;

/**
 * Verifies a decision's signature through the worker before the workflow acts on it. A refusal fails
 * the update (nothing changed) and counts towards the cap on forged decisions.
 */
async function verifyDecision(
  run: CampaignRun,
  action: DecisionAction,
  args: { signature?: unknown } & Record<string, unknown>,
): Promise<void> {
  if (!run.patches.signedDecisions) return;
  const { signature, ...fields } = args;
  try {
    await trust.verifyDecision({
      campaignId: run.input.campaignId,
      useId: `${workflowInfo().runId}/${currentUpdateInfo()?.id ?? ''}`,
      action,
      fields,
      ...(signature ? { signature: signature as NonNullable<CampaignInput['signature']> } : {}),
    });
  } catch (err) {
    const type = failureType(err) ?? 'VerificationFailed';
    if (type !== 'VerificationFailed') {
      run.status.forgedDecisions = (run.status.forgedDecisions ?? 0) + 1;
      run.changed();
    }
    throw ApplicationFailure.create({ type, message: failureText(err), nonRetryable: true });
  }
}

function signedOnly(run: CampaignRun, args: { signature?: unknown }): void {
  if (run.patches.signedDecisions) validateSigned(run.status, args);
}

/** Records a decision on the open gate with what the person saw (validators checked it matches). */
function decideGate(
  run: CampaignRun,
  decision: ApprovalRecord['decision'],
  identity: string,
  comment: string,
): ApprovalRecord {
  const { status } = run;
  const gate = status.gates.find((g) => g.state === 'open');
  if (!gate) throw new Error(`validator let a gate decision (${decision}) through without an open gate`);
  const record: ApprovalRecord = {
    stage: gate.stage,
    decision,
    identity,
    roles: rolesOf(run.plan.people, identity),
    at: run.now(),
    comment,
    artifactSha256: status.patch.sha256,
    hostSetDigest: gate.hostSetDigest,
    hostCount: gate.hostCount,
    soakVerdict: status.soak.verdict ?? 'none',
    probesSeen: status.soak.probes.length,
    failedProbesSeen: status.soak.probes.filter((p) => p.result !== 'ok').length,
  };
  gate.decisions.push(record);
  if (decision === 'rejected') {
    gate.state = 'rejected';
    status.reason = `stage ${gate.stage} rejected by ${identity}: ${comment}`;
  } else if (gate.decisions.filter((r) => r.decision === 'approved').length >= gate.required)
    gate.state = 'approved';
  run.changed();
  return record;
}

/**
 * An approval is bound to the checksum the approver saw: if the artifact no longer has it, the approval
 * is refused and the campaign stops before touching another host.
 */
async function recheckBeforeApproval(run: CampaignRun, stage: string, identity: string): Promise<void> {
  if ((await checkArtifact(run)) === 'changed')
    throw ApplicationFailure.create({
      type: 'ArtifactChanged',
      message: `the patch artifact no longer matches ${run.status.patch.sha256}: approval refused, campaign stopped`,
      nonRetryable: true,
    });
  // Another decision may have closed the gate while the artifact was checked.
  const open = run.status.gates.find((g) => g.state === 'open');
  if (!open || open.stage !== stage)
    throw ApplicationFailure.create({
      type: 'InvalidPhase',
      message: `stage ${stage} was decided meanwhile`,
      nonRetryable: true,
    });
  if (open.decisions.some((r) => r.identity === identity))
    throw ApplicationFailure.create({
      type: 'AlreadyDecided',
      message: `${identity} has already approved stage ${stage}`,
      nonRetryable: true,
    });
}

/** The status query, before the plan is known (the worker admits the run). */
export function answerStatus(status: () => CampaignRun['status']): void {
  setHandler(campaignStatusQuery, status);
}

/**
 * One person's Update: the validator refuses it before anything is written (a signed run wants a
 * signature); the handler has the worker verify the signature, runs `recheck` (what may have changed
 * while it waited), validates again against the campaign as it is now, and applies it.
 */
function decision<Args extends { signature?: unknown } & Record<string, unknown>, Result>(
  run: CampaignRun,
  update: UpdateDefinition<Result, [Args]>,
  action: DecisionAction,
  validate: (args: Args) => void,
  apply: (args: Args) => Result,
  recheck?: (args: Args) => Promise<void>,
): void {
  setHandler(
    update,
    async (args) => {
      await verifyDecision(run, action, args);
      if (recheck) await recheck(args);
      if (run.patches.signedDecisions) validate(args);
      return apply(args);
    },
    {
      validator: (args) => {
        signedOnly(run, args);
        validate(args);
      },
    },
  );
}

/** Every Update of a running campaign. */
export function installHandlers(run: CampaignRun): void {
  const { status, plan } = run;

  decision(
    run,
    approveStageUpdate,
    'approve',
    (d) => validateApproval(status, plan, d),
    (d) => decideGate(run, 'approved', d.identity, d.comment ?? ''),
    run.patches.reverify ? (d) => recheckBeforeApproval(run, d.stage, d.identity) : undefined,
  );

  decision(
    run,
    rejectStageUpdate,
    'reject',
    (r) => validateRejection(status, plan, r),
    (r) => decideGate(run, 'rejected', r.identity, r.reason),
  );

  decision(
    run,
    reviewSoakUpdate,
    'review-soak',
    (r) => validateSoakReview(status, plan, r),
    (r) => {
      run.soakReviewed = true;
      status.soak.reason = `${status.soak.reason ?? ''}; reviewed by ${r.identity}: ${r.decision} (${r.reason})`;
      if (r.decision === 'fail') status.soak.verdict = 'fail';
      return run.decide(r.identity, `soak-${r.decision}`, r.reason);
    },
  );

  /** An operator control: pause, resume or abort. */
  const control = (action: 'pause' | 'resume' | 'abort', apply: (c: OperatorControl) => Decision) =>
    decision(run, CONTROLS[action], action, (c) => validateControl(status, plan, action, c), apply);

  control('pause', (c) => {
    status.paused = true;
    return run.decide(c.identity, 'pause', c.reason ?? '');
  });

  control('resume', (c) => {
    status.paused = false;
    run.resumes += 1;
    // Failures so far are acknowledged: the budget counts again from here.
    status.budget.baseline = status.budget.failed;
    return run.decide(c.identity, 'resume', c.reason ?? '');
  });

  control('abort', (c) => {
    status.aborting = true;
    status.reason = `aborted by ${c.identity}${c.reason ? `: ${c.reason}` : ''}`;
    return run.decide(c.identity, 'abort', c.reason ?? '');
  });

  decision(
    run,
    hostActionUpdate,
    'host-action',
    (a) => validateHostAction(status, plan, new Set(run.inFlight.keys()), a),
    (a) => {
      const failed = status.failed.find((f) => f.hostId === a.hostId);
      if (a.action === 'retry') launch(run, a.hostId, 'patch', failed?.group);
      else if (a.action === 'rollback' && failed?.image)
        launch(run, a.hostId, 'rollback', failed.group, failed.image);
      else settle(run, a.hostId, a.action === 'skip' ? 'skipped' : 'marked-fixed');
      return run.decide(a.identity, a.action, a.note ?? '', a.hostId);
    },
  );
}
