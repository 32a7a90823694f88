/**
 * The remote steps on one fleet host. Each is idempotent per (campaign, patch, host): it checks the
 * host's state first and resumes rather than repeats.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { RolloutError } from '../domain/errors.js';
import type { Patch } from '../domain/schema.js';
import { renderCommand, shellQuote, tail, type SshSession } from './ssh.js';

const QUICK_MS = 30_000;

/** SHA-256 of a local file, streamed. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** The source artifact must match the checksum in the campaign file before any host is touched. */
export async function verifySourceArtifact(patch: Patch): Promise<void> {
  const actual = await sha256File(patch.artifact.path).catch((err: Error) => {
    throw new RolloutError(
      'SourceArtifactInvalid',
      `cannot read artifact ${patch.artifact.path}: ${err.message}`,
    );
  });
  if (actual !== patch.artifact.sha256)
    throw new RolloutError(
      'SourceArtifactInvalid',
      `artifact ${patch.artifact.path} has SHA-256 ${actual}, the campaign file says ${patch.artifact.sha256}`,
      { actual, expected: patch.artifact.sha256 },
    );
}

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

/** Uploads over SFTP unless the host already holds a file with the right checksum; verifies on the host. */
export async function uploadArtifact(ssh: SshSession, patch: Patch): Promise<string> {
  const remote = remoteArtifactPath(patch);
  const sumCommand = `sha256sum ${shellQuote(remote)} 2>/dev/null | cut -d' ' -f1`;
  const existing = (await ssh.run(sumCommand, QUICK_MS)).stdout.trim();
  if (existing !== patch.artifact.sha256) {
    await ssh.check('mkdir -p .rollout/artifacts', QUICK_MS, 'mkdir');
    await ssh.upload(patch.artifact.path, remote);
    const uploaded = (await ssh.run(sumCommand, QUICK_MS)).stdout.trim();
    if (uploaded !== patch.artifact.sha256) {
      await ssh.run(`rm -f ${shellQuote(remote)}`, QUICK_MS);
      throw new RolloutError(
        'ArtifactChecksumMismatch',
        `${ssh.target.name}: uploaded artifact has SHA-256 ${uploaded}`,
        {
          actual: uploaded,
          expected: patch.artifact.sha256,
        },
      );
    }
  }
  return remote;
}

export interface InstallProgress {
  state: 'started' | 'attached' | 'finished';
}

export interface InstallResult {
  exitCode: number;
  outputTail: string;
  /** True when this call found the install already running or finished (a retry after a worker died). */
  reattached: boolean;
}

/**
 * Starts the install detached from the SSH session under a marker directory keyed by run key, or
 * re-attaches to one already started. `mkdir` of the marker is the lock: only one attempt ever starts
 * the command on a host. An install whose process vanished without an exit code is reported, not rerun.
 */
export async function runInstall(
  ssh: SshSession,
  patch: Patch,
  runKey: string,
  artifactPath: string,
  onTick: (progress: InstallProgress) => void,
  pollMs = 1_000,
): Promise<InstallResult> {
  const dir = `.rollout/runs/${runKey}`;
  const command = renderCommand(patch.installCommand, { artifact: artifactPath, version: patch.version });
  const q = shellQuote(dir);
  const start = [
    `mkdir -p .rollout/runs`,
    `if mkdir ${q} 2>/dev/null; then`,
    `  printf '%s' ${shellQuote(command)} > ${q}/command`,
    `  setsid nohup sh -c 'sh "$1/command" > "$1/output" 2>&1; echo $? > "$1/exit.tmp"; mv "$1/exit.tmp" "$1/exit"' _ ${q} </dev/null >/dev/null 2>&1 &`,
    `  echo $! > ${q}/pid; echo started`,
    `else echo attached; fi`,
  ].join('\n');
  const started = await ssh.check(start, QUICK_MS, 'install start');
  const reattached = started !== 'started';
  onTick({ state: reattached ? 'attached' : 'started' });
  const poll = [
    `if [ -f ${q}/exit ]; then echo "exit $(cat ${q}/exit)";`,
    `elif [ -f ${q}/pid ] && kill -0 "$(cat ${q}/pid)" 2>/dev/null; then echo running;`,
    `else echo vanished; fi`,
  ].join(' ');
  for (;;) {
    const status = await ssh.check(poll, QUICK_MS, 'install poll');
    if (status.startsWith('exit ')) {
      const output = await ssh.run(`tail -c 4000 ${q}/output`, QUICK_MS);
      onTick({ state: 'finished' });
      return { exitCode: Number(status.slice(5)), outputTail: tail(output.stdout, 4000), reattached };
    }
    if (status === 'vanished')
      throw new RolloutError(
        'InstallFailed',
        `${ssh.target.name}: the install process ended without an exit code`,
      );
    onTick({ state: reattached ? 'attached' : 'started' });
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

/**
 * Asks the host to reboot. The connection going away (`code === null`) is the expected outcome, not an
 * error; a command that exits non-zero is.
 */
export async function triggerReboot(ssh: SshSession, command = 'reboot'): Promise<void> {
  const result = await ssh.run(command, QUICK_MS).catch((err: RolloutError) => {
    if (err.type === 'ConnectionLost' || err.type === 'CommandTimeout')
      return { code: null, stdout: '', stderr: '' };
    throw err;
  });
  if (result.code !== null && result.code !== 0)
    throw new RolloutError(
      'InstallFailed',
      `${ssh.target.name}: reboot command exited ${result.code}: ${result.stderr}`,
    );
}
