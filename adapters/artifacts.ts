/**
 * The patch artifact on the orchestrator's side. A campaign file names a path, but the worker (and the
 * API that checks it before a start) reads only regular files inside its configured artifact
 * directories, up to a size limit, hashing within a time limit that a closed request also ends. Without
 * these, whoever may start a campaign could make the API hash /dev/zero for ever, or learn whether any
 * readable file (a private key, /etc/shadow) has a given checksum.
 *
 * Or the campaign file names an https URL, under one of the URL prefixes the installation allows (else
 * whoever may start a campaign could make the API probe any internal https server): the worker fetches
 * it once into its cache directory, under the checksum the campaign file gives, and only bytes that hash
 * to it are ever kept there; the same size limit applies, and a redirect is not followed (give the final
 * URL).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, readFileSync } from 'node:fs';
import { mkdir, realpath, rename, rm, stat } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { request } from 'node:https';
import { sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { RolloutError } from '../domain/errors.js';
import { artifactSource, type Patch } from '../domain/schema.js';

export interface ArtifactPolicy {
  /** Absolute directories artifacts may come from (symbolic links are resolved before the check). */
  dirs: string[];
  /** Largest artifact, in bytes. */
  maxBytes: number;
  /** Longest a checksum (or a download) may take. */
  hashTimeoutMs: number;
  /** Where artifacts fetched by URL are kept, by checksum. Without it a URL is refused. */
  cacheDir?: string;
  /** https URL prefixes (each ending in `/`) artifacts may be fetched from; others are refused. */
  urlPrefixes?: string[];
  /** PEM certificates to trust for artifact URLs, instead of the system's. */
  caFile?: string;
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
 * Fetches `url` into the cache under `sha256` unless a copy is already there, checking the bytes as they
 * arrive: more than the size limit, a status other than 200, a TLS failure or no answer within the time
 * limit is SourceArtifactUnreadable; bytes that do not hash to `sha256` are SourceArtifactInvalid and
 * are not kept. Returns the cached file.
 */
async function cachedDownload(
  url: string,
  sha256: string,
  policy: ArtifactPolicy,
  options: HashOptions,
): Promise<string> {
  const href = new URL(url).href;
  if (!(policy.urlPrefixes ?? []).some((prefix) => prefix.endsWith('/') && href.startsWith(prefix)))
    throw new RolloutError(
      'SourceArtifactRefused',
      `artifact ${url} is not under an artifact URL prefix of this installation (ROLLOUT_ARTIFACT_URLS)`,
    );
  if (!policy.cacheDir)
    throw new RolloutError(
      'SourceArtifactRefused',
      `artifact ${url}: this worker has no artifact cache directory (ROLLOUT_ARTIFACT_CACHE_DIR)`,
    );
  const cached = `${policy.cacheDir}/${sha256}`;
  if (
    await stat(cached).then(
      (s) => s.isFile(),
      () => false,
    )
  )
    return cached;
  await mkdir(policy.cacheDir, { recursive: true, mode: 0o700 });
  const part = `${cached}.part-${randomBytes(4).toString('hex')}`;
  const unreadable = (why: string) => new RolloutError('SourceArtifactUnreadable', `artifact ${url}: ${why}`);
  const tooLarge = () =>
    new RolloutError(
      'SourceArtifactRefused',
      `artifact ${url} is larger than ${policy.maxBytes} bytes (ROLLOUT_ARTIFACT_MAX_BYTES)`,
    );
  let ca: Buffer | undefined;
  try {
    ca = policy.caFile ? readFileSync(policy.caFile) : undefined;
  } catch (err) {
    throw new RolloutError(
      'SourceArtifactRefused',
      `cannot read ROLLOUT_ARTIFACT_CA_FILE ${policy.caFile}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
    );
  }
  const abort = new AbortController();
  const timer = setTimeout(
    () => abort.abort(unreadable(`no complete answer within ${policy.hashTimeoutMs} ms`)),
    policy.hashTimeoutMs,
  );
  const onAbort = () => abort.abort(unreadable('the download was stopped: the request went away'));
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted) onAbort();
  try {
    const response = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = request(href, { ...(ca ? { ca } : {}), signal: abort.signal }, resolve);
      req.on('error', (err) =>
        reject(
          abort.signal.aborted
            ? abort.signal.reason
            : unreadable(`cannot fetch it (${(err as NodeJS.ErrnoException).code ?? err.message})`),
        ),
      );
      req.end();
    });
    if (response.statusCode !== 200) {
      response.resume();
      throw unreadable(
        `the server answered ${response.statusCode}${response.headers.location ? ' (a redirect: give the final URL)' : ''}`,
      );
    }
    const length = Number(response.headers['content-length'] ?? 0);
    if (length > policy.maxBytes) {
      response.destroy();
      throw tooLarge();
    }
    const hash = createHash('sha256');
    let bytes = 0;
    response.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > policy.maxBytes) response.destroy(tooLarge());
      hash.update(chunk);
      options.onChunk?.();
    });
    try {
      await pipeline(response, createWriteStream(part, { mode: 0o600 }));
    } catch (err) {
      if (err instanceof RolloutError) throw err;
      if (abort.signal.aborted) throw abort.signal.reason as Error;
      throw unreadable(`the download broke off (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    if (hash.digest('hex') !== sha256)
      throw new RolloutError(
        'SourceArtifactInvalid',
        `artifact ${url} does not match the SHA-256 the campaign file gives (${sha256}); nothing was kept`,
      );
    await rename(part, cached);
    return cached;
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
    await rm(part, { force: true });
  }
}

/**
 * The file to read the artifact from on this machine: a path the policy allows, or the cached copy of a
 * URL (fetched and checked first if there is none). Throws as allowedArtifact and the download do.
 */
export async function localArtifact(
  patch: Patch,
  policy: ArtifactPolicy,
  options: HashOptions = {},
): Promise<string> {
  const { path, url, sha256 } = patch.artifact;
  if (url) return cachedDownload(url, sha256, policy, options);
  return allowedArtifact(path!, policy);
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
  const source = artifactSource(patch.artifact);
  const hashOf = async (file: string) => {
    try {
      return await sha256File(file, policy.hashTimeoutMs, options);
    } catch (err) {
      if (err instanceof RolloutError) throw err;
      throw new RolloutError(
        'SourceArtifactUnreadable',
        `cannot read artifact ${source}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
      );
    }
  };
  let path = await localArtifact(patch, policy, options);
  let actual = await hashOf(path);
  if (actual !== patch.artifact.sha256 && patch.artifact.url) {
    // A cached copy that changed on this machine's disk is not the vendor's file: fetch it again.
    await rm(path, { force: true });
    path = await localArtifact(patch, policy, options);
    actual = await hashOf(path);
  }
  if (actual !== patch.artifact.sha256)
    throw new RolloutError(
      'SourceArtifactInvalid',
      `artifact ${source} does not match the SHA-256 the campaign file gives (${patch.artifact.sha256})`,
    );
  return path;
}
