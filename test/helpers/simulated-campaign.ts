/**
 * A campaign's real parts around a SIMULATED fleet: a real dev server (a SQLite file in `dir`, so it can
 * be restarted on the same port), the rollout store, a client, and an in-process worker running the real
 * workflows with the simulated host steps and the real campaign and trust activities. For e2e tests of
 * the orchestration itself (server restarts, continue-as-new), where no lab is needed.
 */
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import pino from 'pino';
import { createCampaignActivities } from '../../activities/campaign-activities.js';
import { createTrustActivities } from '../../activities/trust-activities.js';
import { openRolloutStore, type RolloutStore } from '../../adapters/rollout-store.js';
import { simulatedArtifact } from '../../bench/fleet-file.js';
import { simulatedHostActivities } from '../../bench/simulated-fleet.js';
import { freePort, startDevServer, type DevServer, type DevServerOptions } from '../../runtime/dev-server.js';
import { bundleWorkflows } from './temporal.js';

export interface SimulatedCampaignParts {
  server: DevServer;
  serverOptions: DevServerOptions;
  client: Client;
  ledger: RolloutStore;
  artifact: ReturnType<typeof simulatedArtifact>;
  host: ReturnType<typeof simulatedHostActivities>;
  campaign: ReturnType<typeof createCampaignActivities>;
}

/**
 * Starts the parts; each is stopped by a function pushed onto `cleanups` (run them in reverse).
 * `activities` may replace some of the worker's activities (to count or slow them); `checkHealth`
 * replaces the soak probe's health check.
 */
export async function startSimulatedCampaign(options: {
  dir: string;
  taskQueue: string;
  cleanups: Array<() => Promise<unknown>>;
  stepMs: number;
  dynamicConfig?: DevServerOptions['dynamicConfig'];
  activities?: (parts: Omit<SimulatedCampaignParts, 'server' | 'serverOptions'>) => object;
}): Promise<SimulatedCampaignParts> {
  const { dir, cleanups } = options;
  const serverOptions: DevServerOptions = {
    port: await freePort(),
    dbFile: `${dir}/temporal.sqlite`,
    logFile: `${dir}/temporal.log`,
    ...(options.dynamicConfig ? { dynamicConfig: options.dynamicConfig } : {}),
  };
  const parts = { serverOptions } as SimulatedCampaignParts;
  parts.server = await startDevServer(serverOptions);
  // The test may restart the server: this stops whichever one is running then.
  cleanups.push(() => parts.server.stop());
  const artifact = simulatedArtifact(dir);
  const ledger = await openRolloutStore({ sqliteFile: `${dir}/rollout.sqlite` });
  cleanups.push(() => ledger.close());
  const client = new Client({ connection: await Connection.connect({ address: parts.server.address }) });
  cleanups.push(() => client.connection.close());
  const native = await NativeConnection.connect({ address: parts.server.address });
  cleanups.push(() => native.close());
  const host = simulatedHostActivities({ stepMs: options.stepMs, brokenBoot: new Set() });
  const logger = pino({ level: 'silent' });
  const campaign = createCampaignActivities({
    store: ledger.campaignFiles,
    logger,
    checkHealth: host.checkHealth,
    ledger,
    artifacts: artifact.policy,
  });
  Object.assign(parts, { client, ledger, artifact, host, campaign });
  const worker = await Worker.create({
    connection: native,
    taskQueue: options.taskQueue,
    workflowBundle: await bundleWorkflows(),
    activities: {
      ...host,
      ...createTrustActivities({ store: ledger, campaigns: ledger.campaignFiles, logger }),
      ...campaign,
      ...options.activities?.({ client, ledger, artifact, host, campaign }),
    },
  });
  const running = worker.run();
  cleanups.push(async () => {
    worker.shutdown();
    await running;
  });
  return parts;
}
