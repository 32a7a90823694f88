import {
  ApplicationFailure,
  condition,
  executeChild,
  proxyActivities,
  setHandler,
  sleep,
  allHandlersFinished,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { HostActivities } from '../activities/host-activities.js';
import { hostWorkflowId } from '../domain/ids.js';
import { hostPatchInput, planCampaign } from '../domain/planner.js';
import type {
  ApprovalDecision,
  ApprovalRecord,
  CampaignInput,
  CampaignStatus,
  HostOutcome,
  SoakProbe,
} from '../domain/schema.js';
import { QUICK } from './activity-options.js';
import { approveStageUpdate, campaignStatusQuery } from './contract.js';
import { hostPatchWorkflow } from './host-patch.js';

const quick = proxyActivities<HostActivities>(QUICK);

/** Checks an approval against the gate's rules; throws the refusal a client sees. Pure: no state changes. */
export function validateApproval(
  status: CampaignStatus,
  approvers: CampaignInput['file']['campaign']['approval'],
  d: ApprovalDecision,
): void {
  const refuse = (type: string, message: string) => {
    throw ApplicationFailure.create({ type, message, nonRetryable: true });
  };
  if (status.state !== 'awaiting-approval')
    refuse('InvalidPhase', `campaign is ${status.state}, not awaiting approval`);
  if (d.stage !== approvers.stage)
    refuse('UnknownStage', `the open gate is "${approvers.stage}", not "${d.stage}"`);
  if (!approvers.approvers.some((a) => a.identity === d.identity))
    refuse('NotAnApprover', `${d.identity} may not approve stage ${d.stage}`);
  if (d.identity === status.startedBy)
    refuse('FourEyes', `${d.identity} started this campaign and cannot approve it`);
  if (d.artifactSha256 !== status.patch.sha256)
    refuse(
      'StaleApproval',
      `approval names checksum ${d.artifactSha256}, the campaign installs ${status.patch.sha256}`,
    );
}

/**
 * One patch campaign: install on the test system(s), soak with periodic health probes, wait for the
 * vendor's approval (an Update with a validator), then roll out wave by wave with at most `concurrency`
 * hosts at once. Each host runs as its own child workflow. Returns the final status (the report).
 */
export async function campaignWorkflow(input: CampaignInput): Promise<CampaignStatus> {
  const { file } = input;
  const plan = planCampaign(file);
  const rolloutHosts = plan.waves.flatMap((w) => w.hosts);
  const status: CampaignStatus = {
    campaignId: input.campaignId,
    name: file.campaign.name,
    state: 'test-install',
    startedBy: input.startedBy,
    patch: { id: file.patch.id, version: file.patch.version, sha256: file.patch.artifact.sha256 },
    testHosts: plan.testHosts,
    soak: {
      durationMs: file.campaign.soak.duration,
      probeIntervalMs: file.campaign.soak.probeInterval,
      probes: [],
    },
    approvals: [],
    waves: plan.waves,
    currentWave: -1,
    hosts: Object.fromEntries([...plan.testHosts, ...rolloutHosts].map((h) => [h, 'pending' as const])),
    outcomes: [],
  };
  setHandler(campaignStatusQuery, () => status);

  let approved = false;
  setHandler(
    approveStageUpdate,
    (decision): ApprovalRecord => {
      const record: ApprovalRecord = {
        stage: decision.stage,
        identity: decision.identity,
        role:
          file.campaign.approval.approvers.find((a) => a.identity === decision.identity)?.role ?? 'vendor',
        artifactSha256: decision.artifactSha256,
        comment: decision.comment ?? '',
        at: new Date().toISOString(),
        soakVerdict: status.soak.verdict ?? 'none',
        probesSeen: status.soak.probes.length,
      };
      status.approvals.push(record);
      approved = true;
      return record;
    },
    { validator: (decision) => validateApproval(status, file.campaign.approval, decision) },
  );

  const finish = async (state: CampaignStatus['state']) => {
    status.state = state;
    await condition(allHandlersFinished);
    return status;
  };

  async function patchHost(hostId: string): Promise<HostOutcome> {
    status.hosts[hostId] = 'preflight';
    let outcome: HostOutcome;
    try {
      outcome = await executeChild(hostPatchWorkflow, {
        workflowId: hostWorkflowId(hostId),
        args: [hostPatchInput(file, input.campaignId, hostId)],
      });
    } catch (err) {
      const busy = err instanceof WorkflowExecutionAlreadyStartedError;
      const now = new Date().toISOString();
      outcome = {
        hostId,
        state: 'needs-attention',
        failure: {
          step: 'start',
          type: busy ? 'HostBusy' : 'HostWorkflowFailed',
          message: busy ? `${hostId} is already being patched by another campaign` : String(err),
        },
        timings: [],
        startedAt: now,
        finishedAt: now,
      };
    }
    status.hosts[hostId] = outcome.state;
    status.outcomes.push(outcome);
    return outcome;
  }

  async function runPool(hostIds: string[], limit: number): Promise<HostOutcome[]> {
    const queue = [...hostIds];
    const results: HostOutcome[] = [];
    const lane = async () => {
      for (let next = queue.shift(); next !== undefined; next = queue.shift())
        results.push(await patchHost(next));
    };
    await Promise.all(Array.from({ length: Math.min(limit, hostIds.length) }, lane));
    return results;
  }

  await quick.verifySourceArtifact(file.patch);

  // 1. Test system.
  const testOutcomes = await runPool(plan.testHosts, plan.testHosts.length);
  if (testOutcomes.some((o) => o.state !== 'patched' && o.state !== 'already-patched'))
    return finish('test-failed');

  // 2. Soak: probe every interval for the whole duration; the timeline is the approver's evidence.
  status.state = 'soaking';
  const soakStart = Date.now();
  const soakEnd = soakStart + file.campaign.soak.duration;
  status.soak.startedAt = new Date(soakStart).toISOString();
  status.soak.endsAt = new Date(soakEnd).toISOString();
  for (;;) {
    const failed: string[] = [];
    for (const hostId of plan.testHosts) {
      const report = await quick.checkHealth(hostPatchInput(file, input.campaignId, hostId));
      if (!report.ok) failed.push(...report.checks.filter((c) => !c.ok).map((c) => `${hostId}/${c.name}`));
    }
    const probe: SoakProbe = { at: new Date().toISOString(), ok: failed.length === 0, failed };
    status.soak.probes.push(probe);
    const left = soakEnd - Date.now();
    if (left <= 0) break;
    await sleep(Math.min(file.campaign.soak.probeInterval, left));
  }
  status.soak.verdict = status.soak.probes.every((p) => p.ok) ? 'pass' : 'fail';
  if (status.soak.verdict === 'fail') return finish('soak-failed');

  // 3. Vendor approval gate.
  status.state = 'awaiting-approval';
  await condition(() => approved);

  // 4. Waves.
  status.state = 'rolling-out';
  for (const [index, wave] of plan.waves.entries()) {
    status.currentWave = index;
    await runPool(wave.hosts, file.campaign.concurrency);
  }
  return finish('completed');
}
