/** The patch: artifact, prerequisites, integrity, install, Windows package. */
import { z } from 'zod';
import { Duration, PositiveDuration } from '../duration.js';
import { WindowsPatch } from '../platform.js';
import { AbsolutePath, Command, HostPath, ProtectedHostPath, Text } from '../text.js';
import { Name, Sha256 } from './common.js';

/**
 * An https URL without credentials, a query or a fragment: the campaign file travels in every workflow
 * history and log, so a signed query string would be a credential written everywhere.
 */
export const ArtifactUrl = Text(2048).superRefine((text, ctx) => {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'not a URL' });
    return;
  }
  if (url.protocol !== 'https:') ctx.addIssue({ code: 'custom', message: 'use an https URL' });
  if (url.username || url.password)
    ctx.addIssue({ code: 'custom', message: 'must not carry a user name or password' });
  if (url.search || text.includes('?'))
    ctx.addIssue({
      code: 'custom',
      message:
        'must not have a query string (it would be in every history): give a URL that needs no signature',
    });
  if (url.hash || text.includes('#')) ctx.addIssue({ code: 'custom', message: 'must not have a #fragment' });
});

/**
 * The artifact's file name for the copy on a host: its path's last part, or its URL path's last part
 * with anything but letters, digits and . _ - replaced.
 */
export function artifactName(artifact: { path?: string; url?: string }): string {
  if (artifact.path) return artifact.path.split('/').pop() || 'artifact';
  const last = artifact.url ? (new URL(artifact.url).pathname.split('/').pop() ?? '') : '';
  return last.replace(/[^A-Za-z0-9._-]/g, '_') || 'artifact';
}

/** Where the artifact comes from, for messages. */
export function artifactSource(artifact: { path?: string; url?: string }): string {
  return artifact.path ?? artifact.url!;
}

export const Patch = z.strictObject({
  id: Name,
  version: z
    .string()
    .min(1)
    .max(64)
    .regex(/^[A-Za-z0-9][A-Za-z0-9._+~-]*$/, 'use letters, digits and . _ + ~ - (e.g. 1.1.0)'),
  /** Exactly one of `path` and `url`; either way the bytes must hash to `sha256`. */
  artifact: z
    .strictObject({
      /** On the worker, inside one of its artifact directories (ROLLOUT_ARTIFACT_DIRS). */
      path: AbsolutePath.optional(),
      /**
       * Fetched once by the worker over https (trusting ROLLOUT_ARTIFACT_CA_FILE when set), checked
       * against `sha256` before any host is touched, and kept by checksum in ROLLOUT_ARTIFACT_CACHE_DIR.
       */
      url: ArtifactUrl.optional(),
      sha256: Sha256,
    })
    .refine((a) => (a.path === undefined) !== (a.url === undefined), {
      message: 'give exactly one of path and url',
    }),
  /**
   * Run on the host; `{artifact}` is the uploaded file's path, `{version}` the target version. POSIX
   * patches only: a Windows patch is installed by its `windows.package`.
   */
  installCommand: Command.optional(),
  /**
   * Prints the installed version; equal to `version` means the host is patched. A Windows patch with a
   * `windows.kb` may leave it out: the KB decides.
   */
  versionCommand: Command.optional(),
  /** A Windows patch: its package kind, KB and pending-reboot policy. Every target host must be Windows. */
  windows: WindowsPatch.optional(),
  /**
   * Hosts whose inventory does not meet these are left out of the plan, with the reason. Preflight
   * measures them again on the host (with the commands, when given) and ends a host that falls short
   * as `prerequisite-failed`, with the measured value, before anything is changed.
   */
  prerequisites: z
    .strictObject({
      minServicePack: z.number().int().min(0).max(1_000).optional(),
      os: z.array(Text(100).min(1)).min(1).max(20).optional(),
      /** Prints the service-pack level as an integer. */
      servicePackCommand: Command.optional(),
      /** Prints the operating system's name, compared with `os`. */
      osCommand: Command.optional(),
      /** Free space needed on the file system holding `path` (on the host). */
      minFreeDisk: z
        .strictObject({
          path: HostPath,
          mebibytes: z
            .number()
            .int()
            .positive()
            .max(1 << 30),
        })
        .optional(),
    })
    .default({}),
  /**
   * Paths the patch must not change (the clinical image store, say): their checksum profile is taken
   * before install and compared after; any change fails the host and is listed file by file.
   */
  integrity: z
    .strictObject({
      protectedPaths: z.array(ProtectedHostPath).max(50).default([]),
      /** sha256: hash every file (catches any byte); metadata: size and mtime only, for very large stores. */
      mode: z.enum(['sha256', 'metadata']).default('sha256'),
      /** Files added under a protected path (new studies arriving) are not a change. */
      allowNewFiles: z.boolean().default(false),
      timeout: PositiveDuration.default(1_800_000),
    })
    .default({ protectedPaths: [], mode: 'sha256', allowNewFiles: false, timeout: 1_800_000 }),
  reboots: z.boolean().default(true),
  /**
   * Health checks after install and after a rollback run up to `attempts` times, `interval` apart,
   * until they pass: services may still be starting when SSH answers after a boot.
   */
  healthRetry: z
    .strictObject({
      attempts: z.number().int().min(1).max(30).default(3),
      interval: Duration.default(10_000),
    })
    .default({ attempts: 3, interval: 10_000 }),
  installTimeout: PositiveDuration.default(1_800_000),
  /** Time given to a host to go down after the reboot trigger, before polling starts. */
  rebootGrace: Duration.default(5_000),
  bootTimeout: PositiveDuration.default(900_000),
});
export type Patch = z.infer<typeof Patch>;
