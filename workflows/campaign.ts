/**
 * One patch campaign. Install on the test system(s) → soak with periodic probes and a verdict (pass,
 * fail, inconclusive → a person reviews) → per-stage approval gates (Updates with validators, reminders,
 * expiry) → waves, each host a child workflow, started only when a lane is free, its redundancy group has
 * room and its maintenance window is open. Failed hosts count against the failure budget; when it is
 * spent the campaign waits in needs-decision. Hosts that need a person wait for on-call actions.
 * Operators pause, resume and abort. The workflow holds IDs and counters (the file lives in the campaign
 * store) and continues-as-new between waves and whenever Temporal suggests it; the hosts still running
 * then are carried into the new run, which waits for them (runs recorded before that drained them first).
 *
 * This is the entry point; the run's state, its message handlers and each phase are in campaign/.
 */
import { ApplicationFailure, patched, workflowInfo } from '@temporalio/workflow';
import type { CampaignInput, CampaignStatus, PlanSummary } from '../domain/schema.js';
import { trust } from './campaign/activities.js';
import { awaitOnCall } from './campaign/attention.js';
import { finish, type Ending } from './campaign/ending.js';
import { failureText } from './campaign/failures.js';
import { answerStatus, installHandlers } from './campaign/handlers.js';
import { soak } from './campaign/soak.js';
import { admittingStatus, CampaignRun, initialStatus } from './campaign/state.js';
import { adopt } from './campaign/hosts.js';
import { installOnTestSystems } from './campaign/test-install.js';
import { rollOut } from './campaign/waves.js';

/** The plan this run follows: admitted by the worker, or (runs recorded before admission) the input's. */
async function admit(input: CampaignInput): Promise<PlanSummary> {
  const info = workflowInfo();
  return trust.admitRun({
    campaignId: input.campaignId,
    fileSha256: input.fileSha256,
    startedBy: input.startedBy,
    ...(input.signature ? { signature: input.signature } : {}),
    ...(input.plan ? { plan: input.plan } : {}),
    firstRunId: info.firstExecutionRunId,
    ...(info.continuedFromExecutionRunId ? { continuedFromRunId: info.continuedFromExecutionRunId } : {}),
    carried: input.carry !== undefined,
  });
}

export async function campaignWorkflow(input: CampaignInput): Promise<CampaignStatus> {
  let status: CampaignStatus = admittingStatus(input);
  answerStatus(() => status);
  // Runs recorded before the worker admitted each run follow the plan in their input.
  const admitted = patched('admit-runs');
  const signedDecisions = patched('signed-decisions');
  let plan: PlanSummary;
  if (admitted) {
    try {
      plan = await admit(input);
    } catch (err) {
      // Nothing was touched: the start was not one the worker could verify.
      status = {
        ...status,
        state: 'refused',
        reason: failureText(err),
        finishedAt: new Date().toISOString(),
      };
      return status;
    }
  } else if (input.plan) plan = input.plan;
  else throw ApplicationFailure.create({ type: 'StartRefused', message: 'no plan', nonRetryable: true });
  status = input.carry
    ? { ...input.carry.status, runs: input.carry.status.runs + 1 }
    : initialStatus(input, plan);
  // Campaigns started before the artifact was re-checked along the way replay without those checks.
  const run = new CampaignRun(input, plan, status, {
    signedDecisions,
    reverify: patched('artifact-reverify'),
    // Campaigns started before host runs were carried across continue-as-new wait for them first.
    carryInFlight: patched('carry-in-flight'),
  });
  installHandlers(run);
  adopt(run, input.carry?.inFlight ?? []);

  const phases: Array<() => Promise<Ending>> = [
    ...(input.carry ? [] : [() => installOnTestSystems(run)]),
    ...(!input.carry || input.carry.phase === 'soak' ? [() => soak(run)] : []),
    () => rollOut(run),
    () => awaitOnCall(run),
  ];
  for (const phase of phases) {
    const ending = await phase();
    if (ending) return finish(run, ending.state, ending.reason);
  }
  throw new Error('the last phase always ends the campaign');
}
