/**
 * `rollout cluster`: the production topology on this machine, in the foreground until Ctrl-C. PostgreSQL
 * (Debian's), the Temporal schema, the five Temporal services as separate processes, a private CA with a
 * certificate per identity, and Temporal's JWT authorization. Writes one env file per identity, each
 * holding exactly the permission README "Running in production" gives it.
 */
import { writeFileSync } from 'node:fs';
import { settings } from '../../runtime/config.js';
import { startLocalCluster } from '../../runtime/local-cluster.js';
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
  const local = await startLocalCluster({ dir, host });
  try {
    for (const [who, permissions] of IDENTITIES) {
      const t = local.temporalFor(who, [...permissions]);
      const lines = [
        `TEMPORAL_ADDRESS=${t.address}`,
        `TEMPORAL_TLS_CLIENT_CERT_PATH=${t.tlsCertPath}`,
        `TEMPORAL_TLS_CLIENT_KEY_PATH=${t.tlsKeyPath}`,
        `TEMPORAL_TLS_SERVER_CA_CERT_PATH=${t.tlsCaPath}`,
        `TEMPORAL_TLS_SERVER_NAME=${t.tlsServerName}`,
        `TEMPORAL_API_KEY=${t.apiKey}`,
      ];
      writeFileSync(`${dir}/${who}.env`, `${lines.join('\n')}\n`, { mode: 0o600 });
    }
    const { cluster, postgres } = local;
    printError(
      `Temporal cluster on ${cluster.address} (PostgreSQL ${postgres.host}:${postgres.port}; services: ${[...cluster.processes.keys()].join(', ')}; logs in ${dir}/temporal/logs).\n` +
        `Settings per identity in ${dir}/{worker,api,operator}.env, e.g. \`set -a; . ${dir}/worker.env; set +a; npx rollout worker\`. Ctrl-C stops it.\n`,
    );
    await untilStopped();
  } finally {
    await local.stop();
  }
  return EXIT.ok;
}
