/**
 * The pure batch planner: from a validated campaign file to the test systems, the waves, the approval
 * gates, the budgets and the hosts left out (and why). No I/O and no clock, so `rollout plan` (the dry
 * run) and the campaign workflow compute exactly the same plan. An infeasible plan throws PlanInfeasible.
 */
import type {
  CampaignFile,
  Host,
  HostPatchInput,
  PersonRole,
  PlanSummary,
  WaveHost,
  WaveSpec,
} from './schema.js';

export interface Exclusion {
  hostId: string;
  reason: string;
}

export interface PlannedWave {
  name: string;
  hosts: WaveHost[];
}

export interface PlannedGate {
  stage: string;
  beforeWave: number;
  roles: PersonRole[];
  identities: string[];
  required: number;
  expiresAfterMs: number;
  remindersMs: number[];
  /** The hosts this gate releases: its wave and every later wave up to the next gate. */
  hosts: string[];
}

export interface Plan {
  testHosts: string[];
  waves: PlannedWave[];
  gates: PlannedGate[];
  excluded: Exclusion[];
  failuresAllowed: number;
  /** Effective maximum of unavailable members per redundancy group that has targets. */
  groupBudgets: Record<string, number>;
}

export class PlanInfeasible extends Error {
  constructor(readonly problems: string[]) {
    super(`the plan cannot be carried out:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'PlanInfeasible';
  }
}

function notSelected(host: Host, file: CampaignFile): string | undefined {
  const t = file.campaign.targets;
  if (t.hosts && !t.hosts.includes(host.id)) return 'not in targets.hosts';
  if (t.roles && !t.roles.includes(host.role)) return `role ${host.role} not in targets.roles`;
  if (t.groups && !(host.redundancyGroup && t.groups.includes(host.redundancyGroup)))
    return 'redundancy group not in targets.groups';
  if (t.sites && !(host.site && t.sites.includes(host.site))) return 'site not in targets.sites';
  return undefined;
}

/** Why a host cannot take the patch (prerequisites), or undefined when it can. */
export function prerequisiteProblem(host: Host, file: CampaignFile): string | undefined {
  const { minServicePack, os } = file.patch.prerequisites;
  if (os) {
    if (host.os === undefined)
      return `prerequisite unknown: OS not in inventory (patch needs ${os.join(' or ')})`;
    if (!os.includes(host.os)) return `prerequisite not met: OS ${host.os} is not ${os.join(' or ')}`;
  }
  if (minServicePack !== undefined) {
    if (host.servicePack === undefined)
      return `prerequisite unknown: service pack not in inventory (patch needs SP${minServicePack}+)`;
    if (host.servicePack < minServicePack)
      return `prerequisite not met: service pack ${host.servicePack} < required ${minServicePack}`;
  }
  return undefined;
}

/** How many hosts a wave takes: a count, or a percentage of all targets (at least one host). */
export function waveSize(spec: WaveSpec, targetCount: number): number {
  if (typeof spec.size === 'number') return spec.size;
  const percent = Number(spec.size.slice(0, -1));
  return Math.max(1, Math.ceil((targetCount * percent) / 100));
}

/** Failed hosts tolerated before the campaign pauses: the lower of the absolute and percent limits. */
export function failuresAllowed(file: CampaignFile, rolloutCount: number): number {
  const { maxFailures, maxFailedPercent } = file.campaign.failureBudget;
  const limits = [
    maxFailures,
    maxFailedPercent === undefined ? undefined : Math.floor((rolloutCount * maxFailedPercent) / 100),
  ].filter((n): n is number => n !== undefined);
  return limits.length ? Math.min(...limits) : rolloutCount;
}

function groupBudget(file: CampaignFile, group: string): { budget: number; members: number } {
  const members = file.fleet.hosts.filter((h) => h.redundancyGroup === group).length;
  const spec = file.campaign.redundancy.groups.find((g) => g.name === group);
  if (spec?.maxUnavailable !== undefined) return { budget: spec.maxUnavailable, members };
  if (spec?.minAvailable !== undefined) return { budget: members - spec.minAvailable, members };
  return { budget: file.campaign.redundancy.defaultMaxUnavailable, members };
}

export function planCampaign(file: CampaignFile): Plan {
  const { campaign } = file;
  const problems: string[] = [];
  const testHosts = [...campaign.testHosts];
  const byId = new Map(file.fleet.hosts.map((h) => [h.id, h]));
  for (const id of testHosts) {
    const host = byId.get(id);
    const problem = host && prerequisiteProblem(host, file);
    if (problem) problems.push(`test system ${id}: ${problem}`);
  }

  const excluded: Exclusion[] = [];
  const targets: WaveHost[] = [];
  for (const host of file.fleet.hosts) {
    if (testHosts.includes(host.id)) continue;
    const reason =
      notSelected(host, file) ??
      (host.installedPatches.includes(file.patch.id)
        ? `already patched: inventory lists ${file.patch.id}`
        : prerequisiteProblem(host, file));
    if (reason) {
      excluded.push({ hostId: host.id, reason });
      continue;
    }
    const window = host.maintenanceWindow ?? campaign.defaultMaintenanceWindow;
    targets.push({
      id: host.id,
      ...(host.redundancyGroup ? { group: host.redundancyGroup } : {}),
      ...(window ? { window } : {}),
    });
  }
  if (targets.length === 0) problems.push('no host is left to patch after targets and exclusions');

  const groupBudgets: Record<string, number> = {};
  for (const group of new Set(targets.flatMap((t) => (t.group ? [t.group] : [])))) {
    const { budget, members } = groupBudget(file, group);
    groupBudgets[group] = budget;
    if (budget < 1) {
      const targeted = targets.filter((t) => t.group === group).length;
      problems.push(
        `redundancy group ${group} (${members} members) allows ${budget} unavailable: no wave order can patch its ${targeted} targeted host(s)`,
      );
    }
  }

  const waves: PlannedWave[] = [];
  let next = 0;
  campaign.waves.forEach((spec, i) => {
    if (next >= targets.length) return;
    const last = i === campaign.waves.length - 1;
    const count = last ? targets.length - next : waveSize(spec, targets.length);
    waves.push({ name: spec.name, hosts: targets.slice(next, next + count) });
    next += count;
  });

  const gateStarts = campaign.approvals.map((gate) => {
    const name = gate.beforeWave ?? campaign.waves[0]?.name;
    const index = waves.findIndex((w) => w.name === name);
    if (index < 0 && targets.length > 0)
      problems.push(`approval stage ${gate.stage} opens before wave "${name}", which gets no hosts`);
    return index;
  });
  const gates: PlannedGate[] = campaign.approvals.map((gate, i) => {
    const start = gateStarts[i] ?? -1;
    const end = Math.min(...gateStarts.filter((s) => s > start), waves.length);
    return {
      stage: gate.stage,
      beforeWave: start,
      roles: gate.roles,
      identities: gate.identities,
      required: gate.required,
      expiresAfterMs: gate.expiresAfter,
      remindersMs: [...gate.reminders].sort((a, b) => a - b),
      hosts: start < 0 ? [] : waves.slice(start, end).flatMap((w) => w.hosts.map((h) => h.id)),
    };
  });
  for (const gate of gates) {
    const allowed = new Set(gate.identities);
    for (const person of campaign.people)
      if (person.roles.some((r) => gate.roles.includes(r))) allowed.add(person.identity);
    if (allowed.size < gate.required)
      problems.push(
        `approval stage ${gate.stage} needs ${gate.required} approver(s) but only ${allowed.size} may approve it`,
      );
  }

  if (problems.length) throw new PlanInfeasible(problems);
  return {
    testHosts,
    waves,
    gates: gates.sort((a, b) => a.beforeWave - b.beforeWave),
    excluded,
    failuresAllowed: failuresAllowed(file, targets.length),
    groupBudgets,
  };
}

/** The SHA-256 input for a gate's host set: sorted IDs, one per line. */
export function hostSetText(hosts: string[]): string {
  return [...hosts].sort().join('\n');
}

/** The plan without inventories, for the campaign workflow. `digest` is SHA-256 hex (injected: no I/O here). */
export function summarizePlan(file: CampaignFile, plan: Plan, digest: (text: string) => string): PlanSummary {
  return {
    name: file.campaign.name,
    patch: { id: file.patch.id, version: file.patch.version, sha256: file.patch.artifact.sha256 },
    testHosts: plan.testHosts,
    soak: {
      durationMs: file.campaign.soak.duration,
      probeIntervalMs: file.campaign.soak.probeInterval,
      criteria: file.campaign.soak.passCriteria,
      missedProbes: file.campaign.soak.missedProbes,
      maxExtensionMs: file.campaign.soak.maxExtension ?? Math.round(file.campaign.soak.duration / 4),
    },
    waves: plan.waves.map((w) => ({ name: w.name, size: w.hosts.length })),
    gates: plan.gates.map(({ hosts, ...gate }) => ({
      ...gate,
      hostCount: hosts.length,
      hostSetDigest: digest(hostSetText(hosts)),
    })),
    people: file.campaign.people,
    concurrency: file.campaign.concurrency,
    failuresAllowed: plan.failuresAllowed,
    groupBudgets: plan.groupBudgets,
    windows: file.campaign.maintenanceWindows,
    rollback: file.campaign.rollback,
    rolloutHostCount: plan.waves.reduce((n, w) => n + w.hosts.length, 0),
  };
}

/** The input of one host's activities: only that host's records, never the whole inventory. */
export function hostPatchInput(file: CampaignFile, campaignId: string, hostId: string): HostPatchInput {
  const host = file.fleet.hosts.find((h) => h.id === hostId);
  if (!host) throw new Error(`unknown host ${hostId}`);
  const controller = (id: string) => {
    const found = file.fleet.controllers.find((c) => c.id === id);
    if (!found) throw new Error(`unknown controller ${id}`);
    return found;
  };
  const healthChecks = file.fleet.healthChecks.filter((c) => host.healthChecks.includes(c.name));
  const imageProvider = controller(host.imageProvider ?? host.controller);
  const powerController = controller(host.powerController ?? host.controller);
  const hops = new Set(
    [host, imageProvider, powerController].flatMap((m) =>
      'jumpHost' in m && m.jumpHost ? [m.jumpHost] : [],
    ),
  );
  return {
    campaignId,
    host,
    imageProvider,
    powerController,
    jumpHosts: file.fleet.jumpHosts.filter((j) => hops.has(j.id)),
    healthChecks,
    patch: file.patch,
  };
}
