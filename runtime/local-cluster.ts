/**
 * Everything the production topology needs, on one loopback address, made in one call: PostgreSQL, a
 * private CA with a certificate for the cluster, a token issuer, and the Temporal cluster. Then each
 * identity's settings (its certificate and a token with the permissions it is given). Used by
 * `rollout cluster`, `bench:scale --cluster` and the cluster tests.
 */
import { certificateAuthority, issueCertificate, type CertificatePair } from './certificates.js';
import { TemporalConfig } from './config.js';
import { startPostgres, type LocalPostgres } from './postgres.js';
import { startTemporalCluster, type TemporalCluster } from './temporal-cluster.js';
import { tokenIssuer } from './temporal-jwt.js';

/** The name the cluster's certificate is issued to, and clients check. */
export const CLUSTER_SERVER_NAME = 'temporal';

export interface LocalCluster {
  cluster: TemporalCluster;
  postgres: LocalPostgres;
  /** The CA's certificate file. */
  caFile: string;
  /** A client certificate for `who` (made on first use). */
  certificate(who: string): CertificatePair;
  /** A token for `subject` carrying Temporal permissions such as `default:write`. */
  token(subject: string, permissions: string[]): string;
  /** The Temporal settings of an identity: its certificate, the CA, and a token with these permissions. */
  temporalFor(who: string, permissions: string[], taskQueue?: string): TemporalConfig;
  stop(): Promise<void>;
}

export async function startLocalCluster(options: {
  dir: string;
  host: string;
  postgresPort?: number;
  /** Client networks PostgreSQL trusts besides loopback (workers in a test's network namespaces). */
  trustedNetworks?: string[];
}): Promise<LocalCluster> {
  const pki = `${options.dir}/pki`;
  const caFile = certificateAuthority(pki);
  const node = issueCertificate(pki, CLUSTER_SERVER_NAME, 'server', [
    `IP:${options.host}`,
    `DNS:${CLUSTER_SERVER_NAME}`,
  ]);
  const issuer = tokenIssuer(`${options.dir}/jwt`);
  const certificate = (who: string) => issueCertificate(pki, who, 'client');
  const postgres = await startPostgres(
    options.host,
    options.postgresPort ?? 5432,
    200,
    options.trustedNetworks,
  );
  let cluster: TemporalCluster;
  try {
    cluster = await startTemporalCluster({
      dir: `${options.dir}/temporal`,
      host: options.host,
      postgres,
      tls: { caFile, node, serverName: CLUSTER_SERVER_NAME },
      jwksFile: issuer.jwksFile,
      operator: {
        client: certificate('operator'),
        token: issuer.token('operator', ['temporal-system:admin']),
      },
    });
  } catch (err) {
    await postgres.stop();
    throw err;
  }
  return {
    cluster,
    postgres,
    caFile,
    certificate,
    token: (subject, permissions) => issuer.token(subject, permissions),
    temporalFor(who, permissions, taskQueue) {
      const cert = certificate(who);
      return TemporalConfig.parse({
        address: cluster.address,
        ...(taskQueue ? { taskQueue } : {}),
        tlsCertPath: cert.certFile,
        tlsKeyPath: cert.keyFile,
        tlsCaPath: caFile,
        tlsServerName: CLUSTER_SERVER_NAME,
        apiKey: issuer.token(`rollout-${who}`, permissions),
      });
    },
    async stop() {
      await cluster.stop();
      await postgres.stop();
    },
  };
}
