/** Workflow IDs and task queue names: the contract shared by workers, clients and workflows. */

export const TASK_QUEUE = 'pacs-rollout';

/**
 * One per-host workflow ID, whatever the campaign: Temporal refuses a second running workflow with the
 * same ID, so a host can be in only one campaign at a time.
 */
export function hostWorkflowId(hostId: string): string {
  return `patch-host/${hostId}`;
}

export function campaignWorkflowId(campaignId: string): string {
  return campaignId;
}

/** A campaign ID from its name and a start instant: readable, sortable, unique enough for people. */
export function newCampaignId(name: string, nowMs: number, random: string): string {
  const slug = name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '')
    .slice(0, 40);
  const stamp = new Date(nowMs).toISOString().replace(/[-:]/g, '').slice(0, 15);
  return `campaign-${slug || 'unnamed'}-${stamp}-${random}`;
}
