/**
 * The one place the environment is read. Every setting of every process (worker, API, CLI, demo,
 * benches, tests) is declared here, validated once with zod, and handed down as a typed `Settings`
 * object; no other module reads `process.env` (lint refuses it). A wrong value is a ConfigError naming
 * every variable that is wrong, before anything runs.
 */
import { accessSync, constants, readFileSync } from 'node:fs';
import { delimiter, isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import type { ArtifactPolicy } from '../adapters/artifacts.js';
import type { OidcOptions } from '../adapters/oidc.js';
import type { StoreLocation } from '../adapters/rollout-store.js';
import { webhooksFromEnv } from '../adapters/webhooks.js';
import { TASK_QUEUE } from '../domain/ids.js';
import { parseRoleMapping } from '../domain/identity-claims.js';
import type { Webhook } from '../domain/schema.js';
import { PROJECT_ROOT } from './paths.js';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export const DEFAULT_TEMPORAL_ADDRESS = '127.0.0.1:7233';

/** How every process reaches Temporal: the dev server by default, or a cluster (TLS, API key). */
export const TemporalConfig = z.object({
  address: z.string().min(1).default(DEFAULT_TEMPORAL_ADDRESS),
  namespace: z.string().min(1).default('default'),
  taskQueue: z.string().min(1).default(TASK_QUEUE),
  tlsCertPath: z.string().optional(),
  tlsKeyPath: z.string().optional(),
  tlsCaPath: z.string().optional(),
  tlsServerName: z.string().optional(),
  apiKey: z.string().optional(),
});
export type TemporalConfig = z.infer<typeof TemporalConfig>;

/** Where the API listens: loopback unless told otherwise, HTTPS when given a certificate and key. */
export const ApiConfig = z.object({
  host: z.string().min(1).default('127.0.0.1'),
  port: z.coerce.number().int().min(0).max(65535).default(8088),
  tlsCertFile: z.string().optional(),
  tlsKeyFile: z.string().optional(),
});
export type ApiConfig = z.infer<typeof ApiConfig>;

const SDK_LOG_LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'] as const;
export type SdkLogLevel = (typeof SDK_LOG_LEVELS)[number];
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** An unset variable and an empty one mean the same: the default. */
const optional = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v));
const absolute = optional.refine((v) => v === undefined || isAbsolute(v), 'must be an absolute path');
const positive = (fallback: number) =>
  optional.transform((v, ctx) => {
    if (v === undefined) return fallback;
    const value = Number(v);
    if (Number.isSafeInteger(value) && value > 0) return value;
    ctx.addIssue({ code: 'custom', message: 'must be a positive whole number' });
    return z.NEVER;
  });

/**
 * Why a rollout API URL is not one the CLI may send a token to: https, or http only to this machine's
 * loopback (a token in clear text on a network is a token for anyone on it); no credentials, query or
 * fragment.
 */
export function remoteApiUrlProblem(
  value: string,
  example = 'https://rollout.hospital.example:8443',
  credentials = 'the token is ROLLOUT_TOKEN',
): string | undefined {
  if (!URL.canParse(value)) return `must be a URL such as ${example}`;
  const url = new URL(value);
  if (url.username || url.password) return `must not carry a user name or password (${credentials})`;
  if (url.search || url.hash) return 'must not have a query string or fragment';
  const loopback = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/.test(url.hostname);
  if (url.protocol === 'https:' || (url.protocol === 'http:' && loopback)) return undefined;
  return 'must be https (http only to a loopback address)';
}

