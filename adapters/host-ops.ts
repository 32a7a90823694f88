/**
 * The remote steps on one fleet host. Each is idempotent per (campaign, patch, host): it checks the
 * host's state first and resumes rather than repeats.
 */
import { randomBytes } from 'node:crypto';
import { RolloutError } from '../domain/errors.js';
import type { Patch } from '../domain/schema.js';
import { localArtifact, verifySourceArtifact, type ArtifactPolicy } from './artifacts.js';
import { probeTcp } from './health.js';
import { dialectFor, type HostDialect, type InstallRun } from './dialects/index.js';
import type { HostFacts } from './dialects/dialect.js';
import { tail, type SshSession, type SshTarget } from './ssh.js';
import type { SshConnector } from './ssh-pool.js';

export type { InstallRun };

const QUICK_MS = 30_000;

export async function readVersion(ssh: SshSession, patch: Patch): Promise<string> {
  return ssh.check(ssh.dialect.versionCommand(patch), QUICK_MS, 'version command');
}

export async function readBootId(
  ssh: SshSession,
  bootIdCommand: string,
  timeoutMs = QUICK_MS,
): Promise<string> {
  return ssh.check(ssh.dialect.userCommand(bootIdCommand), timeoutMs, 'boot ID command');
}

/** Where an artifact lives on a host: keyed by its checksum, so a retry finds it already there. */
export function remoteArtifactPath(patch: Patch, dialect: HostDialect = dialectFor('posix')): string {
  return dialect.artifactPath(patch);
}

/**
 * The SHA-256 of a file on the host, or `absent`. A host that cannot compute it (no sha256sum, a
 * read error) is an error, never a mismatch: a mismatch would condemn a good artifact.
 */
async function remoteSha256(ssh: SshSession, path: string): Promise<string | 'absent'> {
  return readSha256(ssh, await ssh.check(ssh.dialect.sha256(path), QUICK_MS, 'sha256'));
}

function readSha256(ssh: SshSession, printed: string): string | 'absent' {
  if (printed === 'absent' || /^[0-9a-f]{64}$/.test(printed)) return printed;
  throw new RolloutError('CommandFailed', `${ssh.target.name}: sha256 printed "${printed.slice(0, 80)}"`);
}

/**
 * Uploads over SFTP unless the host already holds a file with the right checksum. The copy goes to a
 * temporary name, is checksummed on the host, and only then renamed into place, so the final path
 * never holds a partial or wrong file (an interrupted upload, a second attempt racing the first).
 * A copy that does not match: if the orchestrator's own artifact no longer matches either, the source
 * changed (SourceArtifactInvalid), else the transfer is blamed (ArtifactChecksumMismatch). Either way
 * nothing on the host was changed.
 */
export async function uploadArtifact(
  ssh: SshSession,
  patch: Patch,
  policy: ArtifactPolicy,
  onProgress: () => void = () => {},
): Promise<string> {
  const { dialect } = ssh;
  const remote = dialect.artifactPath(patch);
  // One command: is it there already, and the directory it goes to (harmless when it is there).
  const [present = ''] = await ssh.checkAll(
    [
      { script: dialect.sha256(remote), what: 'sha256' },
      { script: dialect.prepareArtifactDir(), what: 'artifact directory' },
    ],
    QUICK_MS,
  );
  if (readSha256(ssh, present) === patch.artifact.sha256) return remote;
  const source = await localArtifact(patch, policy);
  const part = `${remote}.part-${randomBytes(4).toString('hex')}`;
  await ssh.upload(source, part, onProgress);
  const uploaded = await remoteSha256(ssh, part);
  if (uploaded !== patch.artifact.sha256) {
    await ssh.run(dialect.removeFile(part), QUICK_MS);
    await verifySourceArtifact(patch, policy, { onChunk: onProgress });
    throw new RolloutError(
      'ArtifactChecksumMismatch',
      `${ssh.target.name}: the uploaded copy does not match the approved SHA-256; it was deleted`,
    );
  }
  await ssh.check(dialect.rename(part, remote), QUICK_MS, 'artifact rename');
  return remote;
}

