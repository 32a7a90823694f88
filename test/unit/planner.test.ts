import { describe, expect, it } from 'vitest';
import { hostPatchInput, planCampaign, waveSize } from '../../domain/planner.js';
import { CampaignFile } from '../../domain/schema.js';
import { validCampaign } from '../fixtures/campaign.js';

describe('planner', () => {
  it('puts the test system first, then a canary of one, then the rest', () => {
    const plan = planCampaign(CampaignFile.parse(validCampaign(6)));
    expect(plan.testHosts).toEqual(['h0']);
    expect(plan.waves).toEqual([
      { name: 'canary', hosts: ['h1'] },
      { name: 'rest', hosts: ['h2', 'h3', 'h4', 'h5'] },
    ]);
    expect(plan.excluded).toEqual([]);
  });

  it('sizes waves by count or percentage; the last wave takes whatever is left', () => {
    const raw = validCampaign(11);
    raw.campaign.waves = [
      { name: 'canary', size: 1 },
      { name: 'quarter', size: '25%' },
      { name: 'rest', size: 1 },
    ];
    const plan = planCampaign(CampaignFile.parse(raw));
    expect(plan.waves.map((w) => w.hosts.length)).toEqual([1, 3, 6]);
    expect(waveSize({ name: 'x', size: '1%' }, 10)).toBe(1);
  });

  it('drops empty waves when there are fewer targets than waves', () => {
    const raw = validCampaign(2);
    const plan = planCampaign(CampaignFile.parse(raw));
    expect(plan.waves).toEqual([{ name: 'canary', hosts: ['h1'] }]);
  });

  it('excludes hosts outside the target selection and says why', () => {
    const raw = validCampaign(6);
    raw.campaign.targets = { roles: ['archive', 'nas'] };
    const plan = planCampaign(CampaignFile.parse(raw));
    expect(plan.waves.flatMap((w) => w.hosts)).toEqual(['h1', 'h3']);
    expect(plan.excluded).toContainEqual({ hostId: 'h2', reason: 'role database not in targets.roles' });
  });

  it('gives a host workflow only its own host, controller and checks', () => {
    const file = CampaignFile.parse(validCampaign(6));
    const input = hostPatchInput(file, 'c-1', 'h3');
    expect(input.host.id).toBe('h3');
    expect(input.controller.id).toBe('hv-1');
    expect(input.healthChecks.map((c) => c.name)).toEqual(['dicom-port']);
    expect(() => hostPatchInput(file, 'c-1', 'nope')).toThrow('unknown host nope');
  });
});