/** Every variable, as the environment spells it. */
const Environment = z.object({
  ROLLOUT_DATA_DIR: optional,
  ROLLOUT_TOOLS_DIR: optional,
  ROLLOUT_LAB_DIR: optional,
  ROLLOUT_KEY_DIR: optional,
  ROLLOUT_STORE_DIR: optional,
  ROLLOUT_DATABASE_URL: optional.refine(
    (v) => v === undefined || /^postgres(ql)?:\/\//.test(v),
    'must be a postgres:// URL',
  ),
  ROLLOUT_DB_FILE: optional,
  TEMPORAL_ADDRESS: optional,
  TEMPORAL_NAMESPACE: optional,
  ROLLOUT_TASK_QUEUE: optional,
  TEMPORAL_TLS_CLIENT_CERT_PATH: optional,
  TEMPORAL_TLS_CLIENT_KEY_PATH: optional,
  TEMPORAL_TLS_SERVER_CA_CERT_PATH: optional,
  TEMPORAL_TLS_SERVER_NAME: optional,
  TEMPORAL_API_KEY: optional,
  ROLLOUT_API_HOST: optional,
  ROLLOUT_API_PORT: optional,
  ROLLOUT_API_TLS_CERT: optional,
  ROLLOUT_API_TLS_KEY: optional,
  ROLLOUT_API_URL: optional.superRefine((v, ctx) => {
    const problem = v === undefined ? undefined : remoteApiUrlProblem(v);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  }),
  ROLLOUT_API_CA_FILE: absolute,
  ROLLOUT_OIDC_ISSUER: optional.superRefine((v, ctx) => {
    const problem =
      v === undefined
        ? undefined
        : remoteApiUrlProblem(v, 'https://login.hospital.example/realms/pacs', 'the issuer is a public URL');
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  }),
  ROLLOUT_OIDC_CLIENT_ID: optional,
  ROLLOUT_OIDC_AUDIENCE: optional,
  ROLLOUT_OIDC_ROLES: optional,
  ROLLOUT_OIDC_SCOPE: optional,
  ROLLOUT_OIDC_NAME_CLAIM: optional,
  ROLLOUT_OIDC_GROUPS_CLAIM: optional,
  ROLLOUT_OIDC_CA_FILE: absolute,
  ROLLOUT_ARTIFACT_DIRS: optional.refine(
    (v) => v === undefined || v.split(':').every((d) => d === '' || isAbsolute(d)),
    'every directory must be absolute (":"-separated)',
  ),
  ROLLOUT_ARTIFACT_MAX_BYTES: positive(8 * 1024 ** 3),
  ROLLOUT_ARTIFACT_HASH_TIMEOUT_MS: positive(600_000),
  ROLLOUT_ARTIFACT_CACHE_DIR: absolute,
  ROLLOUT_ARTIFACT_CA_FILE: absolute,
  ROLLOUT_ARTIFACT_URLS: optional.refine(
    (v) =>
      v === undefined ||
      v
        .split(',')
        .map((p) => p.trim())
        .filter(Boolean)
        .every(
          (p) => URL.canParse(p) && p.startsWith('https://') && p.endsWith('/') && new URL(p).href === p,
        ),
    'every prefix must be an https URL ending in "/", written as a browser would (","-separated)',
  ),
  ROLLOUT_SERVICE_KEY: absolute,
  ROLLOUT_SIGNING_KEY: optional,
  ROLLOUT_TOKEN: optional,
  ROLLOUT_TOKEN_FILE: optional,
  ROLLOUT_GOVC: absolute,
  ROLLOUT_WEBHOOKS: optional,
  // Set but empty turns the endpoint off; unset means the default.
  ROLLOUT_METRICS_ADDRESS: z.string().optional(),
  ROLLOUT_LOG_LEVEL: optional.pipe(z.enum(LOG_LEVELS).optional()),
  ROLLOUT_SDK_LOG_LEVEL: optional.transform((v) => v?.toUpperCase()).pipe(z.enum(SDK_LOG_LEVELS).optional()),
  TEMPORAL_CLI_PATH: optional,
  TEMPORAL_TEST_SERVER_PATH: optional,
  PATH: optional,
  HOME: optional,
  HOSTNAME: optional,
  SSH_AUTH_SOCK: optional,
});
type Environment = z.infer<typeof Environment>;

