/**
 * Messages of the campaign and host workflows: the one contract clients and workflows share. Names carry
 * their kind as a suffix. Every human action is an Update: a validator refuses it before anything is
 * written to history, and an accepted one returns the record that was kept.
 */
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type {
  ApprovalDecision,
  ApprovalRecord,
  CampaignStatus,
  Decision,
  HostAction,
  HostState,
  OperatorControl,
  Rejection,
  SoakReview,
} from '../domain/schema.js';

export interface HostProgress {
  campaignId: string;
  hostId: string;
  state: HostState;
  step: string;
}

export const campaignStatusQuery = defineQuery<CampaignStatus>('campaignStatus');
export const hostProgressQuery = defineQuery<HostProgress>('hostProgress');

export const approveStageUpdate = defineUpdate<ApprovalRecord, [ApprovalDecision]>('approveStage');
export const rejectStageUpdate = defineUpdate<ApprovalRecord, [Rejection]>('rejectStage');
export const reviewSoakUpdate = defineUpdate<Decision, [SoakReview]>('reviewSoak');
export const pauseUpdate = defineUpdate<Decision, [OperatorControl]>('pause');
export const resumeUpdate = defineUpdate<Decision, [OperatorControl]>('resume');
export const abortUpdate = defineUpdate<Decision, [OperatorControl]>('abort');
export const hostActionUpdate = defineUpdate<Decision, [HostAction]>('hostAction');
