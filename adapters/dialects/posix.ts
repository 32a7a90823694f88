/**
 * The POSIX dialect: `sh` scripts run in the login user's home (`.rollout/`), the install detached with
 * `setsid nohup` and a `mkdir` lock. Why each step cannot misjudge is written beside it.
 */
import { artifactName, type Patch } from '../../domain/schema.js';
import {
  renderTemplate,
  type HostDialect,
  type HostFacts,
  type InstallRun,
  type PrerequisiteProbe,
} from './dialect.js';

/** Quotes one value for a POSIX shell, so host data never becomes shell syntax. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

const RUNS_DIR = '.rollout/runs';

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

function installStart(dir: string, command: string, run: InstallRun): string {
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
 * The exit file is the only truth about how an install ended: read first, and again after the process
 * was found gone, so an install that writes its exit code and ends between two observations is never
 * taken for one that vanished. A live process counts only if the host has not rebooted since the install
 * started (a reboot may hand its PID to another process). Past the time limit it writes `timedout` and
 * stops the install's process group (TERM, then KILL); `timedout` is read before `exit`, so once a run
 * is timed out every later look agrees.
 */
function installPoll(dir: string, run: InstallRun, options: { betweenObservations?: string } = {}): string {
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

/**
 * One line per regular file, "<fingerprint> <path>", sorted; the fingerprint is the SHA-256 (mode
 * sha256) or size:mtime (metadata). A protected path that does not exist is an error: the profile would
 * prove nothing. Written to a temporary file and renamed, so a retry finds no profile or a whole one.
 */
function profile(patch: Patch, file: string): string {
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

function compareProfiles(dir: string, allowNewFiles: boolean, listed: number): string {
  const q = (name: string) => shellQuote(`${dir}/${name}`);
  const added = allowNewFiles ? '' : 'print "added " path;';
  return [
    `[ -f ${q('before')} ] || { echo "no before-install profile" >&2; exit 3; }`,
    `awk 'function split_line() { cut = index($0, " "); fp = substr($0, 1, cut - 1); path = substr($0, cut + 1) }`,
    `  NR == FNR { split_line(); before[path] = fp; next }`,
    `  { split_line(); if (!(path in before)) { ${added} } else { if (before[path] != fp) print "modified " path; delete before[path] } }`,
    `  END { for (path in before) print "removed " path }' ${q('before')} ${q('after')} | sort -k2 > ${q('changes')}`,
    `wc -l < ${q('changes')}`,
    `head -n ${listed} ${q('changes')}`,
  ].join('\n');
}

/** Each prerequisite with a command or a threshold is its own probe, so its failure names it. */
function prerequisiteProbes(patch: Patch): PrerequisiteProbe[] {
  const want = patch.prerequisites;
  const probes: PrerequisiteProbe[] = [];
  if (want.servicePackCommand)
    probes.push({
      what: 'service-pack command',
      script: want.servicePackCommand,
      read: (printed): HostFacts =>
        /^\d+$/.test(printed)
          ? { servicePack: Number(printed) }
          : { problems: [`service-pack command printed "${printed.slice(0, 40)}", not a level`] },
    });
  if (want.osCommand)
    probes.push({ what: 'OS command', script: want.osCommand, read: (printed) => ({ os: printed }) });
  if (want.minFreeDisk) {
    const { path } = want.minFreeDisk;
    probes.push({
      what: 'df',
      script: `df -Pk -- ${shellQuote(path)} | awk 'NR == 2 { print $4 }'`,
      read: (printed): HostFacts =>
        /^\d+$/.test(printed)
          ? { freeDiskMiB: Math.floor(Number(printed) / 1024) }
          : { problems: [`cannot read free space of ${path}: "${printed.slice(0, 80)}"`] },
    });
  }
  return probes;
}

export const posixDialect: HostDialect = {
  platform: 'posix',
  wrap: (script) => ({ command: script }),
  readStdout: (stdout) => stdout,
  readStderr: (stderr) => stderr,
  quote: shellQuote,
  userCommand: (command) => command,

  artifactPath: (patch) => `.rollout/artifacts/${patch.artifact.sha256}-${artifactName(patch.artifact)}`,
  sftpPath: (path) => path,
  // A host that cannot compute it (no sha256sum, a read error) exits 4: an error, never a mismatch.
  sha256: (path) => {
    const q = shellQuote(path);
    return `if [ -f ${q} ]; then s=$(sha256sum < ${q}) || exit 4; printf '%s\\n' "\${s%% *}"; else echo absent; fi`;
  },
  prepareArtifactDir: () => 'mkdir -p .rollout/artifacts',
  removeFile: (path) => `rm -f ${shellQuote(path)}`,
  rename: (from, to) => `mv -f ${shellQuote(from)} ${shellQuote(to)}`,

  runDir: (runKey) => `${RUNS_DIR}/${runKey}`,
  installCommand: (patch, artifactPath) =>
    renderTemplate(shellQuote, patch.installCommand ?? 'false', {
      artifact: artifactPath,
      version: patch.version,
    }),
  installStart,
  installPoll,
  installOutput: (dir) => `tail -c 4000 ${shellQuote(dir)}/output`,

  rebootCommand: 'reboot',
  versionCommand: (patch) => patch.versionCommand ?? 'false',
  prerequisiteProbes,

  integrityDir: (runKey) => `.rollout/integrity/${runKey}`,
  profile,
  existingProfile: (file) => {
    const q = shellQuote(file);
    return `if [ -f ${q} ]; then echo "$(wc -l < ${q}) $(sha256sum < ${q} | cut -d' ' -f1)"; fi`;
  },
  compareProfiles,

  serviceCheck: (check) =>
    (check.manager ?? 'systemd') === 'systemd'
      ? `systemctl is-active --quiet -- ${shellQuote(check.service)}`
      : `pgrep -x -- ${shellQuote(check.service)} >/dev/null`,
  pathCheck: (check) =>
    `${{ file: 'test -f', directory: 'test -d', mount: 'mountpoint -q' }[check.type]} ${shellQuote(check.path)}`,
};

/**
 * Several scripts as one shell command: each runs in its own subshell (its `exit` ends only itself),
 * stdin closed, stdout and stderr to files in a private temporary directory (removed on exit, also when
 * the command is stopped), then printed between lines
 * `@@<boundary> …` (a random boundary: no script prints it): `@@b <i> <exit code>`, the output,
 * `@@b e`, the error output, `@@b end`.
 */
export function posixBatch(scripts: string[], boundary: string): string {
  return [
    '__rollout_d=$(mktemp -d) || exit 97',
    `trap 'rm -rf "$__rollout_d"' EXIT HUP INT TERM`,
    ...scripts.flatMap((script, i) => [
      // `:` first and an empty line last: a script that is only a comment, or ends in a backslash,
      // still makes a complete subshell.
      '(:',
      script,
      '',
      `) </dev/null >"$__rollout_d/o" 2>"$__rollout_d/e"; __rollout_c=$?`,
      `printf '@@%s %s %s\\n' ${boundary} ${i} "$__rollout_c"; cat "$__rollout_d/o"`,
      `printf '\\n@@%s e\\n' ${boundary}; cat "$__rollout_d/e"; printf '\\n@@%s end\\n' ${boundary}`,
    ]),
    'rm -rf "$__rollout_d"',
  ].join('\n');
}

/** Reads `posixBatch`'s output back into one result per script; undefined when it is not all there. */
export function splitPosixBatch(
  printed: string,
  boundary: string,
  count: number,
): Array<{ code: number; stdout: string; stderr: string }> | undefined {
  const results: Array<{ code: number; stdout: string; stderr: string }> = [];
  // node-ssh trims what a command printed: the last line end may be gone.
  const stdout = printed.endsWith('\n') ? printed : `${printed}\n`;
  let at = 0;
  for (let i = 0; i < count; i++) {
    const head = new RegExp(`@@${boundary} ${i} (\\d+)\\n`, 'y');
    head.lastIndex = at;
    const found = head.exec(stdout);
    if (!found) return undefined;
    const outStart = head.lastIndex;
    const errMark = stdout.indexOf(`\n@@${boundary} e\n`, outStart);
    if (errMark < 0) return undefined;
    const errStart = errMark + `\n@@${boundary} e\n`.length;
    const endMark = stdout.indexOf(`\n@@${boundary} end\n`, errStart);
    if (endMark < 0) return undefined;
    results.push({
      code: Number(found[1]),
      stdout: stdout.slice(outStart, errMark),
      stderr: stdout.slice(errStart, endMark),
    });
    at = endMark + `\n@@${boundary} end\n`.length;
  }
  return results;
}
