/**
 * `rollout cluster`: the production topology on this machine, in the foreground until Ctrl-C. PostgreSQL
 * (Debian's), the Temporal schema, the five Temporal services as separate processes, a private CA with a
 * certificate per identity, and Temporal's JWT authorization. Writes one env file per identity, each
 * holding exactly the permission README "Running in production" gives it.
 */
import { writeFileSync } from 'node:fs';
import { certificateAuthority, issueCertificate } from '../../runtime/certificates.js';
import { settings } from '../../runtime/config.js';
import { startPostgres } from '../../runtime/postgres.js';
import { startTemporalCluster } from '../../runtime/temporal-cluster.js';
import { tokenIssuer } from '../../runtime/temporal-jwt.js';
import { EXIT, stringFlag, untilStopped, UsageError, type CommandInput } from '../common.js';
import { printError } from '../output.js';

/** Who reaches the cluster, with which Temporal permission (README: Running in production). */
const IDENTITIES = [
  ['worker', ['default:write']],
  ['api', ['default:write']],
  ['operator', ['temporal-system:admin']],
] as const;

export async function run({ flags }: CommandInput): Promise<number> {
  const host = stringFlag(flags, 'host') ?? '127.0.70.1';
  if (!/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host))
    throw new UsageError('--host must be a loopback address (127.x.y.z)');
  const dir = `${settings().dataDir}/cluster`;
  const pki = `${dir}/pki`;
  const ca = certificateAuthority(pki);
  const node = issueCertificate(pki, 'temporal', 'server', [`IP:${host}`, 'DNS:temporal']);
  const tokens = tokenIssuer(`${dir}/jwt`);
  const pg = await startPostgres(host, 5432, 200);
  try {
    const operator = issueCertificate(pki, 'operator', 'client');
    const cluster = await startTemporalCluster({
      dir: `${dir}/temporal`,
      host,
      postgres: pg,
      tls: { caFile: ca, node, serverName: 'temporal' },
      jwksFile: tokens.jwksFile,
      operator: { client: operator, token: tokens.token('operator', ['temporal-system:admin']) },
    });
    for (const [who, permissions] of IDENTITIES) {
      const cert = issueCertificate(pki, who, 'client');
      const lines = [
        `TEMPORAL_ADDRESS=${cluster.address}`,
        `TEMPORAL_TLS_CLIENT_CERT_PATH=${cert.certFile}`,
        `TEMPORAL_TLS_CLIENT_KEY_PATH=${cert.keyFile}`,
        `TEMPORAL_TLS_SERVER_CA_CERT_PATH=${ca}`,
        'TEMPORAL_TLS_SERVER_NAME=temporal',
        `TEMPORAL_API_KEY=${tokens.token(`rollout-${who}`, [...permissions])}`,
      ];
      writeFileSync(`${dir}/${who}.env`, `${lines.join('\n')}\n`, { mode: 0o600 });
    }
    printError(
      `Temporal cluster on ${cluster.address} (PostgreSQL ${pg.host}:${pg.port}; services: ${[...cluster.processes.keys()].join(', ')}; logs in ${dir}/temporal/logs).\n` +
        `Settings per identity in ${dir}/{worker,api,operator}.env, e.g. \`set -a; . ${dir}/worker.env; set +a; npx rollout worker\`. Ctrl-C stops it.\n`,
    );
    await untilStopped();
    await cluster.stop();
  } finally {
    await pg.stop();
  }
  return EXIT.ok;
}
