/** The worker's plan cache: one plan per campaign file, the file read once, the oldest dropped first. */
import { describe, expect, it } from 'vitest';
import { planCache } from '../../activities/plan-cache.js';
import { PlanInfeasible, planCampaign } from '../../domain/planner.js';
import { CampaignFile } from '../../domain/schema.js';
import { validCampaign } from '../fixtures/campaign.js';

describe('planCache', () => {
  it('plans a file once and answers the same plan after that, without reading the file again', () => {
    const file = CampaignFile.parse(validCampaign(6));
    let reads = 0;
    const read = () => {
      reads += 1;
      return file;
    };
    const plans = planCache();
    const first = plans('a'.repeat(64), read);
    expect(first).toEqual(planCampaign(file));
    expect(plans('a'.repeat(64), read)).toBe(first);
    expect(reads).toBe(1);
  });

  it('keeps at most `max` plans, dropping the least recently used', () => {
    const files = [4, 5, 6].map((n) => CampaignFile.parse(validCampaign(n)));
    let reads = 0;
    const plans = planCache(2);
    const get = (i: number) =>
      plans(String(i), () => {
        reads += 1;
        return files[i]!;
      });
    get(0);
    get(1);
    get(0); // 0 is now the most recent: 1 goes when 2 comes.
    get(2);
    expect(reads).toBe(3);
    get(0);
    expect(reads).toBe(3);
    get(1);
    expect(reads).toBe(4);
  });

  it('caches nothing for a file that cannot be planned', () => {
    const raw = validCampaign(3);
    raw.campaign.targets = { roles: ['web'] };
    const file = CampaignFile.parse(raw);
    let reads = 0;
    const plans = planCache();
    const read = () => {
      reads += 1;
      return file;
    };
    expect(() => plans('x', read)).toThrow(PlanInfeasible);
    expect(() => plans('x', read)).toThrow(PlanInfeasible);
    expect(reads).toBe(2);
  });
});