export interface Settings {
  /** Campaign state, lab hosts, the dev server's SQLite file (ROLLOUT_DATA_DIR, default `.data`). */
  dataDir: string;
  /** Installed server binaries, govc, the bind shim (ROLLOUT_TOOLS_DIR, default `.tools`). */
  toolsDir: string;
  /** The LD_PRELOAD shim that holds servers without a bind option to one address (built by setup). */
  bindShim: string;
  /** The lab `rollout lab` runs (ROLLOUT_LAB_DIR). */
  labDir: string;
  /** SSH keys and controller secrets by credential name (ROLLOUT_KEY_DIR, default the lab's keys). */
  keyDir: string;
  /**
   * The rollout store: PostgreSQL when a URL is set, else the SQLite file; and where an earlier version
   * kept campaign files by SHA-256 (ROLLOUT_STORE_DIR), imported by every process that opens the store.
   */
  database: StoreLocation;
  temporal: TemporalConfig;
  api: ApiConfig;
  /**
   * The rollout API the CLI acts through (ROLLOUT_API_URL), trusting ROLLOUT_API_CA_FILE for its
   * certificate: then the CLI's acting and reading commands are HTTP requests with the user's token, and
   * the CLI holds no Temporal identity and opens no database.
   */
  remoteApi?: { url: string; caFile?: string };
  /** Sign-in with the hospital's OpenID Connect provider (ROLLOUT_OIDC_*), beside the local tokens. */
  oidc?: OidcOptions;
  artifacts: ArtifactPolicy;
  /** The installation's service key (the API's and the local CLI's). */
  serviceKeyFile: string;
  /** A person's own signing key for the CLI, if set. */
  signingKeyFile?: string;
  /** The CLI's token, or the file whose first line it is (read by `cliToken`, when a command acts). */
  token?: string;
  tokenFile?: string;
  /** The govc binary vSphere controllers are driven with, and the home directory it runs in. */
  govc: { binary: string; home: string };
  webhooks: Webhook[];
  /** The worker's Prometheus endpoint; undefined turns it off. */
  metricsAddress?: string;
  /** pino level of the JSON logs; undefined means the process's own default. */
  logLevel?: string;
  sdkLogLevel: SdkLogLevel;
  /** Server binaries given explicitly (TEMPORAL_CLI_PATH, TEMPORAL_TEST_SERVER_PATH). */
  binaries: { cli?: string; testServer?: string };
  /** The directories of PATH, where binaries are looked for. */
  searchPath: string[];
  /** The worker's SSH agent, for the credential `agent`. */
  sshAgentSocket?: string;
  /** This machine's name (audit entries of local administration). */
  hostname: string;
}

/** Whether `path` is a file this process may run. */
export function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The first executable `command` in the PATH directories, if any. */
export function onSearchPath(settings: Pick<Settings, 'searchPath'>, command: string): string | undefined {
  for (const dir of settings.searchPath) if (executable(`${dir}/${command}`)) return `${dir}/${command}`;
  return undefined;
}

function temporalConfig(env: Environment): TemporalConfig {
  return TemporalConfig.parse({
    address: env.TEMPORAL_ADDRESS,
    namespace: env.TEMPORAL_NAMESPACE,
    taskQueue: env.ROLLOUT_TASK_QUEUE,
    tlsCertPath: env.TEMPORAL_TLS_CLIENT_CERT_PATH,
    tlsKeyPath: env.TEMPORAL_TLS_CLIENT_KEY_PATH,
    tlsCaPath: env.TEMPORAL_TLS_SERVER_CA_CERT_PATH,
    tlsServerName: env.TEMPORAL_TLS_SERVER_NAME,
    apiKey: env.TEMPORAL_API_KEY,
  });
}

function oidcSettings(env: Environment, problems: string[]): OidcOptions | undefined {
  // As given: some providers' `iss` ends in a slash (the discovery document is checked against it).
  const issuer = env.ROLLOUT_OIDC_ISSUER;
  if (!issuer) {
    if (env.ROLLOUT_OIDC_CLIENT_ID || env.ROLLOUT_OIDC_ROLES)
      problems.push('ROLLOUT_OIDC_ISSUER: set it with ROLLOUT_OIDC_CLIENT_ID and ROLLOUT_OIDC_ROLES');
    return undefined;
  }
  if (!env.ROLLOUT_OIDC_CLIENT_ID)
    problems.push("ROLLOUT_OIDC_CLIENT_ID: the dashboard's client ID at the identity provider is required");
  const roles = parseRoleMapping(env.ROLLOUT_OIDC_ROLES ?? '');
  if ('problem' in roles) problems.push(`ROLLOUT_OIDC_ROLES: ${roles.problem}`);
  // The dashboard's client ID is the `aud` of its ID tokens: an API that took it would take ID tokens.
  const audience = env.ROLLOUT_OIDC_AUDIENCE;
  if (!audience)
    problems.push(
      "ROLLOUT_OIDC_AUDIENCE: the `aud` of the provider's access tokens for this API is required",
    );
  else if (audience === env.ROLLOUT_OIDC_CLIENT_ID)
    problems.push(
      "ROLLOUT_OIDC_AUDIENCE: must name the API, not the dashboard's client ID (that is the audience of ID tokens)",
    );
  if (
    !env.ROLLOUT_OIDC_CLIENT_ID ||
    'problem' in roles ||
    !audience ||
    audience === env.ROLLOUT_OIDC_CLIENT_ID
  )
    return undefined;
  return {
    issuer,
    clientId: env.ROLLOUT_OIDC_CLIENT_ID,
    audience,
    scope: env.ROLLOUT_OIDC_SCOPE ?? 'openid email',
    claims: {
      name: env.ROLLOUT_OIDC_NAME_CLAIM ?? 'email',
      groups: env.ROLLOUT_OIDC_GROUPS_CLAIM ?? 'groups',
    },
    roles: roles.mapping,
    ...(env.ROLLOUT_OIDC_CA_FILE ? { caFile: resolve(env.ROLLOUT_OIDC_CA_FILE) } : {}),
  };
}

