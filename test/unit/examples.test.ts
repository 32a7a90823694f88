import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseCampaignFile } from '../../client/campaign-file.js';
import { planCampaign } from '../../domain/planner.js';
import { campaignFileJsonSchema } from '../../domain/schema.js';
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
