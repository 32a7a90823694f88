/**
 * The patch artifact on the orchestrator's side. A campaign file names a path, but the worker (and the
 * API that checks it before a start) reads only regular files inside its configured artifact
 * directories, up to a size limit, hashing within a time limit that a closed request also ends. Without
 * these, whoever may start a campaign could make the API hash /dev/zero for ever, or learn whether any
 * readable file (a private key, /etc/shadow) has a given checksum.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { sep } from 'node:path';
import { RolloutError } from '../domain/errors.js';
import type { Patch } from '../domain/schema.js';

export interface ArtifactPolicy {
  /** Absolute directories artifacts may come from (symbolic links are resolved before the check). */
  dirs: string[];
  /** Largest artifact, in bytes. */
  maxBytes: number;
  /** Longest a checksum may take. */
  hashTimeoutMs: number;
}

export interface HashOptions {
  onChunk?: () => void;
  /** Stops the hashing (the request that asked for it went away). */
  signal?: AbortSignal;
}

/**
 * Resolves `path` and checks it against the policy: inside an artifact directory, a regular file, not
 * larger than the limit. Returns the resolved path. Throws SourceArtifactRefused (a path the policy does
 * not allow: not retried) or SourceArtifactUnreadable (it may be there later: retried).
 */
export async function allowedArtifact(path: string, policy: ArtifactPolicy): Promise<string> {
  const inside = (file: string, dirs: Array<string | undefined>) =>
    dirs.some((dir) => dir !== undefined && file.startsWith(dir.endsWith(sep) ? dir : dir + sep));
  // The path as written first, so that a path outside says so whether or not it exists.
  if (!inside(path, policy.dirs))
    throw new RolloutError(
      'SourceArtifactRefused',
      `artifact ${path} is not inside an artifact directory of this worker (ROLLOUT_ARTIFACT_DIRS)`,
    );
  let real: string;
  try {
    real = await realpath(path);
  } catch (err) {
    throw new RolloutError(
      'SourceArtifactUnreadable',
      `cannot read artifact ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
    );
  }
  // Then where it really is: a symbolic link must not lead out.
  const dirs = await Promise.all(policy.dirs.map((d) => realpath(d).catch(() => undefined)));
  if (!inside(real, dirs))
    throw new RolloutError(
      'SourceArtifactRefused',
      `artifact ${path} leads outside the artifact directories of this worker (ROLLOUT_ARTIFACT_DIRS)`,
    );
  const info = await stat(real);
  if (!info.isFile())
    throw new RolloutError('SourceArtifactRefused', `artifact ${path} is not a regular file`);
  if (info.size > policy.maxBytes)
    throw new RolloutError(
      'SourceArtifactRefused',
      `artifact ${path} is larger than ${policy.maxBytes} bytes (ROLLOUT_ARTIFACT_MAX_BYTES)`,
    );
  return real;
}

/** SHA-256 of a local file, streamed, stopped by `signal` or after `timeoutMs`. */
export async function sha256File(
  path: string,
  timeoutMs: number,
  options: HashOptions = {},
): Promise<string> {
  const hash = createHash('sha256');
  const stream = createReadStream(path);
  const stop = (why: string) => stream.destroy(new RolloutError('SourceArtifactUnreadable', why));
  const timer = setTimeout(() => stop(`hashing ${path} took longer than ${timeoutMs} ms`), timeoutMs);
  const onAbort = () => stop(`hashing ${path} was stopped: the request went away`);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const chunk of stream) {
      hash.update(chunk as Buffer);
      options.onChunk?.();
    }
    return hash.digest('hex');
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
  }
}

/**
 * The source artifact must match the checksum in the campaign file before any host is touched, and
 * again before each gate and wave. A file that cannot be read is SourceArtifactUnreadable (retried: a
 * share may be briefly away); only a file read to the end that differs is SourceArtifactInvalid. The
 * message never says what the file's checksum is. Returns the resolved path to read it from.
 */
export async function verifySourceArtifact(
  patch: Patch,
  policy: ArtifactPolicy,
  options: HashOptions = {},
): Promise<string> {
  const path = await allowedArtifact(patch.artifact.path, policy);
  let actual: string;
  try {
    actual = await sha256File(path, policy.hashTimeoutMs, options);
  } catch (err) {
    if (err instanceof RolloutError) throw err;
    throw new RolloutError(
      'SourceArtifactUnreadable',
      `cannot read artifact ${patch.artifact.path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
    );
  }
  if (actual !== patch.artifact.sha256)
    throw new RolloutError(
      'SourceArtifactInvalid',
      `artifact ${patch.artifact.path} does not match the SHA-256 the campaign file gives (${patch.artifact.sha256})`,
    );
  return path;
}
