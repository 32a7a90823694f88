/**
 * `rollout plan` as text: the patch (for a Windows patch its KB, package and pending-reboot policy),
 * the prerequisites, every planned host with its platform, controllers and place in the plan, then the
 * soak, gates, waves, budgets, windows and exclusions.
 */
import { formatDuration } from '../domain/duration.js';
import type { Plan } from '../domain/planner.js';
import type { CampaignFile, Controller, Host } from '../domain/schema.js';
import { windowState } from '../domain/windows.js';
import { columns } from './format.js';

const PACKAGE_WORDS = {
  msu: '.msu through wusa.exe /quiet /norestart',
  msi: '.msi through msiexec /i … /qn /norestart',
  exe: '.exe with its arguments',
  ps1: '.ps1 through powershell.exe -File',
} as const;

function patchLine(file: CampaignFile): string {
  const { patch } = file;
  const head = `patch ${patch.id} ${patch.version}`;
  if (!patch.windows) {
    const first = (patch.installCommand ?? '').trim().split('\n')[0] ?? '';
    const more = first.length > 80 || (patch.installCommand ?? '').trim().includes('\n');
    return `${head} (POSIX: ${first.slice(0, 80)}${more ? ' …' : ''})`;
  }
  const { kb, package: pkg, pendingReboot } = patch.windows;
  const what = kb
    ? `Windows update ${kb} (a host that has it is already patched), ${PACKAGE_WORDS[pkg]}`
    : `Windows ${PACKAGE_WORDS[pkg]}`;
  return `${head} (${what}; a reboot already pending: ${pendingReboot === 'refuse' ? 'host refused' : 'restart first'})`;
}

function prerequisiteLine(file: CampaignFile): string | undefined {
  const want = file.patch.prerequisites;
  const parts = [
    ...(want.os ? [`OS one of ${want.os.map((o) => `"${o}"`).join(', ')}`] : []),
    ...(want.minServicePack !== undefined ? [`service pack ${want.minServicePack} or later`] : []),
    ...(want.minFreeDisk ? [`${want.minFreeDisk.mebibytes} MiB free on ${want.minFreeDisk.path}`] : []),
  ];
  return parts.length ? `prerequisites: ${parts.join('; ')}` : undefined;
}

function controllerWords(controller: Controller | undefined, host: Host): string {
  if (!controller) return '?';
  switch (controller.kind) {
    case 'vsphere':
      return `${controller.id} (vSphere ${host.vmPath ?? '?'})`;
    case 'redfish':
      return `${controller.id} (Redfish)`;
    case 'ssh':
      return `${controller.id} (${controller.preset ?? 'own commands'})`;
  }
}

export function planLines(file: CampaignFile, plan: Plan, now = Date.now()): string[] {
  const lines: string[] = [patchLine(file)];
  const prerequisites = prerequisiteLine(file);
  if (prerequisites) lines.push(prerequisites);

  const controllers = new Map(file.fleet.controllers.map((c) => [c.id, c]));
  const hosts = new Map(file.fleet.hosts.map((h) => [h.id, h]));
  const placed: Array<[string, string]> = [
    ...plan.testHosts.map((id): [string, string] => [id, 'test system']),
    ...plan.waves.flatMap((w, i) => w.hosts.map((h): [string, string] => [h.id, `wave ${i + 1}`])),
  ];
  lines.push(`hosts (${placed.length}):`);
  const rows = placed.map(([id, where]) => {
    const host = hosts.get(id)!;
    const image = host.imageProvider ?? host.controller;
    const power = host.powerController ?? host.controller;
    return [
      `  ${id}`,
      host.platform,
      where,
      `image ${controllerWords(controllers.get(image), host)}`,
      `power ${power === image ? 'same' : controllerWords(controllers.get(power), host)}`,
    ];
  });
  lines.push(...columns(rows));

  lines.push(`test systems: ${plan.testHosts.join(', ')}`);
  lines.push(
    `soak: ${formatDuration(file.campaign.soak.duration)}, a probe every ${formatDuration(file.campaign.soak.probeInterval)}`,
  );
  plan.waves.forEach((w, i) => {
    for (const gate of plan.gates.filter((g) => g.beforeWave === i))
      lines.push(
        `gate "${gate.stage}": ${gate.required} approval(s) by ${[...gate.roles.map((r) => `role ${r}`), ...gate.identities].join(', ')}; expires after ${formatDuration(gate.expiresAfterMs)}; releases ${gate.hosts.length} hosts`,
      );
    lines.push(`wave ${i + 1} "${w.name}" (${w.hosts.length}): ${w.hosts.map((h) => h.id).join(', ')}`);
  });
  lines.push(
    `concurrency ${file.campaign.concurrency}; failure budget ${plan.failuresAllowed} host(s), then pause for a decision`,
  );
  for (const [group, budget] of Object.entries(plan.groupBudgets))
    lines.push(`redundancy group ${group}: at most ${budget} unavailable at once`);
  for (const w of file.campaign.maintenanceWindows) {
    const state = windowState(w, now);
    lines.push(
      `window ${w.name}: ${w.days.join(',')} ${w.start}-${w.end} ${w.timeZone}; ${state.open ? 'open now' : `next opens ${state.nextOpen}`}`,
    );
  }
  for (const e of plan.excluded) lines.push(`excluded ${e.hostId}: ${e.reason}`);
  return lines;
}
