/** Composition root of a worker: config -> logger -> adapters -> activities -> Worker. */
import { PROJECT_ROOT } from '../runtime/paths.js';
import { DefaultLogger, NativeConnection, Runtime, Worker, type LogLevel } from '@temporalio/worker';
import type { Logger } from 'pino';
import { createCampaignActivities } from '../activities/campaign-activities.js';
import { createHostActivities } from '../activities/host-activities.js';
import type { LedgerWriter } from '../activities/ledger-activities.js';
import { createTrustActivities, type TrustStore } from '../activities/trust-activities.js';
import { fileCampaignStore } from '../adapters/campaign-store.js';
import { createControllerClient } from '../adapters/controller.js';
import { directoryKeyStore } from '../adapters/ssh.js';
import { webhookSink } from '../adapters/webhooks.js';
import type { Webhook } from '../domain/schema.js';
import { tlsOptions, type TemporalConfig } from '../client/connection.js';
import type { ArtifactPolicy } from '../adapters/artifacts.js';
import { artifactPolicyFromEnv, govcPath } from '../runtime/config.js';

/** The workflow sources (TypeScript), which the SDK bundles for its sandbox. */
export const WORKFLOWS_PATH = `${PROJECT_ROOT}/workflows/index.ts`;

let runtimeInstalled = false;

/**
 * Routes the SDK's own logs, the TypeScript side's and the Rust core's alike, through pino: one JSON
 * stream on stderr (without `forward`, the core writes coloured plain text there). Must run once, before
 * any connection or worker exists.
 */
export function installRuntime(logger: Logger, sdkLevel: LogLevel = 'WARN', metricsAddress?: string): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  Runtime.install({
    telemetryOptions: {
      logging: { forward: {}, filter: { core: sdkLevel, other: sdkLevel } },
      // Temporal's runtime metrics and ours (rollout_*) on one Prometheus endpoint, loopback by default.
      ...(metricsAddress ? { metrics: { prometheus: { bindAddress: metricsAddress } } } : {}),
    },
    logger: new DefaultLogger(sdkLevel, (entry) => {
      const level = entry.level.toLowerCase() as Lowercase<LogLevel>;
      const method =
        level === 'trace'
          ? 'trace'
          : level === 'warn'
            ? 'warn'
            : level === 'error'
              ? 'error'
              : level === 'debug'
                ? 'debug'
                : 'info';
      logger[method]({ ...entry.meta, sdk: true }, entry.message);
    }),
  });
}

export interface ActivityOptions {
  /** Directory of SSH private keys named by credential (e.g. the lab's .data/lab/keys). */
  keyDir: string;
  /** The campaign store the clients write to (ROLLOUT_STORE_DIR); shared by every worker. */
  storeDir: string;
  /**
   * The rollout store (SQLite or PostgreSQL): the ledger host workflows write to, and the signing keys
   * decisions are verified against.
   */
  ledger: LedgerWriter & TrustStore;
  /** Webhooks for notifications (ROLLOUT_WEBHOOKS). */
  webhooks?: Webhook[];
  logger: Logger;
  /** Where artifacts may be read from; default from the environment (ROLLOUT_ARTIFACT_*). */
  artifacts?: ArtifactPolicy;
  /** The govc binary for vSphere controllers; default ROLLOUT_GOVC or the one setup built. */
  govc?: string;
}

/** Every activity the workflows call, wired to the real adapters: the one place they are composed. */
export function composeActivities(options: ActivityOptions) {
  const keys = directoryKeyStore(options.keyDir);
  const artifacts = options.artifacts ?? artifactPolicyFromEnv();
  const campaigns = fileCampaignStore(options.storeDir);
  const hostActivities = createHostActivities({
    keys,
    controllers: createControllerClient(keys, { govc: options.govc ?? govcPath() }),
    logger: options.logger,
    artifacts,
  });
  return {
    ...hostActivities,
    ...createTrustActivities({ store: options.ledger, campaigns, logger: options.logger }),
    ...createCampaignActivities({
      store: campaigns,
      logger: options.logger,
      checkHealth: hostActivities.checkHealth,
      ledger: options.ledger,
      notifications: webhookSink(options.webhooks ?? [], options.logger),
      artifacts,
    }),
  };
}

export interface WorkerOptions extends ActivityOptions {
  config: TemporalConfig;
  /** The SDK's own log threshold; each retried attempt of a polling activity logs at WARN. */
  sdkLogLevel?: LogLevel;
  /** host:port of the Prometheus endpoint (`/metrics`); none when left out. */
  metricsAddress?: string;
  /** Defaults to 100 concurrent activities (SSH sessions) per worker process. */
  maxConcurrentActivities?: number;
}

export async function createWorker(
  options: WorkerOptions,
): Promise<{ worker: Worker; connection: NativeConnection }> {
  installRuntime(options.logger, options.sdkLogLevel, options.metricsAddress);
  const connection = await NativeConnection.connect({
    address: options.config.address,
    tls: tlsOptions(options.config),
    apiKey: options.config.apiKey,
  });
  const activities = composeActivities(options);
  const worker = await Worker.create({
    connection,
    namespace: options.config.namespace,
    taskQueue: options.config.taskQueue,
    workflowsPath: WORKFLOWS_PATH,
    activities,
    maxConcurrentActivityTaskExecutions: options.maxConcurrentActivities ?? 100,
    // Installs re-attach after a restart, but give in-flight steps a chance to finish on SIGTERM.
    shutdownGraceTime: '20s',
  });
  return { worker, connection };
}
