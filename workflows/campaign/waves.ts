/**
 * Phase 3: gates and waves. Before each wave its gate must pass and the artifact be unchanged; then its
 * hosts start one at a time as the scheduler allows (a free lane, room in the redundancy group, an open
 * window), until the wave is done, the budget is spent (needs-decision), an operator pauses or aborts, or
 * Temporal suggests a new run (the hosts in flight then go on, carried into it). The run continues as
 * new between waves.
 */
import { workflowInfo } from '@temporalio/workflow';
import { budgetSpent, nextHost } from '../../domain/scheduling.js';
import type { WaveHost } from '../../domain/schema.js';
import { quick } from './activities.js';
import { checkArtifact } from './artifact.js';
import { carryOn, end, type Ending } from './ending.js';
import { passGate } from './gates.js';
import { drainHosts, launch, unavailableByGroup } from './hosts.js';
import type { CampaignRun } from './state.js';

export async function rollOut(run: CampaignRun): Promise<Ending> {
  const { input, plan, status } = run;
  for (let w = status.currentWave; w < plan.waves.length; w++) {
    status.currentWave = w;
    const gateOutcome = await passGate(run, w);
    if (gateOutcome !== 'pass') return end(gateOutcome);
    if (run.patches.reverify) {
      const artifact = await checkArtifact(run);
      if (artifact !== 'ok') return end(artifact === 'changed' ? 'artifact-changed' : 'aborted');
    }
    const members = await quick.loadWave(input.fileSha256, w);
    run.waveHosts = new Map(members.map((h) => [h.id, h]));
    // The status lists the test systems, this wave, hosts in flight and failed hosts; totals live in
    // counts. Hosts carried from the last run are in flight: they are not started again.
    status.hosts = Object.fromEntries(
      Object.entries(status.hosts).filter(
        ([id]) =>
          plan.testHosts.includes(id) || run.inFlight.has(id) || status.failed.some((f) => f.hostId === id),
      ),
    );
    const pending = members.filter((h) => !run.doneInWave.has(h.id) && !run.inFlight.has(h.id));
    for (const h of pending) status.hosts[h.id] = 'pending';
    const result = await runWave(run, pending);
    if (result === 'aborted' || result === 'artifact-changed') return end(result);
    if (result === 'continue-as-new') await carryOn(run, 'rollout');
    run.doneInWave.clear();
    if (w + 1 < plan.waves.length) {
      status.currentWave = w + 1;
      await carryOn(run, 'rollout');
    }
  }
  return undefined;
}

async function runWave(
  run: CampaignRun,
  pending: WaveHost[],
): Promise<'done' | 'aborted' | 'continue-as-new' | 'artifact-changed'> {
  const { plan, status } = run;
  let decisionAnnounced = false;
  for (;;) {
    if (run.artifactSuspect) {
      run.artifactSuspect = false;
      const artifact = await checkArtifact(run);
      if (artifact !== 'ok') {
        status.state = 'aborting';
        await drainHosts(run);
        return artifact === 'changed' ? 'artifact-changed' : 'aborted';
      }
    }
    if (status.aborting) {
      status.state = 'aborting';
      await drainHosts(run);
      return 'aborted';
    }
    const spent = budgetSpent(status.budget.failed, status.budget.baseline, status.budget.allowed);
    const wantsNewRun = workflowInfo().continueAsNewSuggested;
    if (spent) {
      status.state = 'needs-decision';
      status.waitingFor = `failure budget spent (${status.budget.failed - status.budget.baseline} failed, ${status.budget.allowed} allowed): resume or abort`;
      if (!decisionAnnounced) {
        decisionAnnounced = true;
        void run.notify({ kind: 'needs-decision', to: run.operators(), text: status.waitingFor });
      }
      await run.nextChange();
      continue;
    }
    decisionAnnounced = false;
    // The hosts still running go on; the new run waits for them (runs recorded before that drain them).
    if (wantsNewRun && !status.paused && run.patches.carryInFlight) return 'continue-as-new';
    if (status.paused || wantsNewRun) {
      status.state = status.paused ? 'paused' : 'rolling-out';
      status.waitingFor = status.paused ? 'paused by an operator' : 'draining hosts before continue-as-new';
      if (!status.paused && run.inFlight.size === 0) return 'continue-as-new';
      await run.nextChange();
      continue;
    }
    status.state = 'rolling-out';
    const step = nextHost({
      pending,
      inFlight: run.inFlight.size,
      concurrency: plan.concurrency,
      unavailableByGroup: unavailableByGroup(run),
      groupBudgets: plan.groupBudgets,
      windows: plan.windows,
      nowMs: Date.now(),
    });
    if (step.kind === 'start') {
      pending.splice(pending.indexOf(step.host), 1);
      delete status.waitingFor;
      launch(run, step.host.id, 'patch', step.host.group);
      continue;
    }
    if (step.kind === 'done') {
      if (run.inFlight.size === 0) {
        delete status.waitingFor;
        return 'done';
      }
      status.waitingFor = `${run.inFlight.size} host(s) in flight`;
      await run.nextChange();
      continue;
    }
    status.waitingFor = step.reason;
    await run.nextChange(step.wakeInMs);
  }
}
