/**
 * The typed client every interface uses (CLI, demo, later the API): start, status, approve, wait.
 * Every call carries a deadline, so a missing worker or server gives an error instead of a hang.
 */
import { randomBytes } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { campaignWorkflowId, hostWorkflowId, newCampaignId } from '../domain/ids.js';
import type { ApprovalDecision, ApprovalRecord, CampaignFile, CampaignStatus } from '../domain/schema.js';
import type { campaignWorkflow } from '../workflows/campaign.js';
import { approveStageUpdate, campaignStatusQuery, hostProgressQuery } from '../workflows/contract.js';

export const CALL_DEADLINE_MS = 15_000;

function within<T>(client: Client, fn: () => Promise<T>, ms = CALL_DEADLINE_MS): Promise<T> {
  return client.withDeadline(Date.now() + ms, fn);
}

export async function startCampaign(
  client: Client,
  taskQueue: string,
  file: CampaignFile,
  startedBy: string,
): Promise<string> {
  const campaignId = newCampaignId(file.campaign.name, Date.now(), randomBytes(3).toString('hex'));
  await within(client, () =>
    client.workflow.start<typeof campaignWorkflow>('campaignWorkflow', {
      workflowId: campaignWorkflowId(campaignId),
      taskQueue,
      args: [{ campaignId, startedBy, file }],
    }),
  );
  return campaignId;
}

/** The campaign's status, with in-flight hosts' live step read from their own workflows. */
export async function campaignStatus(
  client: Client,
  campaignId: string,
): Promise<CampaignStatus & { steps: Record<string, string> }> {
  const status = await within(client, () =>
    client.workflow.getHandle(campaignWorkflowId(campaignId)).query(campaignStatusQuery),
  );
  const steps: Record<string, string> = {};
  const inFlight = Object.entries(status.hosts).filter(([, state]) => state === 'preflight');
  await Promise.all(
    inFlight.map(async ([hostId]) => {
      try {
        const progress = await within(
          client,
          () => client.workflow.getHandle(hostWorkflowId(hostId)).query(hostProgressQuery),
          5_000,
        );
        if (progress.campaignId !== campaignId) return;
        status.hosts[hostId] = progress.state;
        steps[hostId] = progress.step;
      } catch {
        // Not started yet, or finished between the two queries: the campaign's own view stands.
      }
    }),
  );
  return { ...status, steps };
}

/** Sends an approval through the gate's validator; a refusal comes back as WorkflowUpdateFailedError. */
export async function approveStage(
  client: Client,
  campaignId: string,
  decision: ApprovalDecision,
): Promise<ApprovalRecord> {
  return within(client, () =>
    client.workflow
      .getHandle(campaignWorkflowId(campaignId))
      .executeUpdate(approveStageUpdate, { args: [decision] }),
  );
}

/** Waits for the campaign to end and returns its final status (the report). No deadline: campaigns are long. */
export async function campaignResult(client: Client, campaignId: string): Promise<CampaignStatus> {
  return client.workflow.getHandle<typeof campaignWorkflow>(campaignWorkflowId(campaignId)).result();
}
