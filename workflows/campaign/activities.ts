/** The activities a campaign calls, with their timeout presets (types only: the code runs on workers). */
import { proxyActivities } from '@temporalio/workflow';
import type { CampaignActivities } from '../../activities/campaign-activities.js';
import type { TrustActivities } from '../../activities/trust-activities.js';
import { HEARTBEATING, QUICK, QUICK_WATCHED } from '../activity-options.js';

export const quick = proxyActivities<CampaignActivities>(QUICK);
/** Short steps that heartbeat, so one lost to a server restart is retried within seconds. */
export const watched = proxyActivities<CampaignActivities>(QUICK_WATCHED);
export const heartbeating = proxyActivities<CampaignActivities>(HEARTBEATING);
export const trust = proxyActivities<TrustActivities>(QUICK);
