import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { planLines } from '../../cli/plan-text.js';
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

describe('examples/windows-fleet.yaml', () => {
  const text = readFileSync(`${PROJECT_ROOT}/examples/windows-fleet.yaml`, 'utf8');

  it('is a valid campaign file: a QA workstation tests, the archive is the canary, reading rooms after', () => {
    const file = parseCampaignFile(text);
    expect(file.fleet.hosts.every((h) => h.platform === 'windows')).toBe(true);
    const plan = planCampaign(file);
    expect(plan.testHosts).toEqual(['qa-ws-01']);
    expect(plan.waves.map((w) => [w.name, w.hosts.map((h) => h.id)])).toEqual([
      ['canary', ['archive-win-01']],
      ['reading-rooms', ['rr-a-ws-01', 'rr-a-ws-02', 'rr-b-ws-01', 'rr-b-ws-02']],
    ]);
    expect(plan.excluded).toEqual([]);
    expect(plan.groupBudgets).toEqual({ 'reading-room-a': 1, 'reading-room-b': 1 });
  });

  it('rollout plan shows each host with its platform and controller, and the package and prerequisites', () => {
    const file = parseCampaignFile(text);
    const lines = planLines(file, planCampaign(file));
    expect(lines[0]).toBe(
      'patch kb5034441 2024.01.1 (Windows update KB5034441 (a host that has it is already patched), .msu through wusa.exe /quiet /norestart; a reboot already pending: restart first)',
    );
    expect(lines[1]).toBe(
      'prerequisites: OS one of "Microsoft Windows 10 Enterprise LTSC", "Microsoft Windows Server 2019 Standard"; service pack 0 or later; 4096 MiB free on C:\\',
    );
    const row = (id: string) => lines.find((l) => l.trimStart().startsWith(`${id} `))!.replace(/\s+/g, ' ');
    expect(row('qa-ws-01')).toBe(
      ' qa-ws-01 windows test system image vcenter (vSphere /Radiology/vm/QA/qa-ws-01) power same',
    );
    expect(row('rr-b-ws-01')).toBe(' rr-b-ws-01 windows wave 2 image hyperv-01 (hyperv) power same');
  });

  it('the .msi alternative in its comments is a valid patch for the same fleet', () => {
    const commented = text.split('# An application update instead (one patch per campaign):\n')[1]!;
    const block = commented
      .split('\n')
      .filter((l) => l.startsWith('  #   '))
      .map((l) => l.slice('  #   '.length))
      .join('\n');
    const document = parseYaml(text) as { patch: unknown };
    document.patch = parseYaml(block);
    const file = CampaignFile.parse(document);
    expect(file.patch.windows).toMatchObject({
      package: 'msi',
      arguments: ['ALLUSERS=1', 'INSTALLDIR=C:\\Program Files\\PacsViewer'],
    });
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
