import { oidcSignIn } from '../../adapters/oidc.js';
import { openRolloutStore } from '../../adapters/rollout-store.js';
import { createApi } from '../../api/server.js';
import { connectClient } from '../../client/connection.js';
import { decisionSigner, serviceSigner } from '../../client/signing.js';
import { settings } from '../../runtime/config.js';
import { EXIT, untilStopped } from '../common.js';
import { printError } from '../output.js';
import { serviceActions } from '../session.js';

export async function run(): Promise<number> {
  const config = settings();
  const { api } = config;
  const store = await openRolloutStore(config.database);
  const client = await connectClient(config.temporal);
  const signer = decisionSigner(await serviceSigner(store, config.serviceKeyFile), 'api');
  const actions = serviceActions(config, client, store, signer);
  const tls =
    api.tlsCertFile && api.tlsKeyFile ? { certFile: api.tlsCertFile, keyFile: api.tlsKeyFile } : undefined;
  const app = await createApi({
    actions,
    store,
    ...(tls ? { tls } : {}),
    ...(config.oidc ? { oidc: oidcSignIn(config.oidc) } : {}),
  });
  await app.listen({ host: api.host, port: api.port });
  const url = `${tls ? 'https' : 'http'}://${api.host.includes(':') ? `[${api.host}]` : api.host}:${api.port}/`;
  printError(`API and dashboard on ${url} (OpenAPI: ${url}api/openapi.json). Ctrl-C stops it.\n`);
  await untilStopped();
  await app.close();
  await client.connection.close();
  await store.close();
  return EXIT.ok;
}
