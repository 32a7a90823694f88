import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseCampaignFile } from '../../client/campaign-file.js';
import { planCampaign } from '../../domain/planner.js';
import { CampaignFile, campaignFileJsonSchema } from '../../domain/schema.js';
import { labFleetShape } from '../../lab/lab.js';
import { labCampaign } from '../../lab/lab-campaign.js';
import { PROJECT_ROOT } from '../../runtime/paths.js';

describe('examples/campaign.yaml', () => {
  it('is a valid campaign file: canary, a second gate, the rest; one host left out with its reason', () => {
    const file = parseCampaignFile(readFileSync(`${PROJECT_ROOT}/examples/campaign.yaml`, 'utf8'));
    const plan = planCampaign(file);
    expect(plan.testHosts).toEqual(['pacs-test']);
    expect(plan.waves.map((w) => [w.name, w.hosts.map((h) => h.id)])).toEqual([
      ['canary', ['archive-01']],
      ['rest', ['archive-02', 'nas-01']],
    ]);
    expect(plan.gates.map((g) => [g.stage, g.hosts])).toEqual([
      ['production', ['archive-01']],
      ['after-canary', ['archive-02', 'nas-01']],
    ]);
    expect(plan.excluded).toEqual([
      {
        hostId: 'dws-reading-1',
        reason: 'prerequisite unknown: service pack not in inventory (patch needs SP2+)',
      },
    ]);
    expect(plan.groupBudgets).toEqual({ 'archive-pair': 1 });
    expect(plan.waves[1]!.hosts[0]).toEqual({ id: 'archive-02', group: 'archive-pair', window: 'nights' });
  });

  it('the JSON Schema describes the same file format', () => {
    const schema = campaignFileJsonSchema() as {
      properties: Record<string, { properties?: Record<string, unknown> }>;
    };
    expect(Object.keys(schema.properties)).toEqual(['apiVersion', 'fleet', 'patch', 'campaign']);
    expect(Object.keys(schema.properties.campaign!.properties!)).toEqual(
      expect.arrayContaining([
        'approvals',
        'failureBudget',
        'redundancy',
        'maintenanceWindows',
        'rollback',
        'people',
      ]),
    );
  });
});

describe('the lab campaign (rollout lab campaign)', () => {
  it('groups archives in mirrored pairs, so a large lab does not patch them one at a time', () => {
    const hosts = labFleetShape(50).map((h, i) => ({
      ...h,
      address: `127.0.10.${11 + i}`,
      port: 2222,
      hostKey: 'SHA256:pphxM2T9x6N5R+MBFqpSMwUTAgXKIqPURYlGJ6KkelI',
      dicomAet: h.id.toUpperCase().replace(/-/g, '_'),
      dicomPort: 104,
    }));
    const inventory = {
      dir: '/lab',
      keyDir: '/lab/keys',
      mountPoint: '/mnt',
      controller: { address: '127.0.10.2', port: 2222, user: 'root', hostKey: hosts[0]!.hostKey },
      hosts,
    };
    const file = CampaignFile.parse(labCampaign(inventory));
    const groups = new Map<string, string[]>();
    for (const h of file.fleet.hosts)
      if (h.redundancyGroup) groups.set(h.redundancyGroup, [...(groups.get(h.redundancyGroup) ?? []), h.id]);
    const archives = hosts.filter((h) => h.role === 'archive').length;
    expect(archives).toBe(13);
    expect(groups.size).toBe(7);
    expect([...groups.values()].every((members) => members.length <= 2)).toBe(true);
    expect(groups.get('archive-pair-1')).toEqual(['archive-01', 'archive-02']);
    expect(Object.values(planCampaign(file).groupBudgets).every((b) => b === 1)).toBe(true);
  });
});
