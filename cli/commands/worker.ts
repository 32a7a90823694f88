import type { LogLevel } from '@temporalio/worker';
import { openRolloutStore } from '../../adapters/rollout-store.js';
import { webhooksFromEnv } from '../../adapters/webhooks.js';
import { temporalConfigFromEnv } from '../../client/connection.js';
import { storeDir, storeLocation } from '../../runtime/paths.js';
import { createLogger } from '../../workers/logger.js';
import { createWorker } from '../../workers/worker.js';
import { EXIT, labDir, UsageError } from '../common.js';

/** The Temporal SDK's own log threshold (its TypeScript side and its core), default WARN. */
function sdkLogLevelFromEnv(value: string | undefined): LogLevel {
  const levels: LogLevel[] = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'];
  if (value === undefined || value === '') return 'WARN';
  const level = value.toUpperCase() as LogLevel;
  if (!levels.includes(level))
    throw new UsageError(`ROLLOUT_SDK_LOG_LEVEL must be one of ${levels.join(', ')}`);
  return level;
}

export async function run(): Promise<number> {
  const config = temporalConfigFromEnv();
  const logger = createLogger();
  const keyDir = process.env.ROLLOUT_KEY_DIR ?? `${labDir()}/keys`;
  const ledger = await openRolloutStore(storeLocation());
  const { worker, connection } = await createWorker({
    config,
    keyDir,
    storeDir: storeDir(),
    ledger,
    webhooks: webhooksFromEnv(process.env.ROLLOUT_WEBHOOKS),
    metricsAddress: process.env.ROLLOUT_METRICS_ADDRESS ?? '127.0.0.1:9464',
    sdkLogLevel: sdkLogLevelFromEnv(process.env.ROLLOUT_SDK_LOG_LEVEL),
    logger,
  });
  logger.info(
    { address: config.address, namespace: config.namespace, taskQueue: config.taskQueue },
    'worker started',
  );
  const stop = () => worker.shutdown();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await worker.run();
  await connection.close();
  await ledger.close();
  return EXIT.ok;
}
