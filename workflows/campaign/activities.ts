/** The activities a campaign calls, with their timeout presets (types only: the code runs on workers). */
import { proxyActivities } from '@temporalio/workflow';
import type { CampaignActivities } from '../../activities/campaign-activities.js';
import type { TrustActivities } from '../../activities/trust-activities.js';
import { HEARTBEATING, QUICK } from '../activity-options.js';

export const quick = proxyActivities<CampaignActivities>(QUICK);
export const heartbeating = proxyActivities<CampaignActivities>(HEARTBEATING);
export const trust = proxyActivities<TrustActivities>(QUICK);
