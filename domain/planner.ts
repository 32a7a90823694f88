/**
 * The pure batch planner: from a validated campaign file to the test systems, the waves and the hosts
 * left out (and why). No I/O and no clock, so `rollout plan` (the dry run) and the campaign workflow
 * compute exactly the same plan.
 */
import type { CampaignFile, Host, HostPatchInput, WavePlan, WaveSpec } from './schema.js';

export interface Exclusion {
  hostId: string;
  reason: string;
}

export interface Plan {
  testHosts: string[];
  waves: WavePlan[];
  excluded: Exclusion[];
}

function selected(host: Host, file: CampaignFile): string | undefined {
  const t = file.campaign.targets;
  if (t.hosts && !t.hosts.includes(host.id)) return 'not in targets.hosts';
  if (t.roles && !t.roles.includes(host.role)) return `role ${host.role} not in targets.roles`;
  if (t.groups && !(host.redundancyGroup && t.groups.includes(host.redundancyGroup)))
    return 'redundancy group not in targets.groups';
  if (t.sites && !(host.site && t.sites.includes(host.site))) return 'site not in targets.sites';
  return undefined;
}

/** How many hosts a wave takes: a count, or a percentage of all targets (at least one host). */
export function waveSize(spec: WaveSpec, targetCount: number): number {
  if (typeof spec.size === 'number') return spec.size;
  const percent = Number(spec.size.slice(0, -1));
  return Math.max(1, Math.ceil((targetCount * percent) / 100));
}

export function planCampaign(file: CampaignFile): Plan {
  const testHosts = [...file.campaign.testHosts];
  const excluded: Exclusion[] = [];
  const targets: string[] = [];
  for (const host of file.fleet.hosts) {
    if (testHosts.includes(host.id)) continue;
    const reason = selected(host, file);
    if (reason) excluded.push({ hostId: host.id, reason });
    else targets.push(host.id);
  }
  const waves: WavePlan[] = [];
  let next = 0;
  file.campaign.waves.forEach((spec, i) => {
    if (next >= targets.length) return;
    const last = i === file.campaign.waves.length - 1;
    const count = last ? targets.length - next : waveSize(spec, targets.length);
    waves.push({ name: spec.name, hosts: targets.slice(next, next + count) });
    next += count;
  });
  return { testHosts, waves, excluded };
}

/** The input of one host's workflow: only that host's records, never the whole inventory. */
export function hostPatchInput(file: CampaignFile, campaignId: string, hostId: string): HostPatchInput {
  const host = file.fleet.hosts.find((h) => h.id === hostId);
  if (!host) throw new Error(`unknown host ${hostId}`);
  const controller = file.fleet.controllers.find((c) => c.id === host.controller);
  if (!controller) throw new Error(`unknown controller ${host.controller}`);
  const healthChecks = file.fleet.healthChecks.filter((c) => host.healthChecks.includes(c.name));
  return { campaignId, host, controller, healthChecks, patch: file.patch };
}
