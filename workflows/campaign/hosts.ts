/**
 * Host runs: each host is a child workflow started without waiting; its outcome is recorded in the
 * status when it ends (counts, failed list, budget, attention, notifications). Runs an earlier run of
 * the campaign started are adopted: waited for by their run ID.
 */
import { executeChild, log, ParentClosePolicy, patched, sleep, startChild } from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { hostWorkflowId } from '../../domain/ids.js';
import type { HostRunEnd } from '../../activities/campaign-activities.js';
import type { HostOutcome, HostRun, ImageRecord, InFlightHost } from '../../domain/schema.js';
import { hostPatchWorkflow } from '../host-patch.js';
import { watched } from './activities.js';
import { ARTIFACT_SUSPECT, childFailureText, failureText } from './failures.js';
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
  // A carried host may end before this run has loaded its wave: it must not be started again.
  if (run.waveHosts.has(outcome.hostId) || run.adopted.has(outcome.hostId))
    run.doneInWave.add(outcome.hostId);
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
  const host: InFlightHost = { id: hostId, ...(group ? { group } : {}), mode, isTest };
  run.inFlight.set(hostId, host);
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
  void hostRunOf(run, host, hostRun).then(
    (outcome) => record(run, outcome, group, isTest),
    (err: unknown) => {
      const busy = err instanceof WorkflowExecutionAlreadyStartedError;
      recordFailure(
        run,
        host,
        started,
        busy ? 'HostBusy' : 'HostWorkflowFailed',
        busy ? `${hostId} is already being patched by another campaign` : childFailureText(err),
      );
    },
  );
}

/**
 * The host's child workflow, to its outcome. Runs that carry their host runs across continue-as-new
 * note when each has started and its run ID (startChild issues the same command as executeChild).
 */
function hostRunOf(run: CampaignRun, host: InFlightHost, hostRun: HostRun): Promise<HostOutcome> {
  const options = {
    workflowId: hostWorkflowId(host.id),
    args: [hostRun] as [HostRun],
    // A host's run must never be killed half-way because its campaign ended or continued-as-new.
    parentClosePolicy: ParentClosePolicy.ABANDON,
  };
  if (!run.patches.carryInFlight) return executeChild(hostPatchWorkflow, options);
  run.starting.add(host.id);
  return startChild(hostPatchWorkflow, options).then(
    (handle) => {
      host.runId = handle.firstExecutionRunId;
      run.starting.delete(host.id);
      run.changed();
      return handle.result();
    },
    (err: unknown) => {
      run.starting.delete(host.id);
      run.changed();
      throw err;
    },
  );
}

/** A host run that ended without an outcome (it could not start, or its workflow failed). */
function recordFailure(
  run: CampaignRun,
  host: InFlightHost,
  startedAt: string,
  type: string,
  message: string,
): void {
  record(
    run,
    {
      campaignId: run.input.campaignId,
      hostId: host.id,
      mode: host.mode,
      state: 'needs-attention',
      failure: { step: 'start', type, message },
      timings: [],
      startedAt,
      finishedAt: run.now(),
    },
    host.group,
    host.isTest,
  );
}

/** How often a run looks whether the host runs it carried from the last run have ended. */
const CARRIED_LOOK_MS = 5_000;

/**
 * Takes up the host runs an earlier run of this campaign started and did not see end: they stay in
 * flight (each holds its lane and its redundancy group's room) until their outcome comes, and are never
 * started again. One short activity every few seconds looks at all of them.
 */
export function adopt(run: CampaignRun, hosts: InFlightHost[]): void {
  const waiting = new Map<string, InFlightHost & { runId: string }>();
  const since = run.now();
  for (const host of hosts) {
    run.inFlight.set(host.id, host);
    run.adopted.add(host.id);
    if (host.runId) waiting.set(host.id, { ...host, runId: host.runId });
    else recordFailure(run, host, since, 'HostWorkflowFailed', `${host.id} was carried without its run`);
  }
  if (waiting.size === 0) return;
  void (async () => {
    while (waiting.size > 0) {
      await sleep(CARRIED_LOOK_MS);
      let ended: HostRunEnd[];
      try {
        ended = await watched.hostRunsEnded(
          [...waiting.values()].map((h) => ({ hostId: h.id, runId: h.runId })),
        );
      } catch (err) {
        // The server did not answer (after the activity's own retries): look again; the hosts stay in
        // flight meanwhile, and the worker's log says why the wave is not moving.
        log.warn('carried host runs could not be looked at; looking again', {
          campaignId: run.input.campaignId,
          hosts: waiting.size,
          error: failureText(err),
        });
        continue;
      }
      for (const end of ended) {
        const host = waiting.get(end.hostId);
        if (!host) continue;
        waiting.delete(end.hostId);
        if (end.state === 'ended') record(run, end.outcome, host.group, host.isTest);
        else recordFailure(run, host, since, 'HostWorkflowFailed', end.message);
      }
    }
  })();
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
