/** Phase 4: after the last wave, the campaign waits for on-call actions on every host that needs one. */
import { end, type Ending } from './ending.js';
import type { CampaignRun } from './state.js';

export async function awaitOnCall(run: CampaignRun): Promise<Ending> {
  const { plan, status } = run;
  status.currentWave = plan.waves.length;
  while ((run.attention.size > 0 || run.inFlight.size > 0) && !status.aborting) {
    status.state = run.inFlight.size > 0 ? 'rolling-out' : 'needs-attention';
    status.waitingFor = `on-call action on ${[...run.attention].join(', ')}`;
    await run.nextChange();
  }
  return end(status.aborting ? 'aborted' : 'completed');
}
