/** The worker's plan cache: one plan per campaign file, the file read once, the oldest dropped first. */
import { describe, expect, it } from 'vitest';
import { planCache } from '../../activities/plan-cache.js';
import { PlanInfeasible, planCampaign } from '../../domain/planner.js';
import { CampaignFile } from '../../domain/schema.js';
import { validCampaign } from '../fixtures/campaign.js';

describe('planCache', () => {
  it('plans a file once and answers the same plan after that, without reading the file again', async () => {
    const file = CampaignFile.parse(validCampaign(6));
    let reads = 0;
    const read = async () => {
      reads += 1;
      return file;
    };
    const plans = planCache();
    // Two callers at once share one read.
    const [first, second] = await Promise.all([plans('a'.repeat(64), read), plans('a'.repeat(64), read)]);
    expect(first).toEqual(planCampaign(file));
    expect(second).toBe(first);
    expect(await plans('a'.repeat(64), read)).toBe(first);
    expect(reads).toBe(1);
  });

  it('keeps at most `max` plans, dropping the least recently used', async () => {
    const files = [4, 5, 6].map((n) => CampaignFile.parse(validCampaign(n)));
    let reads = 0;
    const plans = planCache(2);
    const get = (i: number) =>
      plans(String(i), async () => {
        reads += 1;
        return files[i]!;
      });
    await get(0);
    await get(1);
    await get(0); // 0 is now the most recent: 1 goes when 2 comes.
    await get(2);
    expect(reads).toBe(3);
    await get(0);
    expect(reads).toBe(3);
    await get(1);
    expect(reads).toBe(4);
  });

  it('caches nothing for a file that cannot be planned, or that could not be read', async () => {
    const raw = validCampaign(3);
    raw.campaign.targets = { roles: ['web'] };
    const file = CampaignFile.parse(raw);
    let reads = 0;
    const plans = planCache();
    const read = async () => {
      reads += 1;
      return file;
    };
    await expect(plans('x', read)).rejects.toThrow(PlanInfeasible);
    await expect(plans('x', read)).rejects.toThrow(PlanInfeasible);
    expect(reads).toBe(2);
    let fail = true;
    const flaky = async () => {
      if (fail) throw new Error('database unreachable');
      return CampaignFile.parse(validCampaign(4));
    };
    await expect(plans('y', flaky)).rejects.toThrow('database unreachable');
    fail = false;
    expect((await plans('y', flaky)).waves.length).toBeGreaterThan(0);
  });
});
