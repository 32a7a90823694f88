/**
 * What differs between POSIX and Windows fleet hosts, as data the schema and the adapters share: the
 * platform itself, the Windows patch package and the default boot ID command. What an installer's exit
 * code means is in install-verdict.ts (workflow code imports that one).
 */
import { z } from 'zod';
import { Text } from './text.js';

export const Platform = z.enum(['posix', 'windows']);
export type Platform = z.infer<typeof Platform>;

/** How a Windows patch is installed (the artifact is the package). */
export const WindowsPackage = z.enum(['msu', 'msi', 'exe', 'ps1']);
export type WindowsPackage = z.infer<typeof WindowsPackage>;

export const WindowsPatch = z.strictObject({
  /**
   * The Knowledge Base article the update installs (`KB5034441`). With it, `Get-HotFix` decides whether a
   * host is patched (before: `already-patched`; after the reboot: verified) and `versionCommand` may be left out.
   */
  kb: z
    .string()
    .regex(/^KB\d{6,8}$/, 'a KB ID is "KB" and 6-8 digits, e.g. KB5034441')
    .optional(),
  package: WindowsPackage,
  /**
   * Extra arguments for the installer: `msi` properties (`ALLUSERS=1`), the `exe`'s switches, the `.ps1`
   * script's parameters. Each is passed as one argument, quoted by Windows' command-line rules.
   */
  arguments: z.array(Text(512).min(1)).max(50).default([]),
  /**
   * A reboot already pending on the host (Component Based Servicing, Windows Update, pending file
   * renames): `refuse` ends the host `prerequisite-failed` untouched; `reboot-first` restarts it, checks
   * again, then patches.
   */
  pendingReboot: z.enum(['refuse', 'reboot-first']).default('refuse'),
});
export type WindowsPatch = z.infer<typeof WindowsPatch>;

/** The boot ID command a host gets when its entry names none: it changes on every boot. */
export const DEFAULT_BOOT_ID_COMMAND: Record<Platform, string> = {
  posix: 'cat /proc/sys/kernel/random/boot_id',
  windows:
    "(Get-CimInstance -ClassName Win32_OperatingSystem).LastBootUpTime.ToUniversalTime().ToString('yyyyMMddTHHmmss.fffZ')",
};

export function bootIdCommandOf(host: { platform?: Platform; bootIdCommand?: string | undefined }): string {
  return host.bootIdCommand ?? DEFAULT_BOOT_ID_COMMAND[host.platform ?? 'posix'];
}
