/**
 * A real Temporal cluster on loopback, as production runs it: the server built from its Go module
 * (`go.temporal.io/server`, pinned; `rollout setup` builds it into `.tools/temporal-server/`), its schema
 * in PostgreSQL (persistence and visibility, through Temporal's own SQL tool), and each service as its own
 * process: history, matching, internal-frontend, frontend, worker. The frontend and every internode link
 * require client certificates (mTLS); with a JWKS file, Temporal's default JWT claim mapper and
 * authorizer decide who may do what (`default:write`, `default:read`, `temporal-system:admin` permissions).
 * Used by `rollout cluster` and the cluster tests; one cluster per loopback address.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time.js';
import { executable, settings } from './config.js';
import { waitForTcp } from './dev-server.js';
import type { CertificatePair } from './certificates.js';

const run = promisify(execFile);

/** The Temporal server release the cluster runs (the newest this machine's Go 1.26.8 builds). */
export const TEMPORAL_SERVER = { module: 'go.temporal.io/server', version: 'v1.32.0' } as const;

/** The services, in the order they start (the frontends need history and matching in the ring). */
export const CLUSTER_SERVICES = ['history', 'matching', 'internal-frontend', 'frontend', 'worker'] as const;
export type ClusterService = (typeof CLUSTER_SERVICES)[number];

const PORTS: Record<ClusterService, { grpc: number; membership: number }> = {
  frontend: { grpc: 7233, membership: 6933 },
  history: { grpc: 7234, membership: 6934 },
  matching: { grpc: 7235, membership: 6935 },
  worker: { grpc: 7239, membership: 6939 },
  'internal-frontend': { grpc: 7236, membership: 6936 },
};

/** Where setup puts the server and its SQL tool. */
export function serverBinaries(toolsDir = settings().toolsDir): { server: string; sql: string; dir: string } {
  const dir = `${toolsDir}/temporal-server`;
  return { dir, server: `${dir}/server`, sql: `${dir}/sql` };
}

export function serverBuilt(): boolean {
  const { server, sql } = serverBinaries();
  return executable(server) && executable(sql);
}

export interface ClusterOptions {
  /** Config, logs and the services' state. */
  dir: string;
  /** The loopback address every service binds to (e.g. 127.0.70.1); the frontend is host:7233. */
  host: string;
  /** A PostgreSQL the cluster may create its two databases in (trust authentication on loopback). */
  postgres: { host: string; port: number; user: string };
  /** The CA every certificate is checked against, and the cluster's own certificate (server + client). */
  tls: { caFile: string; node: CertificatePair; serverName: string };
  /** A JWKS file: turns Temporal's authorization on (no token, no access). */
  jwksFile?: string;
  /** Server log level (default warn). */
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
  /**
   * The operator's client certificate, and (with authorization) a `temporal-system:admin` token: what the
   * cluster is checked and its namespace registered with.
   */
  operator: { client: CertificatePair; token?: string };
}

export interface TemporalCluster {
  /** host:port of the frontend. */
  address: string;
  namespace: string;
  /** The services' processes, by name. */
  readonly processes: ReadonlyMap<ClusterService, ChildProcess>;
  /** Where a service writes its log. */
  logFile(service: ClusterService): string;
  /** Kills one service (SIGKILL unless told) and waits for it to exit. */
  kill(service: ClusterService, signal?: NodeJS.Signals): Promise<void>;
  /** Starts a service that was killed. */
  start(service: ClusterService): void;
  /** Stops every service (SIGTERM, then SIGKILL after 10 s). */
  stop(): Promise<void>;
}

const DATABASES = { temporal: 'postgresql/v12/temporal', temporal_visibility: 'postgresql/v12/visibility' };

/** Creates the two databases and applies Temporal's schema to them (idempotent: a current schema stays). */
export async function setupClusterSchema(postgres: ClusterOptions['postgres']): Promise<void> {
  const { sql } = serverBinaries();
  const base = [
    '--plugin',
    'postgres12',
    '--ep',
    postgres.host,
    '-p',
    String(postgres.port),
    '-u',
    postgres.user,
  ];
  for (const [db, schema] of Object.entries(DATABASES)) {
    await run(sql, [...base, '--db', db, 'create-database']).catch((err: { stderr?: string }) => {
      if (!/already exists/.test(err.stderr ?? '')) throw err;
    });
    await run(sql, [...base, '--db', db, 'setup-schema', '-v', '0.0']);
    await run(sql, [...base, '--db', db, 'update-schema', '--schema-name', schema]);
  }
}

function tlsGroup(options: ClusterOptions) {
  const { caFile, node, serverName } = options.tls;
  return {
    server: {
      certFile: node.certFile,
      keyFile: node.keyFile,
      requireClientAuth: true,
      clientCaFiles: [caFile],
    },
    client: { serverName, rootCaFiles: [caFile] },
  };
}

