/**
 * Messages of the campaign and host workflows: the one contract clients and workflows share. Names carry
 * their kind as a suffix.
 */
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { ApprovalDecision, ApprovalRecord, CampaignStatus, HostState } from '../domain/schema.js';

export interface HostProgress {
  campaignId: string;
  hostId: string;
  state: HostState;
  step: string;
}

export const campaignStatusQuery = defineQuery<CampaignStatus>('campaignStatus');
export const hostProgressQuery = defineQuery<HostProgress>('hostProgress');
export const approveStageUpdate = defineUpdate<ApprovalRecord, [ApprovalDecision]>('approveStage');
