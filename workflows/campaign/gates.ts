/**
 * Phase 3a: the approval gate before a wave. Opens it (once), notifies its audience, reminds on the
 * plan's schedule and waits for the required approvals, a rejection, an abort or the expiry.
 */
import { condition, patched } from '@temporalio/workflow';
import { gateAudience } from '../../domain/access.js';
import type { GateStatus } from '../../domain/schema.js';
import { checkArtifact } from './artifact.js';
import type { CampaignRun } from './state.js';

export async function passGate(
  run: CampaignRun,
  wave: number,
): Promise<'pass' | 'rejected' | 'approval-expired' | 'aborted' | 'artifact-changed'> {
  const { plan, status } = run;
  const gate = status.gates.find((g) => g.beforeWave === wave);
  const gatePlan = plan.gates.find((g) => g.beforeWave === wave);
  if (!gate || !gatePlan || gate.state === 'approved') return 'pass';
  if (run.patches.reverify && !gate.openedAt) {
    // Nobody is asked to approve an artifact that is no longer the one tested.
    const artifact = await checkArtifact(run);
    if (artifact !== 'ok') return artifact === 'changed' ? 'artifact-changed' : 'aborted';
  }
  status.state = 'awaiting-approval';
  gate.state = 'open';
  const audience = gateAudience(gatePlan, plan.people);
  if (!gate.openedAt) {
    gate.openedAt = run.now();
    gate.expiresAt = new Date(Date.now() + gatePlan.expiresAfterMs).toISOString();
    await run.notify({
      kind: 'approval-requested',
      stage: gate.stage,
      to: audience,
      text: `approve stage ${gate.stage} (${gate.hostCount} hosts) by ${gate.expiresAt}`,
    });
  }
  const opened = Date.parse(gate.openedAt);
  const decided = () => gate.state !== 'open' || status.aborting || run.artifactChanged;
  for (const offset of gatePlan.remindersMs) {
    const left = opened + offset - Date.now();
    if (left <= 0) continue;
    if (await condition(decided, left)) break;
    await run.notify({
      kind: 'approval-reminder',
      stage: gate.stage,
      to: audience,
      text: `reminder: stage ${gate.stage} awaits ${gate.required - gate.decisions.length} approval(s); expires ${gate.expiresAt}`,
    });
  }
  const expiresIn = Date.parse(gate.expiresAt ?? '') - Date.now();
  if (!decided() && expiresIn > 0) await condition(decided, expiresIn);
  // Handlers changed the gate while this function waited; read it afresh.
  const final: GateStatus['state'] = gate.state as GateStatus['state'];
  if (run.artifactChanged) return 'artifact-changed';
  if (status.aborting) return 'aborted';
  if (final === 'rejected') return 'rejected';
  if (final !== 'approved') {
    gate.state = 'expired';
    status.reason = `nobody approved stage ${gate.stage} before ${gate.expiresAt}`;
    if (patched('notify-rollback-and-expiry'))
      await run.notify({ kind: 'gate-expired', stage: gate.stage, to: run.operators(), text: status.reason });
    return 'approval-expired';
  }
  return 'pass';
}
