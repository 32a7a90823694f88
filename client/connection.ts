/**
 * How every process reaches Temporal: the embedded dev server by default, or the cluster named by
 * TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE / TEMPORAL_TLS_* / TEMPORAL_API_KEY.
 */
import { readFileSync } from 'node:fs';
import { Client, Connection, type TLSConfig } from '@temporalio/client';
import { z } from 'zod';
import { TASK_QUEUE } from '../domain/ids.js';

export const DEFAULT_ADDRESS = '127.0.0.1:7233';

export const TemporalConfig = z.object({
  address: z.string().min(1).default(DEFAULT_ADDRESS),
  namespace: z.string().min(1).default('default'),
  taskQueue: z.string().min(1).default(TASK_QUEUE),
  tlsCertPath: z.string().optional(),
  tlsKeyPath: z.string().optional(),
  tlsCaPath: z.string().optional(),
  tlsServerName: z.string().optional(),
  apiKey: z.string().optional(),
});
export type TemporalConfig = z.infer<typeof TemporalConfig>;

/** Reads the connection settings from the environment; throws naming the bad variable. */
export function temporalConfigFromEnv(env: NodeJS.ProcessEnv = process.env): TemporalConfig {
  const parsed = TemporalConfig.safeParse({
    address: env.TEMPORAL_ADDRESS || undefined,
    namespace: env.TEMPORAL_NAMESPACE || undefined,
    taskQueue: env.ROLLOUT_TASK_QUEUE || undefined,
    tlsCertPath: env.TEMPORAL_TLS_CLIENT_CERT_PATH || undefined,
    tlsKeyPath: env.TEMPORAL_TLS_CLIENT_KEY_PATH || undefined,
    tlsCaPath: env.TEMPORAL_TLS_SERVER_CA_CERT_PATH || undefined,
    tlsServerName: env.TEMPORAL_TLS_SERVER_NAME || undefined,
    apiKey: env.TEMPORAL_API_KEY || undefined,
  });
  if (!parsed.success)
    throw new Error(`bad Temporal settings: ${parsed.error.issues.map((i) => i.path.join('.')).join(', ')}`);
  return parsed.data;
}

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
