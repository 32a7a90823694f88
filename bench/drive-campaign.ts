/**
 * How a benchmark drives a campaign to its end: it asks the campaign's own status query only
 * (`campaignStatus` also queries every host in flight, and a query that reaches a host mid-task makes
 * it complete that task early: an extra round trip each), asks again when a busy worker does not answer
 * in time, approves each gate once as it opens, and returns at the first state it is told to stop at.
 */
import type { Client } from '@temporalio/client';
import { approveStage, type Signing } from '../client/campaigns.js';
import { TERMINAL_CAMPAIGN_STATES, type CampaignState, type CampaignStatus } from '../domain/schema.js';
import { campaignStatusQuery } from '../workflows/contract.js';

/** States a person would have to act in: a benchmark stops there instead of waiting. */
export const NEEDS_A_PERSON: readonly CampaignState[] = ['needs-decision', 'needs-attention', 'soak-review'];

export interface Drive {
  /** Who approves each gate as it opens, and with what key. */
  approver: { identity: string; signing: Signing };
  /** States to stop at (default: the terminal ones). */
  stopAt?: readonly CampaignState[];
  pollMs?: number;
  /** Sees every status read (progress lines, memory samples). */
  onStatus?: (status: CampaignStatus) => void;
  /** Told when a gate has been approved. */
  onApproved?: (stage: string) => void;
}

export async function driveCampaign(client: Client, id: string, drive: Drive): Promise<CampaignStatus> {
  const stopAt = drive.stopAt ?? TERMINAL_CAMPAIGN_STATES;
  const pollMs = drive.pollMs ?? 1_000;
  const approved = new Set<string>();
  for (;;) {
    const status = await client.workflow
      .getHandle(id)
      .query(campaignStatusQuery)
      .catch(() => undefined);
    if (status) {
      drive.onStatus?.(status);
      const gate = status.gates.find((g) => g.state === 'open');
      if (status.state === 'awaiting-approval' && gate && !approved.has(gate.stage)) {
        await approveStage(
          client,
          id,
          {
            stage: gate.stage,
            identity: drive.approver.identity,
            artifactSha256: status.patch.sha256,
            hostSetDigest: gate.hostSetDigest,
          },
          drive.approver.signing,
        );
        approved.add(gate.stage);
        drive.onApproved?.(gate.stage);
      }
      if (stopAt.includes(status.state)) return status;
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
