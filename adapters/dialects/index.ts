/** The dialect of each platform (see dialect.ts). */
import type { Platform } from '../../domain/platform.js';
import type { HostDialect } from './dialect.js';
import { posixDialect } from './posix.js';
import { windowsDialect } from './windows.js';

export const DIALECTS: Record<Platform, HostDialect> = { posix: posixDialect, windows: windowsDialect };

export function dialectFor(platform: Platform | undefined): HostDialect {
  return DIALECTS[platform ?? 'posix'];
}

export type { HostDialect, InstallRun } from './dialect.js';
