/** Composition root of a worker: config -> logger -> adapters -> activities -> Worker. */
import { PROJECT_ROOT } from '../runtime/paths.js';
import { DefaultLogger, NativeConnection, Runtime, Worker, type LogLevel } from '@temporalio/worker';
import { IllegalStateError } from '@temporalio/common';
import type { Logger } from 'pino';
import { createCampaignActivities } from '../activities/campaign-activities.js';
import { createHostActivities } from '../activities/host-activities.js';
import type { LedgerWriter } from '../activities/ledger-activities.js';
import { planCache } from '../activities/plan-cache.js';
import { createTrustActivities, type TrustStore } from '../activities/trust-activities.js';
import type { CampaignStore } from '../adapters/campaign-store.js';
import { createControllerClient } from '../adapters/controller.js';
import { directoryKeyStore } from '../adapters/ssh.js';
import { sshPool, type SshConnector, type SshPool } from '../adapters/ssh-pool.js';
import { webhookSink } from '../adapters/webhooks.js';
import { tlsOptions } from '../client/connection.js';
import type { Settings } from '../runtime/config.js';

/** The workflow sources (TypeScript), which the SDK bundles for its sandbox. */
export const WORKFLOWS_PATH = `${PROJECT_ROOT}/workflows/index.ts`;

let runtimeInstalled = false;

/**
 * Routes the SDK's own logs, the TypeScript side's and the Rust core's alike, through pino: one JSON
 * stream on stderr (without `forward`, the core writes coloured plain text there). Must run once, before
 * any connection or worker exists; a runtime the process installed before is kept.
 */
export function installRuntime(logger: Logger, sdkLevel: LogLevel = 'WARN', metricsAddress?: string): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  try {
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
  } catch (err) {
    // The process installed its own runtime first (the tests' setup does): that one stays.
    if (!(err instanceof IllegalStateError)) throw err;
  }
}

export interface ActivityOptions {
  /**
   * This worker's settings (runtime/config.ts): the key directory, the campaign store, artifacts, govc,
   * webhooks, Temporal, metrics. Production passes `settings()`; the demo, the benches and the tests
   * pass the same object with their own directories and server.
   */
  settings: Settings;
  /**
   * The rollout store (SQLite or PostgreSQL): the ledger host workflows write to, the signing keys
   * decisions are verified against, and the campaign files workflows refer to by checksum.
   */
  ledger: LedgerWriter & TrustStore & { campaignFiles: CampaignStore };
  logger: Logger;
}

/**
 * Every activity the workflows call, wired to the real adapters: the one place they are composed. SSH
 * sessions to hosts and controllers come from `ssh` (default: a pool of this worker's own).
 */
export function composeActivities({
  settings,
  ledger,
  logger,
  ssh,
}: ActivityOptions & { ssh?: SshConnector }) {
  const keys = directoryKeyStore(settings.keyDir, settings.sshAgentSocket);
  const connector = ssh ?? sshPool(keys);
  const { artifacts } = settings;
  const campaigns = ledger.campaignFiles;
  // One plan per campaign file in this worker: admission and every wave read it from here.
  const plans = planCache();
  const hostActivities = createHostActivities({
    ssh: connector,
    controllers: createControllerClient(keys, { govc: settings.govc, ssh: connector }),
    logger,
    artifacts,
  });
  return {
    ...hostActivities,
    ...createTrustActivities({ store: ledger, campaigns, logger, plans }),
    ...createCampaignActivities({
      store: campaigns,
      logger,
      checkHealth: hostActivities.checkHealth,
      ledger,
      notifications: webhookSink(settings.webhooks, logger),
      artifacts,
      plans,
    }),
  };
}

export interface WorkerOptions extends ActivityOptions {
  /** Defaults to 100 concurrent activities (SSH sessions) per worker process. */
  maxConcurrentActivities?: number;
}

/**
 * A worker on the configured Temporal, with its SSH pool: close `ssh` once the worker has stopped (its
 * idle connections would otherwise hold the process up to the pool's idle time).
 */
export async function createWorker(
  options: WorkerOptions,
): Promise<{ worker: Worker; connection: NativeConnection; ssh: SshPool }> {
  const { settings, logger } = options;
  const temporal = settings.temporal;
  installRuntime(logger, settings.sdkLogLevel, settings.metricsAddress);
  const connection = await NativeConnection.connect({
    address: temporal.address,
    tls: tlsOptions(temporal),
    apiKey: temporal.apiKey,
  });
  const ssh = sshPool(directoryKeyStore(settings.keyDir, settings.sshAgentSocket));
  const activities = composeActivities({ ...options, ssh });
  const worker = await Worker.create({
    connection,
    namespace: temporal.namespace,
    taskQueue: temporal.taskQueue,
    workflowsPath: WORKFLOWS_PATH,
    activities,
    maxConcurrentActivityTaskExecutions: options.maxConcurrentActivities ?? 100,
    // Installs re-attach after a restart, but give in-flight steps a chance to finish on SIGTERM.
    shutdownGraceTime: '20s',
  });
  return { worker, connection, ssh };
}
