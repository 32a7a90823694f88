/** How a run ends: finished (every host drained, the operators told) or continued as a new run. */
import { allHandlersFinished, condition, continueAsNew } from '@temporalio/workflow';
import type { CampaignInput, CampaignState, CampaignStatus } from '../../domain/schema.js';
import { drainHosts } from './hosts.js';
import type { CampaignRun } from './state.js';

/** What a phase answers when the campaign ends there; `undefined` means go on to the next phase. */
export type Ending = { state: CampaignState; reason?: string } | undefined;

export const end = (state: CampaignState, reason?: string): Ending => ({
  state,
  ...(reason ? { reason } : {}),
});

export async function finish(
  run: CampaignRun,
  state: CampaignState,
  reason?: string,
): Promise<CampaignStatus> {
  const { status } = run;
  await drainHosts(run);
  status.state = state;
  status.finishedAt = run.now();
  if (reason && !status.reason) status.reason = reason;
  delete status.waitingFor;
  await run.notify({
    kind: 'finished',
    to: run.operators(),
    text: `campaign ${state}${status.reason ? `: ${status.reason}` : ''}`,
  });
  await run.drainNotifications();
  await condition(allHandlersFinished);
  return status;
}

/** Continues as a new run of the same campaign, carrying its status and the current wave's progress. */
export async function carryOn(run: CampaignRun, phase: 'soak' | 'rollout'): Promise<never> {
  await run.drainNotifications();
  // A host run must have started (its run ID known) to be carried, also one a handler launches while
  // this waits: one condition for both (runs that carry none have none starting).
  await condition(() => run.starting.size === 0 && allHandlersFinished());
  const { input } = run;
  const inFlight = [...run.inFlight.values()];
  return continueAsNew<(input: CampaignInput) => Promise<CampaignStatus>>({
    campaignId: input.campaignId,
    startedBy: input.startedBy,
    fileSha256: input.fileSha256,
    plan: run.plan,
    carry: {
      status: run.status,
      doneInWave: [...run.doneInWave],
      phase,
      ...(inFlight.length ? { inFlight } : {}),
    },
  });
}
