/**
 * Settings read from the environment, validated once, with the reason when one is wrong. Every process
 * (worker, API, CLI, demo, benches) reads its settings here.
 */
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type { ArtifactPolicy } from '../adapters/artifacts.js';
import { dataDir, PROJECT_ROOT, TOOLS_DIR } from './paths.js';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

function positiveInteger(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const text = env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value <= 0)
    throw new ConfigError(`${name} must be a positive whole number`);
  return value;
}

/**
 * Where patch artifacts may come from: `ROLLOUT_ARTIFACT_DIRS` (absolute directories, `:`-separated;
 * default `<data dir>/artifacts` and the project's `examples/artifacts`), at most
 * `ROLLOUT_ARTIFACT_MAX_BYTES` (default 8 GiB), hashed within `ROLLOUT_ARTIFACT_HASH_TIMEOUT_MS`
 * (default 10 minutes).
 */
export function artifactPolicyFromEnv(env: NodeJS.ProcessEnv = process.env): ArtifactPolicy {
  const listed = env.ROLLOUT_ARTIFACT_DIRS;
  const dirs = listed
    ? listed.split(':').filter(Boolean)
    : [`${dataDir()}/artifacts`, `${PROJECT_ROOT}/examples/artifacts`];
  for (const dir of dirs)
    if (!isAbsolute(dir))
      throw new ConfigError(`ROLLOUT_ARTIFACT_DIRS: "${dir}" is not an absolute directory`);
  return {
    dirs: dirs.map((d) => resolve(d)),
    maxBytes: positiveInteger(env, 'ROLLOUT_ARTIFACT_MAX_BYTES', 8 * 1024 ** 3),
    hashTimeoutMs: positiveInteger(env, 'ROLLOUT_ARTIFACT_HASH_TIMEOUT_MS', 600_000),
  };
}

/** The installation's service key (the API's and the local CLI's): `ROLLOUT_SERVICE_KEY`. */
export function serviceKeyFile(env: NodeJS.ProcessEnv = process.env): string {
  const path = env.ROLLOUT_SERVICE_KEY || `${dataDir()}/keys/service-ed25519.pem`;
  if (!isAbsolute(path)) throw new ConfigError('ROLLOUT_SERVICE_KEY must be an absolute path');
  return path;
}

/** A person's own signing key for the CLI (`ROLLOUT_SIGNING_KEY`, a PEM file), if set. */
export function personalKeyFile(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env.ROLLOUT_SIGNING_KEY || undefined;
}

/**
 * The CLI user's bearer token: `ROLLOUT_TOKEN`, or the first line of the file `ROLLOUT_TOKEN_FILE`.
 * Never a command-line flag (other users of the machine can read a process's arguments).
 */
export function cliToken(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.ROLLOUT_TOKEN) return env.ROLLOUT_TOKEN.trim();
  if (!env.ROLLOUT_TOKEN_FILE) return undefined;
  try {
    return readFileSync(env.ROLLOUT_TOKEN_FILE, 'utf8').split('\n')[0]?.trim() || undefined;
  } catch (err) {
    throw new ConfigError(
      `ROLLOUT_TOKEN_FILE: cannot read ${env.ROLLOUT_TOKEN_FILE}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
    );
  }
}

/**
 * The govc binary vSphere controllers are driven with: `ROLLOUT_GOVC`, else the one `npm run setup`
 * builds into `.tools/govmomi/`, else `govc` on the PATH.
 */
export function govcPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.ROLLOUT_GOVC) {
    if (!isAbsolute(env.ROLLOUT_GOVC)) throw new ConfigError('ROLLOUT_GOVC must be an absolute path');
    return env.ROLLOUT_GOVC;
  }
  const built = `${TOOLS_DIR}/govmomi/govc`;
  return existsSync(built) ? built : 'govc';
}
