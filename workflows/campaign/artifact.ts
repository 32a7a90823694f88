/** Re-checking the patch artifact against the checksum that was tested and approved. */
import { condition } from '@temporalio/workflow';
import { heartbeating } from './activities.js';
import { failureText, failureType } from './failures.js';
import type { CampaignRun } from './state.js';

/**
 * A mismatch ends the campaign ("changed"). A file that cannot be read even after retries is not taken
 * as changed (one transient error must not decide): the campaign waits in needs-decision until an
 * operator resumes (check again) or aborts.
 */
export async function checkArtifact(run: CampaignRun): Promise<'ok' | 'changed' | 'aborted'> {
  const { status } = run;
  for (;;) {
    if (run.artifactChanged) return 'changed';
    try {
      await heartbeating.verifyArtifact(run.input.fileSha256);
      return 'ok';
    } catch (err) {
      if (failureType(err) === 'SourceArtifactInvalid') {
        run.artifactChanged = true;
        status.reason = `the patch artifact changed after it was tested and approved: ${failureText(err)}`;
        run.changed();
        return 'changed';
      }
      const before = status.state;
      const seen = run.resumes;
      status.state = 'needs-decision';
      status.waitingFor = `cannot re-check the patch artifact (${failureText(err)}): resume to check again, or abort`;
      await run.notify({ kind: 'needs-decision', to: run.operators(), text: status.waitingFor });
      run.changed();
      await condition(() => run.resumes !== seen || status.aborting);
      status.state = before;
      delete status.waitingFor;
      if (status.aborting) return 'aborted';
    }
  }
}
