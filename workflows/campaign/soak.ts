/**
 * Phase 2: the soak. Probes the test systems on the schedule start + k × interval until the soak ends
 * (or fails early), extends it for missed probes when the plan allows, then gives the verdict; an
 * inconclusive one waits for a person's review.
 */
import { failureText } from './failures.js';
import { condition, patched, workflowInfo } from '@temporalio/workflow';
import { gateAudience } from '../../domain/access.js';
import { failsEarly, scheduledProbes, soakExtensionMs, soakVerdict } from '../../domain/soak.js';
import type { SoakProbe } from '../../domain/schema.js';
import { watched } from './activities.js';
import { carryOn, end, type Ending } from './ending.js';
import { launch } from './hosts.js';
import type { CampaignRun } from './state.js';

export async function soak(run: CampaignRun): Promise<Ending> {
  const { input, plan, status } = run;
  status.state = 'soaking';
  const start = status.soak.startedAt ? Date.parse(status.soak.startedAt) : Date.now();
  let endsAt = start + plan.soak.durationMs + (status.soak.extendedByMs ?? 0);
  status.soak.startedAt = new Date(start).toISOString();
  status.soak.endsAt = new Date(endsAt).toISOString();
  const scheduled = scheduledProbes(plan.soak.durationMs, plan.soak.probeIntervalMs);
  /** Extends the soak to make up missed probes, within the plan's bound; false when it may not. */
  const extendForMissedProbes = (): boolean => {
    if (plan.soak.missedProbes !== 'extend' || !patched('soak-extend')) return false;
    const extendedBy = status.soak.extendedByMs ?? 0;
    const extra = soakExtensionMs(
      status.soak.probes,
      plan.soak.criteria,
      scheduled,
      plan.soak.probeIntervalMs,
      extendedBy,
      plan.soak.maxExtensionMs ?? 0,
    );
    if (extra <= 0) return false;
    const missed = scheduled - status.soak.probes.filter((p) => p.result !== 'error').length;
    status.soak.extendedByMs = extendedBy + extra;
    status.soak.extension = `extended by ${Math.round(status.soak.extendedByMs / 1000)} s in all to make up ${missed} probe(s) that did not run (at most ${Math.round((plan.soak.maxExtensionMs ?? 0) / 1000)} s)`;
    endsAt += extra;
    status.soak.endsAt = new Date(endsAt).toISOString();
    run.changed();
    return true;
  };
  for (;;) {
    let probe: SoakProbe;
    try {
      probe = await watched.probeTestHosts(input.campaignId, input.fileSha256, plan.testHosts);
    } catch (err) {
      probe = { at: '', result: 'error', failed: [`probe could not run: ${failureText(err)}`] };
    }
    // The workflow's clock, not the worker's: the timeline is what the campaign saw, replayably.
    status.soak.probes.push({ ...probe, at: run.now() });
    run.changed();
    if (failsEarly(status.soak.probes, plan.soak.criteria)) break;
    if (Date.now() >= endsAt && !extendForMissedProbes()) break;
    // Probes keep to the schedule start + k × interval; a slot missed (worker down) stays missed.
    const nextSlot =
      start + (Math.floor((Date.now() - start) / plan.soak.probeIntervalMs) + 1) * plan.soak.probeIntervalMs;
    await condition(() => status.aborting, Math.min(nextSlot, endsAt) - Date.now());
    if (status.aborting) return end('aborted');
    if (workflowInfo().continueAsNewSuggested) await carryOn(run, 'soak');
  }
  const verdict = soakVerdict(status.soak.probes, plan.soak.criteria, scheduled);
  status.soak.verdict = verdict.verdict;
  status.soak.reason = verdict.reason;
  if (verdict.verdict === 'inconclusive') {
    status.state = 'soak-review';
    await run.notify({
      kind: 'approval-requested',
      to: plan.gates[0] ? gateAudience(plan.gates[0], plan.people) : run.operators(),
      text: `soak inconclusive (${verdict.reason}): review with accept or fail`,
    });
    await condition(() => run.soakReviewed || status.aborting);
    if (status.aborting) return end('aborted');
  }
  if (status.soak.verdict === 'fail') {
    if (plan.rollback.testSystemOnSoakFailure)
      for (const [hostId, image] of Object.entries(status.testImages))
        launch(run, hostId, 'rollback', undefined, image, true);
    return end('soak-failed', `soak failed: ${status.soak.reason}`);
  }
  status.currentWave = 0;
  run.doneInWave.clear();
  return undefined;
}
