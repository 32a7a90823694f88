/** Phase 1: the artifact's check, then the patch on the test system(s). */
import { quick } from './activities.js';
import { end, type Ending } from './ending.js';
import { failureText, failureType } from './failures.js';
import { drainHosts, launch } from './hosts.js';
import type { CampaignRun } from './state.js';

export async function installOnTestSystems(run: CampaignRun): Promise<Ending> {
  const { input, plan, status } = run;
  try {
    await quick.verifyArtifact(input.fileSha256);
  } catch (err) {
    const reason = `the patch artifact failed its check: ${failureText(err)}`;
    return end(failureType(err) === 'SourceArtifactInvalid' ? 'artifact-changed' : 'test-failed', reason);
  }
  for (const hostId of plan.testHosts) launch(run, hostId, 'patch', undefined, undefined, true);
  await drainHosts(run);
  const bad = plan.testHosts.filter((h) => !['patched', 'already-patched'].includes(status.hosts[h] ?? ''));
  if (bad.length) return end('test-failed', `test system(s) not patched: ${bad.join(', ')}`);
  if (status.aborting) return end('aborted');
  return undefined;
}