/** The server's configuration: one file every service reads (`--config-file`). */
export function clusterConfig(options: ClusterOptions): string {
  const { host, postgres } = options;
  const store = (databaseName: string, maxConns: number) => ({
    sql: {
      pluginName: 'postgres12',
      databaseName,
      connectAddr: `${postgres.host}:${postgres.port}`,
      connectProtocol: 'tcp',
      user: postgres.user,
      password: '',
      maxConns,
      maxIdleConns: maxConns,
      maxConnLifetime: '1h',
    },
  });
  const services = Object.fromEntries(
    CLUSTER_SERVICES.map((s) => [
      s,
      { rpc: { grpcPort: PORTS[s].grpc, membershipPort: PORTS[s].membership, bindOnIP: host } },
    ]),
  );
  const config = {
    log: { stdout: true, level: options.logLevel ?? 'warn' },
    persistence: {
      defaultStore: 'default',
      visibilityStore: 'visibility',
      numHistoryShards: 4,
      datastores: { default: store('temporal', 10), visibility: store('temporal_visibility', 2) },
    },
    global: {
      membership: { maxJoinDuration: '30s', broadcastAddress: host },
      tls: {
        internode: tlsGroup(options),
        frontend: tlsGroup(options),
        systemWorker: {
          certFile: options.tls.node.certFile,
          keyFile: options.tls.node.keyFile,
          client: { serverName: options.tls.serverName, rootCaFiles: [options.tls.caFile] },
        },
      },
      ...(options.jwksFile
        ? {
            authorization: {
              jwtKeyProvider: { keySourceURIs: [`file://${options.jwksFile}`], refreshInterval: '1m' },
              permissionsClaimName: 'permissions',
              authorizer: 'default',
              claimMapper: 'default',
            },
          }
        : {}),
    },
    services,
    clusterMetadata: {
      enableGlobalNamespace: false,
      failoverVersionIncrement: 10,
      masterClusterName: 'active',
      currentClusterName: 'active',
      clusterInformation: {
        active: { enabled: true, initialFailoverVersion: 1, rpcName: 'frontend', rpcAddress: `${host}:7233` },
      },
    },
    dcRedirectionPolicy: { policy: 'noop' },
    dynamicConfigClient: { filepath: `${options.dir}/dynamicconfig.yaml`, pollInterval: '10s' },
  };
  // JSON is YAML: the server reads it as its config file.
  return JSON.stringify(config, null, 2);
}

/** Dynamic config: approvals are Updates, and the default namespace is made on start. */
const DYNAMIC_CONFIG = `frontend.enableUpdateWorkflowExecution:
  - value: true
system.forceSearchAttributesCacheRefreshOnRead:
  - value: true
`;

export async function startTemporalCluster(options: ClusterOptions): Promise<TemporalCluster> {
  const { server } = serverBinaries();
  if (!executable(server))
    throw new Error(`the Temporal server is not built at ${server}: run \`npm run setup\` (needs Go)`);
  mkdirSync(`${options.dir}/logs`, { recursive: true });
  const configFile = `${options.dir}/temporal.yaml`;
  writeFileSync(configFile, clusterConfig(options));
  writeFileSync(`${options.dir}/dynamicconfig.yaml`, DYNAMIC_CONFIG);
  await setupClusterSchema(options.postgres);

  const processes = new Map<ClusterService, ChildProcess>();
  const logFile = (service: ClusterService) => `${options.dir}/logs/${service}.log`;
  const start = (service: ClusterService) => {
    const out = openSync(logFile(service), 'a');
    const child = spawn(
      server,
      ['--config-file', configFile, '--allow-no-auth', 'start', '--service', service],
      {
        stdio: ['ignore', out, out],
      },
    );
    closeSync(out);
    processes.set(service, child);
  };
  const kill = async (service: ClusterService, signal: NodeJS.Signals = 'SIGKILL') => {
    const child = processes.get(service);
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill(signal);
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  };
  // The first service up writes the cluster's metadata to the database; services started at the same
  // moment race to write it, and a loser exits ("failed to initialize current cluster metadata"). So
  // history starts alone, and the others once its gRPC port listens (its metadata is written by then).
  const [first, ...others] = CLUSTER_SERVICES;
  start(first);
  try {
    await firstServiceUp(first, processes.get(first)!, (signal) =>
      waitForTcp(options.host, PORTS[first].grpc, FIRST_SERVICE_MS, signal),
    ).catch((err: unknown) => {
      throw new Error(
        `the Temporal ${first} service did not come up: ${(err as Error).message}\n${logTail(logFile(first))}`,
      );
    });
    for (const service of others) start(service);
    await waitUntilServing(options, 'default', processes, logFile);
  } catch (err) {
    await Promise.all(CLUSTER_SERVICES.map((s) => kill(s)));
    throw err;
  }
  const cluster: TemporalCluster = {
    address: `${options.host}:${PORTS.frontend.grpc}`,
    namespace: 'default',
    processes,
    logFile,
    kill,
    start,
    async stop() {
      await Promise.all([...CLUSTER_SERVICES].reverse().map((s) => kill(s, 'SIGTERM')));
    },
  };
  return cluster;
}

