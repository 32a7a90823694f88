/**
 * Plans by campaign-file checksum, computed once per worker process: the file behind a checksum never
 * changes (the store is content-addressed and checks it on read), so neither does its plan. The
 * admission of each run and every wave's members share one cache (composeActivities passes it to both).
 */
import type { CampaignFile } from '../domain/schema.js';
import { planCampaign, type Plan } from '../domain/planner.js';

export type PlanCache = (fileSha256: string, file: () => Promise<CampaignFile>) => Promise<Plan>;

export function planCache(max = 64): PlanCache {
  const plans = new Map<string, Promise<Plan>>();
  return (fileSha256, file) => {
    const known = plans.get(fileSha256);
    if (known) {
      // Most recently used last: the first entry is the one to drop.
      plans.delete(fileSha256);
      plans.set(fileSha256, known);
      return known;
    }
    // Concurrent callers of one checksum share one read and one planning.
    const plan = file().then(planCampaign);
    plans.set(fileSha256, plan);
    // A failure (store unreachable, plan infeasible) is not remembered: the next call tries again.
    plan.catch(() => plans.get(fileSha256) === plan && plans.delete(fileSha256));
    if (plans.size > max) plans.delete(plans.keys().next().value as string);
    return plan;
  };
}
