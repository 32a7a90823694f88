import { fileCampaignStore } from '../../adapters/campaign-store.js';
import { openRolloutStore } from '../../adapters/rollout-store.js';
import { apiConfigFromEnv, createApi } from '../../api/server.js';
import { rolloutActions } from '../../client/actions.js';
import { connectClient, temporalConfigFromEnv } from '../../client/connection.js';
import { decisionSigner, serviceSigner } from '../../client/signing.js';
import { artifactPolicyFromEnv, serviceKeyFile } from '../../runtime/config.js';
import { storeDir, storeLocation } from '../../runtime/paths.js';
import { EXIT, untilStopped } from '../common.js';
import { printError } from '../output.js';

export async function run(): Promise<number> {
  const config = apiConfigFromEnv();
  const temporal = temporalConfigFromEnv();
  const store = await openRolloutStore(storeLocation());
  const client = await connectClient(temporal);
  const actions = rolloutActions({
    client,
    taskQueue: temporal.taskQueue,
    campaigns: fileCampaignStore(storeDir()),
    store,
    signer: decisionSigner(await serviceSigner(store, serviceKeyFile()), 'api'),
    artifacts: artifactPolicyFromEnv(),
  });
  const tls =
    config.tlsCertFile && config.tlsKeyFile
      ? { certFile: config.tlsCertFile, keyFile: config.tlsKeyFile }
      : undefined;
  const app = await createApi({ actions, store, ...(tls ? { tls } : {}) });
  await app.listen({ host: config.host, port: config.port });
  const url = `${tls ? 'https' : 'http'}://${config.host.includes(':') ? `[${config.host}]` : config.host}:${config.port}/`;
  printError(`API and dashboard on ${url} (OpenAPI: ${url}api/openapi.json). Ctrl-C stops it.\n`);
  await untilStopped();
  await app.close();
  await client.connection.close();
  await store.close();
  return EXIT.ok;
}
