/**
 * The remote steps on one fleet host. Each is idempotent per (campaign, patch, host): it checks the
 * host's state first and resumes rather than repeats.
 */
import { randomBytes } from 'node:crypto';
import { RolloutError } from '../domain/errors.js';
import type { Patch } from '../domain/schema.js';
import { allowedArtifact, verifySourceArtifact, type ArtifactPolicy } from './artifacts.js';
import { probeTcp } from './health.js';
import {
  renderCommand,
  shellQuote,
  tail,
  withSsh,
  type KeyStore,
  type SshSession,
  type SshTarget,
} from './ssh.js';

const QUICK_MS = 30_000;

export async function readVersion(ssh: SshSession, patch: Patch): Promise<string> {
  return ssh.check(patch.versionCommand, QUICK_MS, 'version command');
}

export async function readBootId(ssh: SshSession, bootIdCommand: string): Promise<string> {
  return ssh.check(bootIdCommand, QUICK_MS, 'boot ID command');
}

/** Where an artifact lives on a host: keyed by its checksum, so a retry finds it already there. */
export function remoteArtifactPath(patch: Patch): string {
  return `.rollout/artifacts/${patch.artifact.sha256}-${patch.artifact.path.split('/').pop() ?? 'artifact'}`;
}

/**
 * The SHA-256 of a file on the host, or `absent`. A host that cannot compute it (no sha256sum, a
 * read error) is an error, never a mismatch: a mismatch would condemn a good artifact.
 */