/** What one look at a rebooting host found. */
export type BootObservation =
  | { state: 'down'; reason: string }
  | { state: 'same-boot'; bootId: string }
  | { state: 'new-boot'; bootId: string };

/**
 * One look at a host that should be rebooting: down (no SSH), still on the boot it had before
 * (`previousBootId`; empty accepts any boot), or on a new boot. A TCP probe first, so a host that is
 * down costs milliseconds, not an SSH handshake timeout. A wrong host key or refused login is not
 * "down": it is thrown as it is.
 */
export async function observeBoot(
  connector: SshConnector,
  target: SshTarget,
  bootIdCommand: string,
  previousBootId: string,
  connectMs = 5_000,
): Promise<BootObservation> {
  try {
    if (!target.via) await probeTcp(target.address, target.port, Math.min(connectMs, 2_000));
    // Always a new connection: an idle one may lead to the boot that is ending (or has ended).
    const bootId = await connector.use(
      target,
      (s) => readBootId(s, bootIdCommand, Math.max(connectMs, 5_000)),
      {
        readyTimeoutMs: connectMs,
        fresh: true,
      },
    );
    if (previousBootId && bootId === previousBootId) {
      // A host about to go down: the next look must not wait on a connection to the boot that is ending.
      connector.evict(target);
      return { state: 'same-boot', bootId };
    }
    return { state: 'new-boot', bootId };
  } catch (err) {
    if (err instanceof RolloutError && !['HostUnreachable', 'ConnectionLost'].includes(err.type)) throw err;
    return { state: 'down', reason: (err as Error).message };
  }
}

export interface BootWatch {
  /** Stop looking by then (epoch ms) and return the last observation. */
  until: number;
  /** Between looks (default 250 ms): a refused TCP connection costs less than a millisecond. */
  intervalMs?: number;
  signal?: AbortSignal | undefined;
  /** Called after every look (heartbeats). */
  onLook?: (seen: BootObservation) => void;
}

/**
 * Looks at a rebooting host until it is on a new boot or `until` passes; returns the last look. One
 * activity attempt polls many times: a host back a second after the first look is seen then, not at
 * the next retry of the activity.
 */
