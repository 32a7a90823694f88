/**
 * How every process reaches Temporal: the dev server by default, or the cluster its settings name
 * (TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE / TEMPORAL_TLS_* / TEMPORAL_API_KEY, read by runtime/config.ts).
 */
import { readFileSync } from 'node:fs';
import { Client, Connection, type TLSConfig } from '@temporalio/client';
import type { TemporalConfig } from '../runtime/config.js';

/** TLS options for Connection and NativeConnection alike; undefined means plaintext (the dev server). */
export function tlsOptions(config: TemporalConfig): TLSConfig | undefined {
  if (!config.tlsCertPath && !config.tlsCaPath && !config.apiKey) return undefined;
  return {
    serverNameOverride: config.tlsServerName,
    serverRootCACertificate: config.tlsCaPath ? readFileSync(config.tlsCaPath) : undefined,
    clientCertPair:
      config.tlsCertPath && config.tlsKeyPath
        ? { crt: readFileSync(config.tlsCertPath), key: readFileSync(config.tlsKeyPath) }
        : undefined,
  };
}

export async function connectClient(config: TemporalConfig): Promise<Client> {
  const connection = await Connection.connect({
    address: config.address,
    tls: tlsOptions(config),
    apiKey: config.apiKey,
    connectTimeout: '5s',
  });
  return new Client({ connection, namespace: config.namespace });
}
