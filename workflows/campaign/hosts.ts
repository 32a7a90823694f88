/**
 * Host runs: each host is a child workflow started without waiting; its outcome is recorded in the
 * status when it ends (counts, failed list, budget, attention, notifications).
 */
import { executeChild, ParentClosePolicy, patched } from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { hostWorkflowId } from '../../domain/ids.js';
import type { HostOutcome, HostRun, ImageRecord } from '../../domain/schema.js';
import { hostPatchWorkflow } from '../host-patch.js';
import { ARTIFACT_SUSPECT, childFailureText } from './failures.js';
import type { CampaignRun } from './state.js';

/** Host outcomes that put a host on the campaign's failed list (shown to on-call and in reports). */
const LISTED_AS_FAILED: readonly string[] = ['rolled-back', 'needs-attention', 'prerequisite-failed'];

function count(run: CampaignRun, state: string, delta: number): void {
  run.status.counts[state] = (run.status.counts[state] ?? 0) + delta;
}

/** Ends an attention host by a person's word (skip, mark-fixed): it leaves the attention list. */
export function settle(run: CampaignRun, hostId: string, state: 'skipped' | 'marked-fixed'): void {
  const failed = run.status.failed.find((f) => f.hostId === hostId);
  if (failed) {
    count(run, failed.state, -1);
    failed.state = state;
  }
  count(run, state, 1);
  run.attention.delete(hostId);
  run.status.hosts[hostId] = state;
  run.changed();
}

function record(run: CampaignRun, outcome: HostOutcome, group: string | undefined, isTest: boolean): void {
  const { status } = run;
  run.inFlight.delete(outcome.hostId);
  const previous = status.failed.find((f) => f.hostId === outcome.hostId);
  if (previous) count(run, previous.state, -1);
  count(run, outcome.state, 1);
  status.hosts[outcome.hostId] = outcome.state;
  if (isTest && outcome.image) status.testImages[outcome.hostId] = outcome.image;
  if (LISTED_AS_FAILED.includes(outcome.state)) {
    const entry = {
      hostId: outcome.hostId,
      state: outcome.state,
      ...(outcome.unchanged ? { unchanged: true } : {}),
      ...(outcome.failure ? { failure: outcome.failure } : {}),
      ...(outcome.rollbackFailure ? { rollbackFailure: outcome.rollbackFailure } : {}),
      ...((outcome.image ?? previous?.image) ? { image: outcome.image ?? previous?.image } : {}),
      ...(group ? { group } : {}),
    };
    if (previous) Object.assign(previous, entry);
    else {
      status.failed.push(entry);
      // A host that misses a prerequisite was not touched: it is listed, but spends no failure budget.
      if (!isTest && outcome.mode === 'patch' && outcome.state !== 'prerequisite-failed')
        status.budget.failed += 1;
    }
  } else if (previous) Object.assign(previous, { state: outcome.state });
  if (outcome.state === 'needs-attention') {
    run.attention.add(outcome.hostId);
    void run.notify({
      kind: 'needs-attention',
      hostId: outcome.hostId,
      to: run.responders(),
      text: `${outcome.hostId} needs attention: ${outcome.rollbackFailure?.message ?? outcome.failure?.message ?? 'unknown'}`,
    });
  } else run.attention.delete(outcome.hostId);
  if (outcome.state === 'rolled-back' && outcome.mode === 'patch' && patched('notify-rollback-and-expiry'))
    void run.notify({
      kind: 'host-rolled-back',
      hostId: outcome.hostId,
      to: run.responders(),
      text: `${outcome.hostId} was rolled back to its saved image: ${outcome.failure?.message ?? 'unknown failure'}`,
    });
  if (run.waveHosts.has(outcome.hostId)) run.doneInWave.add(outcome.hostId);
  if (run.patches.reverify && ARTIFACT_SUSPECT.includes(outcome.failure?.type ?? ''))
    run.artifactSuspect = true;
  run.changed();
}

/** Starts a host's child workflow without waiting; its outcome is recorded when it ends. */
export function launch(
  run: CampaignRun,
  hostId: string,
  mode: HostRun['mode'],
  group?: string,
  image?: ImageRecord,
  isTest = false,
): void {
  const { input } = run;
  run.inFlight.set(hostId, { id: hostId, ...(group ? { group } : {}) });
  run.attention.delete(hostId);
  run.status.hosts[hostId] = mode === 'patch' ? 'preflight' : 'rolling-back';
  run.changed();
  const hostRun: HostRun = {
    campaignId: input.campaignId,
    fileSha256: input.fileSha256,
    hostId,
    mode,
    onFailure: run.plan.rollback.onHostFailure,
    ...(image ? { image } : {}),
  };
  const started = run.now();
  void executeChild(hostPatchWorkflow, {
    workflowId: hostWorkflowId(hostId),
    args: [hostRun],
    // A host's run must never be killed half-way because its campaign ended or continued-as-new.
    parentClosePolicy: ParentClosePolicy.ABANDON,
  }).then(
    (outcome) => record(run, outcome, group, isTest),
    (err: unknown) => {
      const busy = err instanceof WorkflowExecutionAlreadyStartedError;
      record(
        run,
        {
          campaignId: input.campaignId,
          hostId,
          mode,
          state: 'needs-attention',
          failure: {
            step: 'start',
            type: busy ? 'HostBusy' : 'HostWorkflowFailed',
            message: busy ? `${hostId} is already being patched by another campaign` : childFailureText(err),
          },
          timings: [],
          startedAt: started,
          finishedAt: run.now(),
        },
        group,
        isTest,
      );
    },
  );
}

/** Hosts out of service per redundancy group: in flight, or waiting for a person. */
export function unavailableByGroup(run: CampaignRun): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const h of run.inFlight.values()) if (h.group) counts[h.group] = (counts[h.group] ?? 0) + 1;
  for (const f of run.status.failed)
    if (f.group && run.attention.has(f.hostId) && !run.inFlight.has(f.hostId))
      counts[f.group] = (counts[f.group] ?? 0) + 1;
  return counts;
}

/** Waits until no host of this campaign is in flight. */
export async function drainHosts(run: CampaignRun): Promise<void> {
  while (run.inFlight.size > 0) await run.nextChange();
}