export async function watchBoot(
  connector: SshConnector,
  target: SshTarget,
  bootIdCommand: string,
  previousBootId: string,
  watch: BootWatch,
): Promise<BootObservation> {
  const interval = watch.intervalMs ?? 250;
  for (;;) {
    // Each look gets what is left (at least a second): the attempt must end by `until`.
    const left = Math.max(1_000, watch.until - Date.now());
    const seen = await observeBoot(connector, target, bootIdCommand, previousBootId, Math.min(5_000, left));
    watch.onLook?.(seen);
    if (seen.state === 'new-boot' || watch.signal?.aborted || Date.now() + interval >= watch.until)
      return seen;
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}

export interface InstallProgress {
  state: 'started' | 'attached' | 'running' | 'finished';
  /** Seconds since the install started, measured on the host. */
  elapsedSec?: number;
}

export interface InstallResult {
  exitCode: number;
  outputTail: string;
  /** True when this call found the install already running or finished (a retry after a worker died). */
  reattached: boolean;
}

/** The first waits between looks at a running install, before `pollMs`. */
const POLL_RAMP_MS = [100, 250, 500];

/** How long a launched install may go without writing its PID before its outcome counts as unknown. */
const STARTING_GRACE_MS = 30_000;

/** Starts the install detached, or re-attaches; prints `started`, `attached` or `launching`. */
export function installStartScript(
  dir: string,
  command: string,
  run: InstallRun,
  dialect: HostDialect = dialectFor('posix'),
): string {
  return dialect.installStart(dir, command, run);
}

/**
 * One look at an install (the rules are the dialect's, written beside its script). Prints one of:
 * `exit N`, `running SECONDS`, `timedout SECONDS`, `starting`, `missing`, `vanished <what was seen>`.
 * `betweenObservations` is a test seam: a command run after the first look, to widen the window the
 * race lived in.
 */
export function installPollScript(
  dir: string,
  run: InstallRun,
  options: { betweenObservations?: string } = {},
  dialect: HostDialect = dialectFor('posix'),
): string {
  return dialect.installPoll(dir, run, options);
}

export type InstallObservation =
  | { kind: 'exit'; code: number }
  | { kind: 'running'; elapsedSec: number }
  | { kind: 'timedout'; elapsedSec: number }
  | { kind: 'starting' }
  | { kind: 'missing' }
  | { kind: 'vanished'; seen: string };

/** Parses what the poll script printed; anything else is an error, never a guess. */
export function parseInstallObservation(printed: string): InstallObservation {
  const [word = '', ...rest] = printed.trim().split(' ');
  const arg = rest.join(' ');
  const number = /^-?\d+$/.test(arg) ? Number(arg) : undefined;
  if (word === 'exit' && number !== undefined) return { kind: 'exit', code: number };
  if (word === 'running' && number !== undefined) return { kind: 'running', elapsedSec: number };
  if (word === 'timedout' && number !== undefined) return { kind: 'timedout', elapsedSec: number };
  if (word === 'starting' && !arg) return { kind: 'starting' };
  if (word === 'missing' && !arg) return { kind: 'missing' };
  if (word === 'vanished') return { kind: 'vanished', seen: arg };
  throw new RolloutError('CommandFailed', `install poll printed "${printed.slice(0, 120)}"`);
}

/**
 * Starts the install detached from the SSH session under a run directory, or re-attaches to one
 * already started, and waits for its exit code. Only one attempt ever starts the command on a host
 * (see `installStartScript`). Throws InstallTimedOut past `run.timeoutMs` (the install is stopped on
 * the host), and InstallOutcomeUnknown when the outcome cannot be read: the install's process is gone
 * without an exit code, its run directory disappeared, or it never wrote its PID. The caller must not
 * guess then: a person looks at the host.
 */
export async function runInstall(
  ssh: SshSession,
  patch: Patch,
  run: InstallRun,
  artifactPath: string,
  onTick: (progress: InstallProgress) => void,
  pollMs = 1_000,
): Promise<InstallResult> {
  const { dialect } = ssh;
  const dir = dialect.runDir(run.runKey);
  const command = dialect.installCommand(patch, artifactPath, dir);
  const started = await ssh.check(dialect.installStart(dir, command, run), QUICK_MS, 'install start');
  const reattached = started !== 'started';
  onTick({ state: reattached ? 'attached' : 'started' });
  const poll = dialect.installPoll(dir, run);
  // An install that ended without an exit code still has its task (Windows) to remove; best effort.
  const tidy = () => ssh.run(dialect.installOutput(dir), QUICK_MS).catch(() => undefined);
  let startingSince: number | undefined;
  let polls = 0;
  for (;;) {
    const seen = parseInstallObservation(await ssh.check(poll, QUICK_MS, 'install poll'));
    switch (seen.kind) {
      case 'exit': {
        const output = await ssh.run(dialect.installOutput(dir), QUICK_MS);
        onTick({ state: 'finished' });
        return { exitCode: seen.code, outputTail: tail(output.stdout, 4000), reattached };
      }
      case 'timedout':
        await tidy();
        throw new RolloutError(
          'InstallTimedOut',
          `${ssh.target.name}: the install ran ${seen.elapsedSec} s, past its limit of ${Math.ceil(run.timeoutMs / 1000)} s; it was stopped on the host`,
        );
      case 'vanished':
        await tidy();
        throw new RolloutError(
          'InstallOutcomeUnknown',
          `${ssh.target.name}: the install's outcome cannot be read: ${seen.seen}`,
        );
      case 'missing':
        await tidy();
        throw new RolloutError(
          'InstallOutcomeUnknown',
          `${ssh.target.name}: the install's run directory ${dir} is gone`,
        );
      case 'starting':
        startingSince ??= Date.now();
        if (Date.now() - startingSince > STARTING_GRACE_MS)
          throw new RolloutError(
            'InstallOutcomeUnknown',
            `${ssh.target.name}: the install was launched but never recorded its process in ${STARTING_GRACE_MS / 1000} s`,
          );
        onTick({ state: reattached ? 'attached' : 'started' });
        break;
      case 'running':
        startingSince = undefined;
        onTick({ state: 'running', elapsedSec: seen.elapsedSec });
        break;
    }
    // A short install is seen ending soon after it starts; a long one is looked at every `pollMs`.
    await new Promise((resolve) => setTimeout(resolve, Math.min(pollMs, POLL_RAMP_MS[polls++] ?? pollMs)));
  }
}

/**
 * Asks the host to reboot, once. With `bootIdCommand` and `previousBootId` it first reads the boot ID:
 * a host already on another boot (a retried trigger whose first attempt did reboot it) is not rebooted
 * again. The connection going away is the expected outcome, not an error; a command that exits
 * non-zero is. Returns what it did.
 */
export async function triggerReboot(
  ssh: SshSession,
  options: { command?: string; bootIdCommand?: string; previousBootId?: string } = {},
): Promise<'triggered' | 'already-rebooted'> {
  if (options.bootIdCommand && options.previousBootId) {
    const now = await readBootId(ssh, options.bootIdCommand);
    if (now !== options.previousBootId) return 'already-rebooted';
  }
  const result = await ssh
    .run(options.command ?? ssh.dialect.rebootCommand, QUICK_MS)
    .catch((err: RolloutError) => {
      if (err.type === 'ConnectionLost' || err.type === 'CommandTimeout')
        return { code: null, stdout: '', stderr: '' };
      throw err;
    });
  if (result.code !== null && result.code !== 0)
    throw new RolloutError(
      'CommandFailed',
      `${ssh.target.name}: reboot command exited ${result.code}: ${tail(result.stderr, 300)}`,
    );
  return 'triggered';
}

/** What the host itself says about the patch's prerequisites, and which one it misses (if any). */
export interface PrerequisiteMeasurement {
  servicePack?: number;
  os?: string;
  freeDiskMiB?: number;
  build?: string;
  pendingReboot?: string[];
  unmet?: string;
}

/**
 * Measures the prerequisites the host reports (its dialect's probes: commands, free disk, on Windows its
 * OS facts and a pending reboot) and compares them with the patch's; read-only. A reboot pending before
 * the install is unmet when the patch's policy refuses such hosts; with `reboot-first` it is reported
 * for the workflow to act on.
 */
export async function measurePrerequisites(ssh: SshSession, patch: Patch): Promise<PrerequisiteMeasurement> {
  const probes = ssh.dialect.prerequisiteProbes(patch);
  const printed = await ssh.checkAll(probes, QUICK_MS);
  return judgePrerequisites(
    patch,
    probes.map((probe, i) => probe.read(printed[i] ?? '')),
  );
}

/**
 * Everything preflight reads, in one command where the dialect allows (`SshSession.checkAll`): the
 * installed version, the boot ID, and the prerequisites measured on the host.
 */
export async function readPreflight(
  ssh: SshSession,
  patch: Patch,
  bootIdCommand: string,
): Promise<PrerequisiteMeasurement & { version: string; bootId: string }> {
  const probes = ssh.dialect.prerequisiteProbes(patch);
  const [version = '', bootId = '', ...printed] = await ssh.checkAll(
    [
      { script: ssh.dialect.versionCommand(patch), what: 'version command' },
      { script: ssh.dialect.userCommand(bootIdCommand), what: 'boot ID command' },
      ...probes,
    ],
    QUICK_MS,
  );
  const measured = judgePrerequisites(
    patch,
    probes.map((probe, i) => probe.read(printed[i] ?? '')),
  );
  return { version, bootId, ...measured };
}

/** What the probes read, against what the patch requires; `unmet` says which falls short, with the value. */
function judgePrerequisites(
  patch: Patch,
  reads: Array<HostFacts & { problems?: string[] }>,
): PrerequisiteMeasurement {
  const facts: HostFacts = {};
  const unmet: string[] = [];
  for (const { problems, ...measured } of reads) {
    Object.assign(facts, measured);
    unmet.push(...(problems ?? []));
  }
  const want = patch.prerequisites;
  const measured: PrerequisiteMeasurement = { ...facts };
  if (
    facts.servicePack !== undefined &&
    want.minServicePack !== undefined &&
    facts.servicePack < want.minServicePack
  )
    unmet.push(`service pack ${facts.servicePack} is below the required ${want.minServicePack}`);
  if (facts.os !== undefined && want.os && !want.os.includes(facts.os))
    unmet.push(`operating system "${facts.os}" is not one of ${want.os.join(', ')}`);
  if (want.minFreeDisk && facts.freeDiskMiB !== undefined && facts.freeDiskMiB < want.minFreeDisk.mebibytes)
    unmet.push(
      `${facts.freeDiskMiB} MiB free on ${want.minFreeDisk.path}, ${want.minFreeDisk.mebibytes} MiB required`,
    );
  if (facts.pendingReboot?.length && patch.windows?.pendingReboot !== 'reboot-first')
    unmet.push(`a reboot is pending (${facts.pendingReboot.join(', ')}); the patch refuses such hosts`);
  if (!facts.pendingReboot?.length) delete measured.pendingReboot;
  return unmet.length ? { ...measured, unmet: unmet.join('; ') } : measured;
}

export interface IntegrityProfile {
  files: number;
  digest: string;
}

export interface IntegrityComparison extends IntegrityProfile {
  changes: Array<{ path: string; change: 'modified' | 'removed' | 'added' }>;
  moreChanges: number;
}

const MAX_LISTED_CHANGES = 50;

const separator = (ssh: SshSession) => (ssh.dialect.platform === 'windows' ? '\\' : '/');

function parseProfileSummary(ssh: SshSession, printed: string): IntegrityProfile {
  const match = /^(\d+) ([0-9a-f]{64})$/.exec(printed.split('\n').pop() ?? '');
  if (!match) throw new RolloutError('IntegrityViolation', `${ssh.target.name}: unreadable profile summary`);
  return { files: Number(match[1]), digest: match[2] ?? '' };
}

async function runProfile(ssh: SshSession, script: string, timeoutMs: number): Promise<string> {
  const result = await ssh.run(script, timeoutMs);
  if (result.code === null)
    throw new RolloutError('ConnectionLost', `${ssh.target.name}: lost during integrity profile`);
  if (result.code !== 0)
    throw new RolloutError(
      'IntegrityViolation',
      `${ssh.target.name}: integrity profile failed: ${tail(result.stderr.trim(), 300)}`,
    );
  return result.stdout.trim();
}

/**
 * Takes the before-install profile once per run: a retry (a worker died) finds it and reuses it, so
 * the reference is always the state before anything was installed. The profile is written to a
 * temporary file and renamed, so a retry finds either no profile or a complete one, never half of one.
 */
export async function profileBeforeInstall(
  ssh: SshSession,
  patch: Patch,
  runKey: string,
): Promise<IntegrityProfile> {
  const before = `${ssh.dialect.integrityDir(runKey)}${separator(ssh)}before`;
  const existing = await ssh.run(ssh.dialect.existingProfile(before), QUICK_MS);
  if (existing.code === 0 && existing.stdout.trim()) return parseProfileSummary(ssh, existing.stdout.trim());
  return parseProfileSummary(
    ssh,
    await runProfile(ssh, ssh.dialect.profile(patch, before), patch.integrity.timeout),
  );
}

/** Profiles again and lists every file that changed, vanished or (unless allowed) appeared. */
export async function compareAfterInstall(
  ssh: SshSession,
  patch: Patch,
  runKey: string,
): Promise<IntegrityComparison> {
  const dir = ssh.dialect.integrityDir(runKey);
  const after = `${dir}${separator(ssh)}after`;
  const summary = parseProfileSummary(
    ssh,
    await runProfile(ssh, ssh.dialect.profile(patch, after), patch.integrity.timeout),
  );
  const diff = ssh.dialect.compareProfiles(dir, patch.integrity.allowNewFiles, MAX_LISTED_CHANGES);
  const [count = '0', ...lines] = (await runProfile(ssh, diff, QUICK_MS)).split('\n');
  const changes = lines.filter(Boolean).map((line) => {
    const cut = line.indexOf(' ');
    return { change: line.slice(0, cut) as 'modified' | 'removed' | 'added', path: line.slice(cut + 1) };
  });
  return { ...summary, changes, moreChanges: Math.max(0, Number(count) - changes.length) };
}
