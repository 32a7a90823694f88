/**
 * What an installer's exit code means for the host. Pure data and functions without dependencies: the
 * host workflow decides with them.
 */
import type { WindowsPatch } from './platform.js';

/**
 * What an installer's exit code means for the host:
 * - `installed`: done, reboot as the patch says;
 * - `reboot-required`: done, but only effective after a restart (the host is rebooted even if the patch
 *   says `reboots: false`);
 * - `reboot-started`: done, and the installer itself began a restart (no second restart is triggered);
 * - `already-installed`: nothing was changed, the host already has it (`already-patched`);
 * - `not-applicable`: nothing was changed, the update does not apply to this host (`prerequisite-failed`);
 * - `failed`: the host is rolled back from its image.
 */
export type InstallVerdict =
  'installed' | 'reboot-required' | 'reboot-started' | 'already-installed' | 'not-applicable' | 'failed';

/** Windows installer exit codes (wusa, msiexec and most setup programs share them). */
export const WINDOWS_EXIT_CODES: ReadonlyArray<{ code: number; name: string; verdict: InstallVerdict }> = [
  { code: 0, name: 'ERROR_SUCCESS', verdict: 'installed' },
  { code: 3010, name: 'ERROR_SUCCESS_REBOOT_REQUIRED', verdict: 'reboot-required' },
  { code: 1641, name: 'ERROR_SUCCESS_REBOOT_INITIATED', verdict: 'reboot-started' },
  { code: 2359302, name: 'WU_S_ALREADY_INSTALLED (0x240006)', verdict: 'already-installed' },
  { code: -2145124329, name: 'WU_E_NOT_APPLICABLE (0x80240017)', verdict: 'not-applicable' },
  { code: 1603, name: 'ERROR_INSTALL_FAILURE', verdict: 'failed' },
  { code: 1618, name: 'ERROR_INSTALL_ALREADY_RUNNING', verdict: 'failed' },
  { code: 1619, name: 'ERROR_INSTALL_PACKAGE_OPEN_FAILED', verdict: 'failed' },
  { code: 1633, name: 'ERROR_INSTALL_PLATFORM_UNSUPPORTED', verdict: 'failed' },
  { code: 5, name: 'ERROR_ACCESS_DENIED', verdict: 'failed' },
];

/** The verdict on an install's exit code: on POSIX 0 is success and anything else failure. */
export function installVerdict(
  patch: { windows?: WindowsPatch | undefined },
  exitCode: number,
): InstallVerdict {
  if (!patch.windows) return exitCode === 0 ? 'installed' : 'failed';
  return WINDOWS_EXIT_CODES.find((c) => c.code === exitCode)?.verdict ?? 'failed';
}

/** The exit code as a person reads it: `1603 (ERROR_INSTALL_FAILURE)`, or hex for an HRESULT. */
export function describeExitCode(patch: { windows?: WindowsPatch | undefined }, exitCode: number): string {
  if (!patch.windows) return String(exitCode);
  const known = WINDOWS_EXIT_CODES.find((c) => c.code === exitCode);
  if (known) return `${exitCode} (${known.name})`;
  return exitCode < 0 ? `${exitCode} (0x${(exitCode >>> 0).toString(16).toUpperCase()})` : String(exitCode);
}