/** Resolves once `listening()` does; fails at once, with the service's log, if the process exits first. */
async function firstServiceUp(
  service: ClusterService,
  child: ChildProcess,
  listening: (signal: AbortSignal) => Promise<void>,
): Promise<void> {
  const stop = new AbortController();
  let onExit: (() => void) | undefined;
  const exited = new Promise<never>((_, reject) => {
    onExit = () => reject(new Error(`the ${service} process exited`));
    child.once('exit', onExit);
  });
  try {
    await Promise.race([listening(stop.signal), exited]);
  } finally {
    stop.abort();
    if (onExit) child.removeListener('exit', onExit);
    exited.catch(() => undefined);
  }
}

/**
 * How long the first service may take to listen, and the rest to serve: together under the 300 s a
 * caller (the cluster test's beforeAll) allows, so the bring-up's own error is what gets reported.
 */
const FIRST_SERVICE_MS = 60_000;
const SERVING_MS = 180_000;

/** The gRPC status codes the readiness checks expect. */
const GRPC = { NOT_FOUND: 5, ALREADY_EXISTS: 6 } as const;

/**
 * Waits until the cluster serves the namespace end to end, then returns: the frontend answers (through
 * mTLS, as the operator), the namespace is registered (one that exists already is fine) and in the
 * frontends' cache, visibility answers, history answers (a workflow that does not exist is NOT_FOUND, not
 * "not enough hosts"), and matching answers. Each call has a 5 s deadline. A service that exits meanwhile
 * fails it at once with its log tail; otherwise it gives up after 180 s naming the step it was waiting for.
 */
async function waitUntilServing(
  options: ClusterOptions,
  namespace: string,
  processes: ReadonlyMap<ClusterService, ChildProcess>,
  logFile: (service: ClusterService) => string,
): Promise<void> {
  const deadline = Date.now() + SERVING_MS;
  let step = 'connect to the frontend';
  let last: unknown;
  const exited = () =>
    [...processes].find(([, child]) => child.exitCode !== null || child.signalCode !== null);
  while (Date.now() < deadline) {
    const gone = exited();
    if (gone)
      throw new Error(
        `the Temporal ${gone[0]} service exited while the cluster came up (${gone[1].exitCode ?? gone[1].signalCode})\n${logTail(logFile(gone[0]))}`,
      );
    let connection: Connection | undefined;
    try {
      step = 'connect to the frontend';
      connection = await Connection.connect({
        address: `${options.host}:${PORTS.frontend.grpc}`,
        tls: {
          serverNameOverride: options.tls.serverName,
          serverRootCACertificate: readFileSync(options.tls.caFile),
          clientCertPair: {
            crt: readFileSync(options.operator.client.certFile),
            key: readFileSync(options.operator.client.keyFile),
          },
        },
        ...(options.operator.token ? { apiKey: options.operator.token } : {}),
        connectTimeout: '5s',
      });
      const service = connection.workflowService;
      const call = <T>(fn: () => Promise<T>) => connection!.withDeadline(Date.now() + 5_000, fn);
      step = 'register the namespace';
      await call(() =>
        service.registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs('3 days') }),
      ).catch((err: { code?: number }) => {
        if (err.code !== GRPC.ALREADY_EXISTS) throw err;
      });
      // The namespace cache of the frontends refreshes every few seconds.
      step = 'the namespace served by the frontend';
      await call(() => service.describeNamespace({ namespace }));
      step = 'visibility (PostgreSQL) to answer';
      await call(() => service.listWorkflowExecutions({ namespace, pageSize: 1 }));
      // Until the frontend sees history in the membership ring, it answers UNAVAILABLE (retried to the deadline).
      step = 'the history service to answer';
      await call(() =>
        service.describeWorkflowExecution({
          namespace,
          execution: { workflowId: 'rollout-readiness-probe-that-does-not-exist' },
        }),
      ).then(
        () => undefined,
        (err: { code?: number }) => {
          if (err.code !== GRPC.NOT_FOUND) throw err;
        },
      );
      step = 'the matching service to answer';
      await call(() =>
        service.describeTaskQueue({
          namespace,
          taskQueue: { name: 'rollout-readiness-probe' },
          taskQueueType: 1,
        }),
      );
      return;
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 1_000));
    } finally {
      await connection?.close().catch(() => undefined);
    }
  }
  throw new Error(
    `the Temporal cluster did not come up in ${SERVING_MS / 1000} s: waiting for ${step}: ${(last as Error)?.message ?? last}\n${logTail(logFile('frontend'))}\n${logTail(logFile('history'))}`,
  );
}

/** The last lines of a service's log (for an error message; the server logs no secrets). */
export function logTail(file: string, chars = 1500): string {
  try {
    return readFileSync(file, 'utf8').slice(-chars);
  } catch {
    return `(no log at ${file})`;
  }
}
