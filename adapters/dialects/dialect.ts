/**
 * One interface, two dialects: every remote step renders its script through the host's dialect, so a
 * POSIX host gets `sh` and a Windows host PowerShell, with the same semantics (what is printed, what
 * is idempotent, what is the lock). The dialects are pure: they render scripts and read what the host
 * printed; host-ops.ts runs them over SSH and decides.
 *
 * Every script that reports on an install prints the same words on both platforms (see
 * `parseInstallObservation` in host-ops.ts): `exit N`, `running S`, `timedout S`, `starting`, `missing`,
 * `vanished …`; the start script `started`, `attached` or `launching`.
 */
import type { Platform } from '../../domain/platform.js';
import type { HealthCheck, Patch } from '../../domain/schema.js';

/** One install run on a host: where it lives, who owns it, and its hard time limit. */
export interface InstallRun {
  /** Names the run directory: one per (campaign, patch, version). */
  runKey: string;
  /**
   * The host workflow run that owns the install. A later run (an on-call retry) finds a *finished* run
   * of another owner and starts afresh; a running one, or one without an owner (written by an older
   * version), it re-attaches to, so no two installs ever run at once.
   */
  owner: string;
  /** Past this, measured on the host from the moment the install started, its process tree is stopped. */
  timeoutMs: number;
  /** Prints the host's boot ID; guards against a PID that a reboot handed to another process. */
  bootIdCommand: string;
}

/** What a prerequisite probe measured; `problem` when it could not measure. */
export interface HostFacts {
  servicePack?: number;
  os?: string;
  freeDiskMiB?: number;
  build?: string;
  pendingReboot?: string[];
  problems?: string[];
}

/** A read-only script that measures some of the patch's prerequisites, and how to read its output. */
export interface PrerequisiteProbe {
  what: string;
  script: string;
  read(printed: string): HostFacts;
}

export type ServiceCheck = Extract<HealthCheck, { kind: 'service' }>;
export type PathCheck = Extract<HealthCheck, { kind: 'path' }>;

export interface HostDialect {
  readonly platform: Platform;
  /** What goes over SSH for `script`: the command line, and its stdin when the script is too long for one. */
  wrap(script: string): { command: string; stdin?: string };
  /** A command's standard output with the platform's line ends made `\n`. */
  readStdout(stdout: string): string;
  /** A command's error output as a person reads it. */
  readStderr(stderr: string): string;
  /** One value as a literal of the dialect's language: never parsed as code. */
  quote(value: string): string;
  /** A command from the campaign file (version, boot ID, health command), with its own exit code. */
  userCommand(command: string): string;

  /** Where the patch's artifact lives on the host: keyed by its checksum, so a retry finds it there. */
  artifactPath(patch: Patch): string;
  /** The same path as the host's SFTP server names it. */
  sftpPath(path: string): string;
  /** Prints the file's SHA-256 (64 lower-case hex digits) or `absent`; fails when it cannot tell. */
  sha256(path: string): string;
  /** Creates the directory artifacts are uploaded to (and secures it). */
  prepareArtifactDir(): string;
  removeFile(path: string): string;
  /** Moves `from` over `to` in one step (same directory). */
  rename(from: string, to: string): string;

  /** The run directory of one install run. */
  runDir(runKey: string): string;
  /** What the detached install runs: the patch's install command for this artifact. */
  installCommand(patch: Patch, artifactPath: string, runDir: string): string;
  /** Starts the install detached from the SSH session, or re-attaches; prints `started`, `attached` or `launching`. */
  installStart(dir: string, command: string, run: InstallRun): string;
  /** One look at an install (see the file comment); `betweenObservations` widens the window in a test. */
  installPoll(dir: string, run: InstallRun, options?: { betweenObservations?: string }): string;
  /** Prints the last 4,000 characters of the install's output. */
  installOutput(dir: string): string;

  /** Asks the host to restart; the connection may drop before it answers. */
  readonly rebootCommand: string;
  /** Prints the installed version (equal to the patch's `version` means patched). */
  versionCommand(patch: Patch): string;
  prerequisiteProbes(patch: Patch): PrerequisiteProbe[];

  /** Where the protected-path profiles of one run live on the host. */
  integrityDir(runKey: string): string;
  /** Writes the profile to `file` and prints `<files> <sha256 of the profile>`. */
  profile(patch: Patch, file: string): string;
  /** Prints the summary of an existing profile, nothing when there is none. */
  existingProfile(file: string): string;
  /** Compares `before` and `after` in `dir`; prints the number of changes, then up to `listed` of them. */
  compareProfiles(dir: string, allowNewFiles: boolean, listed: number): string;

  /** Exits 0 when the service runs (by the check's manager, or the platform's own). */
  serviceCheck(check: ServiceCheck): string;
  /** Exits 0 when the path is of the check's type. */
  pathCheck(check: PathCheck): string;
}

/** Replaces `{name}` placeholders with quoted values; an unknown placeholder is an error. */
export function renderTemplate(
  quote: (value: string) => string,
  template: string,
  values: Record<string, string>,
): string {
  return template.replace(/\{([a-zA-Z]+)\}/g, (_, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`unknown placeholder {${name}} in command template`);
    return quote(value);
  });
}

/**
 * Every host operation a dialect provides, with what it is for: the contract test checks each dialect
 * against this list, and the compiler checks the list against the interface.
 */
export const HOST_OPERATIONS = {
  platform: 'the platform the dialect renders for',
  wrap: 'how a script is sent over SSH',
  readStdout: 'standard output with plain line ends',
  readStderr: 'error output as a person reads it',
  quote: 'a value as a literal',
  userCommand: "a campaign file's command with its own exit code",
  artifactPath: "the artifact's path on the host",
  sftpPath: 'that path as SFTP names it',
  sha256: "a file's SHA-256 on the host, or absent",
  prepareArtifactDir: 'the upload directory, secured',
  removeFile: 'delete a file',
  rename: 'move a file into place',
  runDir: "an install run's directory",
  installCommand: 'what the detached install runs',
  installStart: 'start the install detached, or re-attach',
  installPoll: 'one look at the install',
  installOutput: "the install output's end",
  rebootCommand: 'restart the host',
  versionCommand: 'the installed version',
  prerequisiteProbes: 'measure the prerequisites',
  integrityDir: 'where protected-path profiles live',
  profile: 'profile the protected paths',
  existingProfile: 'the summary of an existing profile',
  compareProfiles: 'what changed under the protected paths',
  serviceCheck: 'a service runs',
  pathCheck: 'a path exists as a file or directory',
} as const satisfies Record<keyof HostDialect, string>;
