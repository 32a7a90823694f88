import { openRolloutStore } from '../../adapters/rollout-store.js';
import { settings } from '../../runtime/config.js';
import { createLogger } from '../../workers/logger.js';
import { createWorker } from '../../workers/worker.js';
import { EXIT } from '../common.js';

export async function run(): Promise<number> {
  const config = settings();
  const logger = createLogger(config.logLevel ?? 'info');
  const ledger = await openRolloutStore(config.database);
  if (ledger.legacyImport.imported || ledger.legacyImport.refused.length)
    logger.info(
      { dir: config.database.legacyStoreDir, ...ledger.legacyImport },
      'campaign files imported into the rollout store',
    );
  const { worker, connection, ssh } = await createWorker({ settings: config, ledger, logger });
  const { address, namespace, taskQueue } = config.temporal;
  logger.info({ address, namespace, taskQueue }, 'worker started');
  const stop = () => worker.shutdown();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await worker.run();
  ssh.close();
  await connection.close();
  await ledger.close();
  return EXIT.ok;
}
