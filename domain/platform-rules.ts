/**
 * The campaign-file rules that depend on a host's platform: one patch platform per campaign, commands
 * and paths in the platform's own form, health checks the platform can run, and what each controller
 * kind needs from a host. Called by the campaign file's schema; every issue names its field.
 */
import {
  CONTROLLER_PRESETS,
  type ControllerPresetName,
  type ControllerPreset,
} from './controller-presets.js';
import type { Platform } from './platform.js';
import type { CampaignFile, Controller } from './schema.js';
import { isWindowsPath } from './text.js';

type Issue = (path: (string | number)[], message: string) => void;

/** The platform a controller's commands run on: its own, its preset's, else POSIX. */
export function controllerPlatform(controller: Controller): Platform {
  if (controller.kind !== 'ssh') return 'posix';
  return controller.platform ?? (controller.preset ? presetPlatform(controller.preset) : 'posix');
}

function presetPlatform(name: ControllerPresetName): Platform {
  return (CONTROLLER_PRESETS[name] as ControllerPreset).platform ?? 'posix';
}

export function patchPlatform(patch: CampaignFile['patch']): Platform {
  return patch.windows ? 'windows' : 'posix';
}

const pathPlatform = (path: string): Platform | undefined =>
  isWindowsPath(path) ? 'windows' : path.startsWith('/') ? 'posix' : undefined;

export function platformIssues(file: CampaignFile, issue: Issue): void {
  const { patch } = file;
  const platform = patchPlatform(patch);
  const kind =
    platform === 'windows' ? 'a Windows patch (patch.windows)' : 'a POSIX patch (no patch.windows)';

  file.fleet.hosts.forEach((host, i) => {
    if (host.platform !== platform)
      issue(
        ['fleet', 'hosts', i, 'platform'],
        `host "${host.id}" is ${host.platform} but the patch is ${kind}; a campaign patches one platform`,
      );
  });

  if (platform === 'windows') {
    if (patch.installCommand !== undefined)
      issue(
        ['patch', 'installCommand'],
        'a Windows patch is installed by its package (patch.windows.package); remove installCommand',
      );
    if (patch.versionCommand === undefined && !patch.windows?.kb)
      issue(['patch', 'versionCommand'], 'give versionCommand (a PowerShell command) or patch.windows.kb');
    if (patch.windows?.package === 'msu' && !patch.windows.kb)
      issue(['patch', 'windows', 'kb'], 'an .msu update names its KB (e.g. KB5034441)');
    if (patch.windows?.package === 'msi')
      patch.windows.arguments.forEach((arg, i) => {
        if (!/^[A-Za-z_][A-Za-z0-9_.]*=/.test(arg))
          issue(
            ['patch', 'windows', 'arguments', i],
            'an msi argument is a property, NAME=value (msiexec gets /i, /qn, /norestart and its log itself)',
          );
      });
    for (const key of ['servicePackCommand', 'osCommand'] as const)
      if (patch.prerequisites[key] !== undefined)
        issue(
          ['patch', 'prerequisites', key],
          'Windows hosts report their OS and service pack themselves; remove this command',
        );
  } else {
    if (patch.installCommand === undefined)
      issue(['patch', 'installCommand'], 'a POSIX patch needs installCommand');
    if (patch.versionCommand === undefined)
      issue(['patch', 'versionCommand'], 'a POSIX patch needs versionCommand');
  }

  const wrongPath = (path: string) =>
    pathPlatform(path) === platform || pathPlatform(path) === undefined
      ? undefined
      : `${path} is a ${pathPlatform(path) === 'windows' ? 'Windows' : 'POSIX'} path but the hosts are ${platform}`;
  const disk = patch.prerequisites.minFreeDisk;
  const diskProblem = disk && wrongPath(disk.path);
  if (diskProblem) issue(['patch', 'prerequisites', 'minFreeDisk', 'path'], diskProblem);
  patch.integrity.protectedPaths.forEach((path, i) => {
    const problem = wrongPath(path);
    if (problem) issue(['patch', 'integrity', 'protectedPaths', i], problem);
  });

  const checks = new Map(file.fleet.healthChecks.map((c, i) => [c.name, { check: c, index: i }]));
  file.fleet.hosts.forEach((host, i) => {
    host.healthChecks.forEach((name, j) => {
      const found = checks.get(name);
      if (!found) return;
      const { check } = found;
      const where = ['fleet', 'hosts', i, 'healthChecks', j];
      if (check.kind === 'service') {
        const manager = check.manager ?? (host.platform === 'windows' ? 'windows' : 'systemd');
        if (manager === 'systemd' && host.platform === 'windows')
          issue(where, `health check "${name}" asks systemd, which Windows host "${host.id}" does not have`);
        if (manager === 'windows' && host.platform === 'posix')
          issue(where, `health check "${name}" asks the Windows service manager; "${host.id}" is POSIX`);
      }
      if (check.kind === 'path') {
        const kind = pathPlatform(check.path);
        if (kind !== undefined && kind !== host.platform)
          issue(
            where,
            `health check "${name}" tests ${check.path}, not a path on ${host.platform} host "${host.id}"`,
          );
        else if (check.type === 'mount' && host.platform === 'windows')
          issue(
            where,
            `health check "${name}" tests a mount point, a POSIX notion; use type directory on "${host.id}"`,
          );
      }
    });
  });

  const controllers = new Map(file.fleet.controllers.map((c) => [c.id, c]));
  file.fleet.controllers.forEach((c, i) => {
    if (c.kind !== 'ssh' || !c.preset || c.platform === undefined) return;
    const wanted = presetPlatform(c.preset);
    if (c.platform !== wanted)
      issue(
        ['fleet', 'controllers', i, 'platform'],
        `preset "${c.preset}" runs on ${wanted} controllers, not ${c.platform}`,
      );
  });
  file.fleet.hosts.forEach((host, i) => {
    const used = new Set([host.imageProvider ?? host.controller, host.powerController ?? host.controller]);
    for (const id of used) {
      const c = controllers.get(id);
      if (c?.kind === 'vsphere' && host.vmPath === undefined)
        issue(
          ['fleet', 'hosts', i, 'vmPath'],
          `host "${host.id}" uses vSphere controller "${id}", which needs the VM's inventory path (e.g. /DC1/vm/${host.id})`,
        );
    }
  });
}