async function remoteSha256(ssh: SshSession, path: string): Promise<string | 'absent'> {
  const q = shellQuote(path);
  const printed = await ssh.check(
    `if [ -f ${q} ]; then s=$(sha256sum < ${q}) || exit 4; printf '%s\\n' "\${s%% *}"; else echo absent; fi`,
    QUICK_MS,
    'sha256sum',
  );
  if (printed === 'absent' || /^[0-9a-f]{64}$/.test(printed)) return printed;
  throw new RolloutError('CommandFailed', `${ssh.target.name}: sha256sum printed "${printed.slice(0, 80)}"`);
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
  const remote = remoteArtifactPath(patch);
  if ((await remoteSha256(ssh, remote)) === patch.artifact.sha256) return remote;
  const source = await allowedArtifact(patch.artifact.path, policy);
  await ssh.check('mkdir -p .rollout/artifacts', QUICK_MS, 'mkdir');
  const part = `${remote}.part-${randomBytes(4).toString('hex')}`;
  await ssh.upload(source, part, onProgress);
  const uploaded = await remoteSha256(ssh, part);
  if (uploaded !== patch.artifact.sha256) {
    await ssh.run(`rm -f ${shellQuote(part)}`, QUICK_MS);
    await verifySourceArtifact(patch, policy, { onChunk: onProgress });
    throw new RolloutError(
      'ArtifactChecksumMismatch',
      `${ssh.target.name}: the uploaded copy does not match the approved SHA-256; it was deleted`,
    );
  }
  await ssh.check(`mv -f ${shellQuote(part)} ${shellQuote(remote)}`, QUICK_MS, 'artifact rename');
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
  target: SshTarget,
  keys: KeyStore,
  bootIdCommand: string,
  previousBootId: string,
  connectMs = 5_000,
): Promise<BootObservation> {
  try {
    if (!target.via) await probeTcp(target.address, target.port, Math.min(connectMs, 2_000));
    const bootId = await withSsh(target, keys, (s) => readBootId(s, bootIdCommand), {
      readyTimeoutMs: connectMs,
    });
    return previousBootId && bootId === previousBootId
      ? { state: 'same-boot', bootId }
      : { state: 'new-boot', bootId };
  } catch (err) {
    if (err instanceof RolloutError && !['HostUnreachable', 'ConnectionLost'].includes(err.type)) throw err;
    return { state: 'down', reason: (err as Error).message };
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

/** One install run on a host: where it lives, who owns it, and its hard time limit. */
export interface InstallRun {
  /** Names the run directory `.rollout/runs/<runKey>`: one per (campaign, patch, version). */
  runKey: string;
  /**
   * The host workflow run that owns the install. A later run (an on-call retry) finds a *finished* run
   * of another owner and starts afresh; a running one, or one without an owner (written by an older
   * version), it re-attaches to, so no two installs ever run at once.
   */
  owner: string;
  /** Past this, measured on the host from the moment the install started, its process group is stopped. */
  timeoutMs: number;
  /** Prints the host's boot ID; guards against a PID that a reboot handed to another process. */
  bootIdCommand: string;
}

const RUNS_DIR = '.rollout/runs';

/** How long a launched install may go without writing its PID before its outcome counts as unknown. */
const STARTING_GRACE_MS = 30_000;

/**
 * The detached wrapper. It takes the run directory (`mkdir`, the lock) only once it is detached from
 * the SSH session, so a session that dies before the launch leaves no lock behind, and one that dies
 * after it cannot stop the install. `started` is written before `pid`, `exit` last and atomically.
 */
const INSTALL_WRAPPER = [
  'd=$1; t=$2',
  'if ! mkdir "$d" 2>/dev/null; then rm -rf "$t"; exit 0; fi',
  'mv "$t/command" "$t/owner" "$t/boot" "$d/"',
  'date +%s > "$d/started"',
  'echo "$$" > "$d/pid.tmp" && mv "$d/pid.tmp" "$d/pid"',
  'printf \'%s\\n\' "$t" > "$d/launch.tmp" && mv "$d/launch.tmp" "$d/launch"',
  'rm -rf "$t"',
  'sh "$d/command" > "$d/output" 2>&1',
  'code=$?',
  'echo "$code" > "$d/exit.tmp" && mv "$d/exit.tmp" "$d/exit"',
].join('\n');

/** Starts the install detached, or re-attaches; prints `started`, `attached` or `launching`. */
export function installStartScript(dir: string, command: string, run: InstallRun): string {
  const owner = shellQuote(run.owner);
  return [
    `d=${shellQuote(dir)}`,
    `mkdir -p ${RUNS_DIR} || exit 3`,
    'if [ -d "$d" ]; then',
    '  prev=$(cat "$d/owner" 2>/dev/null)',
    // A finished run of another host-workflow run (an on-call retry): keep its files, start afresh.
    `  if [ -n "$prev" ] && [ "$prev" != ${owner} ] && { [ -f "$d/exit" ] || [ -f "$d/timedout" ]; }; then`,
    '    mv "$d" "$d.done-$(date +%Y%m%dT%H%M%S)-$$" || exit 3',
    '  else echo attached; exit 0; fi',
    'fi',
    `boot=$( ${run.bootIdCommand} ) 2>/dev/null || boot=`,
    `t=$(mktemp -d ${RUNS_DIR}/.launch.XXXXXX) || exit 3`,
    `printf '%s' ${shellQuote(command)} > "$t/command"`,
    `printf '%s\\n' ${owner} > "$t/owner"`,
    `printf '%s\\n' "$boot" > "$t/boot"`,
    `printf '%s' ${shellQuote(INSTALL_WRAPPER)} > "$t/wrapper"`,
    'setsid nohup sh "$t/wrapper" "$d" "$t" </dev/null >/dev/null 2>&1 &',
    'i=0',
    'while [ "$i" -lt 100 ]; do',
    '  if [ -f "$d/launch" ]; then',
    '    if [ "$(cat "$d/launch")" = "$t" ]; then echo started; else echo attached; fi',
    '    exit 0',
    '  fi',
    '  sleep 0.1; i=$((i + 1))',
    'done',
    'echo launching',
  ].join('\n');
}

/**
 * One look at an install. The exit file is the only truth about how it ended: the script reads it
 * first, and again after it found the process gone, so an install that writes its exit code and ends
 * between two observations is never taken for one that vanished. A live process counts only if the
 * host has not rebooted since the install started (a reboot may hand its PID to another process).
 * Past the time limit it writes `timedout` and stops the install's process group (TERM, then KILL);
 * `timedout` is read before `exit`, so once a run is timed out every later look agrees.
 *
 * Prints one of: `exit N`, `running SECONDS`, `timedout SECONDS`, `starting`, `missing`,
 * `vanished <what was seen>`. `betweenObservations` is a test seam: a command run after the first look,
 * to widen the window the race lived in.
 */
export function installPollScript(
  dir: string,
  run: InstallRun,
  options: { betweenObservations?: string } = {},
): string {
  const limit = Math.max(1, Math.ceil(run.timeoutMs / 1000));
  return [
    `d=${shellQuote(dir)}`,
    'if [ -f "$d/timedout" ]; then echo "timedout $(cat "$d/timedout")"; exit 0; fi',
    'if [ -f "$d/exit" ]; then echo "exit $(cat "$d/exit")"; exit 0; fi',
    'if [ ! -d "$d" ]; then echo missing; exit 0; fi',
    'pid=$(cat "$d/pid" 2>/dev/null)',
    ...(options.betweenObservations ? [options.betweenObservations] : []),
    'alive=no; then_boot=; now_boot=',
    'if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then',
    '  alive=yes',
    '  then_boot=$(cat "$d/boot" 2>/dev/null)',
    '  if [ -n "$then_boot" ]; then',
    `    now_boot=$( ${run.bootIdCommand} ) 2>/dev/null`,
    '    if [ -n "$now_boot" ] && [ "$now_boot" != "$then_boot" ]; then alive=no; fi',
    '  fi',
    'fi',
    'if [ "$alive" = yes ]; then',
    '  began=$(cat "$d/started" 2>/dev/null || date +%s)',
    '  elapsed=$(( $(date +%s) - began ))',
    `  if [ "$elapsed" -ge ${limit} ]; then`,
    '    echo "$elapsed" > "$d/timedout"',
    '    kill -TERM -"$pid" 2>/dev/null',
    '    i=0; while [ "$i" -lt 50 ] && kill -0 -"$pid" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done',
    '    kill -KILL -"$pid" 2>/dev/null',
    '    echo "timedout $elapsed"',
    '  else echo "running $elapsed"; fi',
    '  exit 0',
    'fi',
    // Gone (or never seen): the exit file may have appeared since the first look.
    'if [ -f "$d/exit" ]; then echo "exit $(cat "$d/exit")"; exit 0; fi',
    'if [ -z "$pid" ]; then echo starting; exit 0; fi',
    'bytes=$(wc -c < "$d/output" 2>/dev/null || echo 0)',
    'echo "vanished process $pid is gone without an exit code (boot at start ${then_boot:-unknown}, now ${now_boot:-not read}; $bytes bytes of output)"',
  ].join('\n');
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
  const dir = `${RUNS_DIR}/${run.runKey}`;
  const command = renderCommand(patch.installCommand, { artifact: artifactPath, version: patch.version });
  const started = await ssh.check(installStartScript(dir, command, run), QUICK_MS, 'install start');
  const reattached = started !== 'started';
  onTick({ state: reattached ? 'attached' : 'started' });
  const poll = installPollScript(dir, run);
  let startingSince: number | undefined;
  for (;;) {
    const seen = parseInstallObservation(await ssh.check(poll, QUICK_MS, 'install poll'));
    switch (seen.kind) {
      case 'exit': {
        const output = await ssh.run(`tail -c 4000 ${shellQuote(dir)}/output`, QUICK_MS);
        onTick({ state: 'finished' });
        return { exitCode: seen.code, outputTail: tail(output.stdout, 4000), reattached };
      }
      case 'timedout':
        throw new RolloutError(
          'InstallTimedOut',
          `${ssh.target.name}: the install ran ${seen.elapsedSec} s, past its limit of ${Math.ceil(run.timeoutMs / 1000)} s; it was stopped on the host`,
        );
      case 'vanished':
        throw new RolloutError(
          'InstallOutcomeUnknown',
          `${ssh.target.name}: the install's outcome cannot be read: ${seen.seen}`,
        );
      case 'missing':
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
    await new Promise((resolve) => setTimeout(resolve, pollMs));
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
  const result = await ssh.run(options.command ?? 'reboot', QUICK_MS).catch((err: RolloutError) => {
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
  unmet?: string;
}

/** Measures the prerequisites that have a command or a disk threshold; read-only. */
export async function measurePrerequisites(ssh: SshSession, patch: Patch): Promise<PrerequisiteMeasurement> {
  const want = patch.prerequisites;
  const measured: PrerequisiteMeasurement = {};
  const unmet: string[] = [];
  if (want.servicePackCommand) {
    const printed = await ssh.check(want.servicePackCommand, QUICK_MS, 'service-pack command');
    const level = /^\d+$/.test(printed) ? Number(printed) : undefined;
    if (level === undefined)
      unmet.push(`service-pack command printed "${printed.slice(0, 40)}", not a level`);
    else {
      measured.servicePack = level;
      if (want.minServicePack !== undefined && level < want.minServicePack)
        unmet.push(`service pack ${level} is below the required ${want.minServicePack}`);
    }
  }
  if (want.osCommand) {
    measured.os = await ssh.check(want.osCommand, QUICK_MS, 'OS command');
    if (want.os && !want.os.includes(measured.os))
      unmet.push(`operating system "${measured.os}" is not one of ${want.os.join(', ')}`);
  }
  if (want.minFreeDisk) {
    const { path, mebibytes } = want.minFreeDisk;
    const kib = await ssh.check(`df -Pk -- ${shellQuote(path)} | awk 'NR == 2 { print $4 }'`, QUICK_MS, 'df');
    if (!/^\d+$/.test(kib)) unmet.push(`cannot read free space of ${path}: "${kib.slice(0, 80)}"`);
    else {
      measured.freeDiskMiB = Math.floor(Number(kib) / 1024);
      if (measured.freeDiskMiB < mebibytes)
        unmet.push(`${measured.freeDiskMiB} MiB free on ${path}, ${mebibytes} MiB required`);
    }
  }
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

/** Where the profiles of one run live on the host (outside the install marker directory). */
function integrityDir(runKey: string): string {
  return `.rollout/integrity/${runKey}`;
}

/**
 * Writes a profile of the protected paths to `file` on the host: one line per regular file,
 * "<fingerprint> <path>", sorted; the fingerprint is the SHA-256 (mode sha256) or size:mtime (metadata).
 * A protected path that does not exist is an error: the profile would prove nothing.
 */
function profileScript(patch: Patch, file: string): string {
  const { protectedPaths, mode } = patch.integrity;
  const paths = protectedPaths.map(shellQuote).join(' ');
  const list =
    mode === 'sha256'
      ? `find ${paths} -xdev -type f -print0 | sort -z | xargs -0 -r sha256sum | sed 's/^\\([0-9a-f]*\\) [ *]/\\1 /'`
      : `find ${paths} -xdev -type f -printf '%s:%T@ %p\\n' | sort -k2`;
  const f = shellQuote(file);
  return [
    'set -e',
    `for p in ${paths}; do [ -e "$p" ] || { echo "protected path $p does not exist" >&2; exit 3; }; done`,
    `mkdir -p "$(dirname ${f})"`,
    `( ${list} ) > ${f}.tmp`,
    `mv ${f}.tmp ${f}`,
    `echo "$(wc -l < ${f}) $(sha256sum < ${f} | cut -d' ' -f1)"`,
  ].join('\n');
}

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
  const before = `${integrityDir(runKey)}/before`;
  const q = shellQuote(before);
  const existing = await ssh.run(
    `[ -f ${q} ] && echo "$(wc -l < ${q}) $(sha256sum < ${q} | cut -d' ' -f1)"`,
    QUICK_MS,
  );
  if (existing.code === 0 && existing.stdout.trim()) return parseProfileSummary(ssh, existing.stdout.trim());
  return parseProfileSummary(
    ssh,
    await runProfile(ssh, profileScript(patch, before), patch.integrity.timeout),
  );
}

/** Profiles again and lists every file that changed, vanished or (unless allowed) appeared. */
export async function compareAfterInstall(
  ssh: SshSession,
  patch: Patch,
  runKey: string,
): Promise<IntegrityComparison> {
  const dir = integrityDir(runKey);
  const summary = parseProfileSummary(
    ssh,
    await runProfile(ssh, profileScript(patch, `${dir}/after`), patch.integrity.timeout),
  );
  const q = (name: string) => shellQuote(`${dir}/${name}`);
  const added = patch.integrity.allowNewFiles ? '' : 'print "added " path;';
  const diff = [
    `[ -f ${q('before')} ] || { echo "no before-install profile" >&2; exit 3; }`,
    `awk 'function split_line() { cut = index($0, " "); fp = substr($0, 1, cut - 1); path = substr($0, cut + 1) }`,
    `  NR == FNR { split_line(); before[path] = fp; next }`,
    `  { split_line(); if (!(path in before)) { ${added} } else { if (before[path] != fp) print "modified " path; delete before[path] } }`,
    `  END { for (path in before) print "removed " path }' ${q('before')} ${q('after')} | sort -k2 > ${q('changes')}`,
    `wc -l < ${q('changes')}`,
    `head -n ${MAX_LISTED_CHANGES} ${q('changes')}`,
  ].join('\n');
  const [count = '0', ...lines] = (await runProfile(ssh, diff, QUICK_MS)).split('\n');
  const changes = lines.filter(Boolean).map((line) => {
    const cut = line.indexOf(' ');
    return { change: line.slice(0, cut) as 'modified' | 'removed' | 'added', path: line.slice(cut + 1) };
  });
  return { ...summary, changes, moreChanges: Math.max(0, Number(count) - changes.length) };
}