function apiConfig(env: Environment, problems: string[]): ApiConfig {
  const parsed = ApiConfig.safeParse({
    host: env.ROLLOUT_API_HOST,
    port: env.ROLLOUT_API_PORT,
    tlsCertFile: env.ROLLOUT_API_TLS_CERT,
    tlsKeyFile: env.ROLLOUT_API_TLS_KEY,
  });
  if (!parsed.success) {
    problems.push('ROLLOUT_API_PORT: must be a port number (0-65535)');
    return ApiConfig.parse({});
  }
  if (Boolean(parsed.data.tlsCertFile) !== Boolean(parsed.data.tlsKeyFile))
    problems.push('ROLLOUT_API_TLS_CERT and ROLLOUT_API_TLS_KEY: set both, or neither');
  return parsed.data;
}

/** Reads and checks every setting; throws one ConfigError naming each wrong variable. */
export function loadSettings(variables: NodeJS.ProcessEnv): Settings {
  const parsed = Environment.safeParse(variables);
  if (!parsed.success)
    throw new ConfigError(
      `bad settings: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  const env = parsed.data;
  const problems: string[] = [];
  const dataDir = resolve(env.ROLLOUT_DATA_DIR ?? `${PROJECT_ROOT}/.data`);
  const toolsDir = resolve(env.ROLLOUT_TOOLS_DIR ?? `${PROJECT_ROOT}/.tools`);
  const labDir = resolve(env.ROLLOUT_LAB_DIR ?? `${dataDir}/lab`);
  const searchPath = (env.PATH ?? '').split(delimiter).filter(Boolean);
  const builtGovc = `${toolsDir}/govmomi/govc`;
  let webhooks: Webhook[] = [];
  try {
    webhooks = webhooksFromEnv(env.ROLLOUT_WEBHOOKS);
  } catch (err) {
    problems.push((err as Error).message);
  }
  const api = apiConfig(env, problems);
  const oidc = oidcSettings(env, problems);
  if (env.ROLLOUT_API_URL && env.ROLLOUT_SIGNING_KEY)
    problems.push(
      'ROLLOUT_SIGNING_KEY: decisions sent through ROLLOUT_API_URL are signed by the API; unset one of them',
    );
  if (problems.length) throw new ConfigError(`bad settings: ${problems.join('; ')}`);
  const listed = env.ROLLOUT_ARTIFACT_DIRS?.split(':').filter(Boolean);
  return {
    dataDir,
    toolsDir,
    bindShim: `${toolsDir}/bindaddr.so`,
    labDir,
    keyDir: resolve(env.ROLLOUT_KEY_DIR ?? `${labDir}/keys`),
    database: {
      ...(env.ROLLOUT_DATABASE_URL ? { databaseUrl: env.ROLLOUT_DATABASE_URL } : {}),
      sqliteFile: resolve(env.ROLLOUT_DB_FILE ?? `${dataDir}/rollout.sqlite`),
      legacyStoreDir: resolve(env.ROLLOUT_STORE_DIR ?? `${dataDir}/store`),
    },
    temporal: temporalConfig(env),
    api,
    ...(env.ROLLOUT_API_URL
      ? {
          remoteApi: {
            url: env.ROLLOUT_API_URL.replace(/\/+$/, ''),
            ...(env.ROLLOUT_API_CA_FILE ? { caFile: resolve(env.ROLLOUT_API_CA_FILE) } : {}),
          },
        }
      : {}),
    ...(oidc ? { oidc } : {}),
    artifacts: {
      dirs: (listed ?? [`${dataDir}/artifacts`, `${PROJECT_ROOT}/examples/artifacts`]).map((d) => resolve(d)),
      maxBytes: env.ROLLOUT_ARTIFACT_MAX_BYTES,
      hashTimeoutMs: env.ROLLOUT_ARTIFACT_HASH_TIMEOUT_MS,
      cacheDir: resolve(env.ROLLOUT_ARTIFACT_CACHE_DIR ?? `${dataDir}/artifact-cache`),
      ...(env.ROLLOUT_ARTIFACT_CA_FILE ? { caFile: resolve(env.ROLLOUT_ARTIFACT_CA_FILE) } : {}),
      urlPrefixes: (env.ROLLOUT_ARTIFACT_URLS ?? '')
        .split(',')
        .map((p) => p.trim())
        .filter(Boolean),
    },
    serviceKeyFile: env.ROLLOUT_SERVICE_KEY ?? `${dataDir}/keys/service-ed25519.pem`,
    ...(env.ROLLOUT_SIGNING_KEY ? { signingKeyFile: env.ROLLOUT_SIGNING_KEY } : {}),
    ...(env.ROLLOUT_TOKEN ? { token: env.ROLLOUT_TOKEN.trim() } : {}),
    ...(env.ROLLOUT_TOKEN_FILE ? { tokenFile: env.ROLLOUT_TOKEN_FILE } : {}),
    govc: {
      binary:
        env.ROLLOUT_GOVC ??
        (executable(builtGovc) ? builtGovc : (onSearchPath({ searchPath }, 'govc') ?? 'govc')),
      home: env.HOME ?? '/tmp',
    },
    webhooks,
    ...(env.ROLLOUT_METRICS_ADDRESS === undefined
      ? { metricsAddress: '127.0.0.1:9464' }
      : env.ROLLOUT_METRICS_ADDRESS
        ? { metricsAddress: env.ROLLOUT_METRICS_ADDRESS }
        : {}),
    ...(env.ROLLOUT_LOG_LEVEL ? { logLevel: env.ROLLOUT_LOG_LEVEL } : {}),
    sdkLogLevel: env.ROLLOUT_SDK_LOG_LEVEL ?? 'WARN',
    binaries: {
      ...(env.TEMPORAL_CLI_PATH ? { cli: env.TEMPORAL_CLI_PATH } : {}),
      ...(env.TEMPORAL_TEST_SERVER_PATH ? { testServer: env.TEMPORAL_TEST_SERVER_PATH } : {}),
    },
    searchPath,
    ...(env.SSH_AUTH_SOCK ? { sshAgentSocket: env.SSH_AUTH_SOCK } : {}),
    hostname: env.HOSTNAME ?? 'localhost',
  };
}

let loaded: Settings | undefined;

/** This process's settings, from its environment, read on first use. */
export function settings(): Settings {
  loaded ??= loadSettings(process.env);
  return loaded;
}

/**
 * Settings for a worker or client that the demo, a bench or a test runs against its own server and
 * directories: this process's settings with those replaced, a fresh Temporal config (no cluster TLS), no
 * metrics endpoint and quiet SDK logs unless given.
 */
export function embeddedSettings(
  overrides: Partial<Omit<Settings, 'temporal'>> & { temporal?: Partial<TemporalConfig> },
): Settings {
  const { temporal, ...rest } = overrides;
  return {
    ...settings(),
    metricsAddress: undefined,
    sdkLogLevel: 'ERROR',
    ...rest,
    temporal: TemporalConfig.parse(temporal ?? {}),
  };
}

/**
 * The environment a child process inherits (this process's, plus `extra`): for the tools setup runs
 * and the servers tests start, which read their own variables.
 */
export function childEnvironment(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  return { ...process.env, ...extra };
}

/**
 * The CLI user's bearer token: ROLLOUT_TOKEN, or the first line of the file ROLLOUT_TOKEN_FILE. Never a
 * command-line flag (other users of the machine can read a process's arguments).
 */
export function cliToken(from: Pick<Settings, 'token' | 'tokenFile'> = settings()): string | undefined {
  if (from.token) return from.token;
  if (!from.tokenFile) return undefined;
  try {
    return readFileSync(from.tokenFile, 'utf8').split('\n')[0]?.trim() || undefined;
  } catch (err) {
    throw new ConfigError(
      `ROLLOUT_TOKEN_FILE: cannot read ${from.tokenFile}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
    );
  }
}
