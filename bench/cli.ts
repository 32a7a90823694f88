/**
 * `npm run bench:cli`: the wall time of `rollout` commands as a person types them (a new process each),
 * median of 10: `--help`, `schema`, `plan -f examples/campaign.yaml`, and `status ID` against a running
 * dev server with a worker and a soaking campaign. Once from the compiled program (.build/, what
 * `rollout` runs when it is current) and once from the sources through tsx (ROLLOUT_FROM_SOURCES=1).
 * A figure, not a test.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import pino from 'pino';
import { buildIsCurrent } from '../bin/build-state.js';
import { benchActivities } from './bench-activities.js';
import { openRolloutStore } from '../adapters/rollout-store.js';
import { campaignStatus, startCampaign } from '../client/campaigns.js';
import { freePort, startDevServer } from '../runtime/dev-server.js';
import { childEnvironment } from '../runtime/config.js';
import { PROJECT_ROOT } from '../runtime/paths.js';
import { installRuntime, WORKFLOWS_PATH } from '../workers/worker.js';
import { BENCH_OPERATOR, benchCampaign, benchSigners, simulatedArtifact } from './fleet-file.js';
import { simulatedHostActivities } from './simulated-fleet.js';

const RUNS = 10;
const logger = pino({ level: 'warn' });
installRuntime(logger, 'ERROR');

const run = promisify(execFile);

/** Not execFileSync: the worker in this process must keep answering the status queries. */
async function medianMs(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const started = process.hrtime.bigint();
    await run(process.execPath, [`${PROJECT_ROOT}/bin/rollout.js`, ...args], { env });
    times.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  times.sort((a, b) => a - b);
  return (times[RUNS / 2 - 1]! + times[RUNS / 2]!) / 2;
}

const dir = mkdtempSync(`${tmpdir()}/rollout-bench-cli-`);
const artifact = simulatedArtifact(dir);
const ledger = await openRolloutStore({ sqliteFile: `${dir}/rollout.sqlite` });
const server = await startDevServer({
  port: await freePort(),
  dbFile: `${dir}/temporal.sqlite`,
  logFile: `${dir}/temporal.log`,
});
try {
  const store = ledger.campaignFiles;
  // A long soak: the campaign stays running (and answering status) while the commands are timed.
  const file = benchCampaign(20, { soak: '1h', probe: '10m', concurrency: 4, artifactPath: artifact.path });
  const host = simulatedHostActivities({ stepMs: 5, brokenBoot: new Set() });
  const nativeConnection = await NativeConnection.connect({ address: server.address });
  const worker = await Worker.create({
    connection: nativeConnection,
    taskQueue: 'bench-cli',
    workflowsPath: WORKFLOWS_PATH,
    activities: benchActivities({ host, store, ledger, logger, artifacts: artifact.policy }),
  });
  const client = new Client({ connection: await Connection.connect({ address: server.address }) });
  const lines = await worker.runUntil(async () => {
    const signers = await benchSigners(ledger, dir);
    const id = await startCampaign(client, 'bench-cli', store, file, BENCH_OPERATOR, {
      artifacts: artifact.policy,
      signing: signers.operator,
    });
    for (let i = 0; i < 300 && (await campaignStatus(client, id)).state !== 'soaking'; i++)
      await new Promise((r) => setTimeout(r, 100));
    const env = childEnvironment({
      TEMPORAL_ADDRESS: server.address,
      ROLLOUT_TASK_QUEUE: 'bench-cli',
      ROLLOUT_DATA_DIR: dir,
    });
    const commands: Array<[string, string[]]> = [
      ['rollout --help', ['--help']],
      ['rollout schema', ['schema']],
      ['rollout plan -f examples/campaign.yaml', ['plan', '-f', `${PROJECT_ROOT}/examples/campaign.yaml`]],
      [`rollout status ID`, ['status', id]],
    ];
    const out = [
      `median wall time of ${RUNS} runs each (a new process per run; status against a dev server, campaign soaking)`,
      `compiled build current: ${buildIsCurrent(PROJECT_ROOT) ? 'yes' : 'NO (npm run build)'}`,
      `${'command'.padEnd(42)} ${'compiled'.padStart(10)} ${'from sources (tsx)'.padStart(20)}`,
    ];
    for (const [name, args] of commands) {
      const compiled = await medianMs(args, env);
      const sources = await medianMs(args, { ...env, ROLLOUT_FROM_SOURCES: '1' });
      out.push(
        `${name.padEnd(42)} ${`${compiled.toFixed(0)} ms`.padStart(10)} ${`${sources.toFixed(0)} ms`.padStart(20)}`,
      );
    }
    return out;
  });
  process.stdout.write(`${lines.join('\n')}\n`);
  await nativeConnection.close();
  await client.connection.close();
} finally {
  await server.stop();
  await ledger.close();
  rmSync(dir, { recursive: true, force: true });
}
