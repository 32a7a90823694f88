import { describe, expect, it } from 'vitest';
import { hostPatchInput, PlanInfeasible, planCampaign, waveSize } from '../../domain/planner.js';
import { CampaignFile } from '../../domain/schema.js';
import { validCampaign } from '../fixtures/campaign.js';

const ids = (plan: ReturnType<typeof planCampaign>) =>
  plan.waves.map((w) => ({ name: w.name, hosts: w.hosts.map((h) => h.id) }));

function infeasible(raw: ReturnType<typeof validCampaign>): string[] {
  try {
    planCampaign(CampaignFile.parse(raw));
  } catch (err) {
    expect(err).toBeInstanceOf(PlanInfeasible);
    return (err as PlanInfeasible).problems;
  }
  throw new Error('the plan was accepted');
}

describe('planner', () => {
  it('puts the test system first, then a canary of one, then the rest, behind one gate', () => {
    const plan = planCampaign(CampaignFile.parse(validCampaign(6)));
    expect(plan.testHosts).toEqual(['h0']);
    expect(ids(plan)).toEqual([
      { name: 'canary', hosts: ['h1'] },
      { name: 'rest', hosts: ['h2', 'h3', 'h4', 'h5'] },
    ]);
    expect(plan.gates).toEqual([
      expect.objectContaining({ stage: 'production', beforeWave: 0, hosts: ['h1', 'h2', 'h3', 'h4', 'h5'] }),
    ]);
    expect(plan.excluded).toEqual([]);
    expect(plan.failuresAllowed).toBe(1);
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
    const plan = planCampaign(CampaignFile.parse(validCampaign(2)));
    expect(ids(plan)).toEqual([{ name: 'canary', hosts: ['h1'] }]);
  });

  it('excludes hosts outside the targets, already patched, or failing prerequisites, and says why', () => {
    const raw = validCampaign(6);
    raw.campaign.targets = {
      roles: ['archive', 'nas', 'database', 'qa-workstation', 'diagnostic-workstation'],
    };
    raw.patch.prerequisites = { minServicePack: 3, os: ['pacs-linux'] };
    raw.fleet.hosts.forEach((h) => Object.assign(h, { os: 'pacs-linux', servicePack: 3 }));
    raw.fleet.hosts[1]!.installedPatches = ['secfix'];
    raw.fleet.hosts[2]!.servicePack = 2;
    delete raw.fleet.hosts[3]!.servicePack;
    raw.fleet.hosts[4]!.os = 'windows-10';
    const plan = planCampaign(CampaignFile.parse(raw));
    expect(plan.excluded).toEqual([
      { hostId: 'h1', reason: 'already patched: inventory lists secfix' },
      { hostId: 'h2', reason: 'prerequisite not met: service pack 2 < required 3' },
      { hostId: 'h3', reason: 'prerequisite unknown: service pack not in inventory (patch needs SP3+)' },
      { hostId: 'h4', reason: 'prerequisite not met: OS windows-10 is not pacs-linux' },
    ]);
    expect(ids(plan)).toEqual([{ name: 'canary', hosts: ['h5'] }]);
  });

  it('excludes hosts outside the target selection by role, group and site', () => {
    const raw = validCampaign(6);
    raw.campaign.targets = { roles: ['archive', 'nas'] };
    const plan = planCampaign(CampaignFile.parse(raw));
    expect(plan.waves.flatMap((w) => w.hosts.map((h) => h.id))).toEqual(['h1', 'h3']);
    expect(plan.excluded).toContainEqual({ hostId: 'h2', reason: 'role database not in targets.roles' });
    raw.campaign.targets = { sites: ['east'] };
    raw.fleet.hosts[2]!.site = 'east';
    expect(planCampaign(CampaignFile.parse(raw)).waves.flatMap((w) => w.hosts.map((h) => h.id))).toEqual([
      'h2',
    ]);
  });

  it('computes group budgets from maxUnavailable, minAvailable or the default, and carries windows', () => {
    const raw = validCampaign(7);
    raw.fleet.hosts.forEach((h, i) => {
      if (i > 0) h.redundancyGroup = i <= 3 ? 'archive' : i <= 5 ? 'db' : 'dws';
    });
    raw.fleet.hosts[6]!.maintenanceWindow = 'night';
    raw.campaign.maintenanceWindows = [
      { name: 'night', days: ['mon'], start: '22:00', end: '02:00', timeZone: 'UTC' },
    ];
    raw.campaign.redundancy = {
      defaultMaxUnavailable: 2,
      groups: [
        { name: 'archive', minAvailable: 2 },
        { name: 'db', maxUnavailable: 1 },
      ],
    };
    const plan = planCampaign(CampaignFile.parse(raw));
    expect(plan.groupBudgets).toEqual({ archive: 1, db: 1, dws: 2 });
    expect(plan.waves[1]!.hosts.at(-1)).toEqual({ id: 'h6', group: 'dws', window: 'night' });
  });

  it('takes the lower of the absolute and percentage failure budgets', () => {
    const raw = validCampaign(21);
    raw.campaign.failureBudget = { maxFailures: 5, maxFailedPercent: 10 };
    expect(planCampaign(CampaignFile.parse(raw)).failuresAllowed).toBe(2);
    raw.campaign.failureBudget = {};
    expect(planCampaign(CampaignFile.parse(raw)).failuresAllowed).toBe(20);
  });

  it('binds a later gate to the hosts it releases', () => {
    const raw = validCampaign(6);
    raw.campaign.approvals.push({ stage: 'after-canary', beforeWave: 'rest', roles: ['operator'] });
    const plan = planCampaign(CampaignFile.parse(raw));
    expect(plan.gates.map((g) => [g.stage, g.beforeWave, g.hosts])).toEqual([
      ['production', 0, ['h1']],
      ['after-canary', 1, ['h2', 'h3', 'h4', 'h5']],
    ]);
  });

  it('refuses a redundancy group that must keep every member available', () => {
    const raw = validCampaign(4);
    raw.fleet.hosts[1]!.redundancyGroup = 'archive-pair';
    raw.fleet.hosts[2]!.redundancyGroup = 'archive-pair';
    raw.campaign.redundancy = { groups: [{ name: 'archive-pair', minAvailable: 2 }] };
    expect(infeasible(raw)).toEqual([
      'redundancy group archive-pair (2 members) allows 0 unavailable: no wave order can patch its 2 targeted host(s)',
    ]);
  });

  it('refuses a plan with nothing to patch, a gate before an empty wave, or too few approvers', () => {
    const none = validCampaign(3);
    none.campaign.targets = { roles: ['web'] };
    expect(infeasible(none)).toEqual(['no host is left to patch after targets and exclusions']);

    const late = validCampaign(2);
    late.campaign.approvals.push({ stage: 'later', beforeWave: 'rest' });
    expect(infeasible(late)).toEqual(['approval stage later opens before wave "rest", which gets no hosts']);

    const quorum = validCampaign(3);
    quorum.campaign.approvals[0]!.required = 3;
    expect(infeasible(quorum)).toEqual([
      'approval stage production needs 3 approver(s) but only 2 may approve it',
    ]);
  });

  it('refuses a test system that does not meet the prerequisites', () => {
    const raw = validCampaign(3);
    raw.patch.prerequisites = { minServicePack: 2 };
    raw.fleet.hosts.forEach((h) => (h.servicePack = 2));
    raw.fleet.hosts[0]!.servicePack = 1;
    expect(infeasible(raw)).toEqual(['test system h0: prerequisite not met: service pack 1 < required 2']);
  });

  it('gives a host workflow only its own host, controllers and checks', () => {
    const raw = validCampaign(6);
    raw.fleet.controllers.push({ ...raw.fleet.controllers[0]!, id: 'bmc-1' });
    raw.fleet.hosts[3]!.powerController = 'bmc-1';
    const file = CampaignFile.parse(raw);
    const input = hostPatchInput(file, 'c-1', 'h3');
    expect(input.host.id).toBe('h3');
    expect(input.imageProvider.id).toBe('hv-1');
    expect(input.powerController.id).toBe('bmc-1');
    expect(input.healthChecks.map((c) => c.name)).toEqual(['dicom-port']);
    expect(() => hostPatchInput(file, 'c-1', 'nope')).toThrow('unknown host nope');
  });
});
