/**
 * `npm run bench:scale [-- --hosts 2000 --concurrency 200] [--cluster]`: one campaign over N SIMULATED
 * hosts (see simulated-fleet.ts) on the real Temporal dev server, or with `--cluster` on the production
 * topology (runtime/local-cluster.ts: PostgreSQL, five Temporal processes, mTLS, JWT authorization),
 * with the real workflows, store and scheduler. Prints wall time, hosts/min, history events per host,
 * the largest workflow history against Temporal's limits, and the CPU seconds per host of the server
 * (every Temporal process, and PostgreSQL for the cluster) and of the worker. A figure, not a test.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import pino from 'pino';
import { benchActivities } from './bench-activities.js';
import { openRolloutStore } from '../adapters/rollout-store.js';
import { campaignStatus, startCampaign } from '../client/campaigns.js';
import { planCampaign } from '../domain/planner.js';
import { TERMINAL_CAMPAIGN_STATES } from '../domain/schema.js';
import { tlsOptions } from '../client/connection.js';
import { freePort, startDevServer } from '../runtime/dev-server.js';
import { startLocalCluster } from '../runtime/local-cluster.js';
import { ownCpuSeconds, treeCpuSeconds } from './cpu.js';
import { installRuntime, WORKFLOWS_PATH } from '../workers/worker.js';
import {
  BENCH_OPERATOR,
  approveOpenGate,
  benchCampaign,
  benchSigners,
  simulatedArtifact,
} from './fleet-file.js';
import { simulatedHostActivities } from './simulated-fleet.js';

const HARD_EVENTS = 51_200;
const HARD_BYTES = 50 * 1024 * 1024;

const { values } = parseArgs({
  options: {
    hosts: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '200' },
    'step-ms': { type: 'string', default: '5' },
    cluster: { type: 'boolean', default: false },
  },
});
const hosts = Number(values.hosts);
const concurrency = Number(values.concurrency);
const logger = pino({ level: 'warn' });
installRuntime(logger, 'ERROR');

const dir = mkdtempSync(`${tmpdir()}/rollout-bench-`);
const artifact = simulatedArtifact(dir);
// The ledger is written for real (SQLite), so its cost is part of the figures.
const ledger = await openRolloutStore({ sqliteFile: `${dir}/rollout.sqlite` });
/** The server side: its address, how the worker and the client reach it, its processes, how it stops. */
const server = values.cluster
  ? await (async () => {
      const local = await startLocalCluster({ dir: `${dir}/cluster`, host: '127.0.73.1' });
      const temporal = local.temporalFor('bench', ['default:write'], 'bench');
      return {
        kind: 'cluster (PostgreSQL, 5 Temporal processes, mTLS, JWT)',
        connection: { address: temporal.address, tls: tlsOptions(temporal), apiKey: temporal.apiKey },
        pids: () => [...local.cluster.processes.values()].map((p) => p.pid).concat(local.postgres.pid),
        stop: () => local.stop(),
      };
    })()
  : await (async () => {
      const dev = await startDevServer({
        port: await freePort(),
        dbFile: `${dir}/temporal.sqlite`,
        logFile: `${dir}/temporal.log`,
      });
      return {
        kind: 'dev server (one process, SQLite)',
        connection: { address: dev.address },
        pids: () => [dev.pid],
        stop: () => dev.stop(),
      };
    })();
try {
  const store = ledger.campaignFiles;
  const file = benchCampaign(hosts, { soak: '2s', probe: '1s', concurrency, artifactPath: artifact.path });
  const host = simulatedHostActivities({
    stepMs: Number(values['step-ms']),
    brokenBoot: new Set(['sim-00007', 'sim-00500']),
  });
  const nativeConnection = await NativeConnection.connect(server.connection);
  const worker = await Worker.create({
    connection: nativeConnection,
    taskQueue: 'bench',
    workflowsPath: WORKFLOWS_PATH,
    activities: benchActivities({ host, store, ledger, logger, artifacts: artifact.policy }),
    maxConcurrentActivityTaskExecutions: 400,
    maxConcurrentWorkflowTaskExecutions: 100,
    maxCachedWorkflows: 2_000,
  });
  const client = new Client({ connection: await Connection.connect(server.connection) });
  const cpuBefore = { server: treeCpuSeconds(server.pids()), worker: ownCpuSeconds() };
  const started = Date.now();
  const result = await worker.runUntil(async () => {
    const signers = await benchSigners(ledger, dir);
    const id = await startCampaign(client, 'bench', store, file, BENCH_OPERATOR, {
      artifacts: artifact.policy,
      signing: signers.operator,
    });
    for (;;) {
      const status = await campaignStatus(client, id);
      if (status.state === 'awaiting-approval') await approveOpenGate(client, id, signers.vendor);
      if (TERMINAL_CAMPAIGN_STATES.includes(status.state)) return status;
      await new Promise((r) => setTimeout(r, 1_000));
    }
  });
  const wallMs = Date.now() - started;
  const cpu = {
    server: treeCpuSeconds(server.pids()) - cpuBefore.server,
    worker: ownCpuSeconds() - cpuBefore.worker,
  };

  // Every run of the campaign (continue-as-new chain) and every host workflow, from visibility.
  let largest = { id: '', events: 0, bytes: 0 };
  let campaignEvents = 0;
  let campaignRuns = 0;
  let hostEvents = 0;
  let hostRuns = 0;
  for await (const wf of client.workflow.list({ query: `ExecutionStatus != 'Running'` })) {
    const d = await client.workflow.getHandle(wf.workflowId, wf.runId).describe();
    const events = d.historyLength;
    const bytes = Number(d.raw.workflowExecutionInfo?.historySizeBytes ?? 0);
    if (wf.type === 'campaignWorkflow') {
      campaignEvents += events;
      campaignRuns += 1;
    } else {
      hostEvents += events;
      hostRuns += 1;
    }
    if (events > largest.events) largest = { id: `${wf.workflowId} (${wf.type})`, events, bytes };
  }
  const planned = planCampaign(file).waves.reduce((n, w) => n + w.hosts.length, 0) + 1;
  const lines = [
    `server:                   ${server.kind}`,
    `simulated hosts:          ${hosts} (+1 test system), concurrency ${concurrency}, ${values['step-ms']} ms per simulated step`,
    `campaign:                 ${result.state}; counts ${JSON.stringify(result.counts)}`,
    `wall time:                ${(wallMs / 1000).toFixed(1)} s (${((planned / wallMs) * 60_000).toFixed(0)} hosts/min; includes a 2 s soak)`,
    `campaign runs:            ${campaignRuns} (continue-as-new), ${campaignEvents} events in all runs`,
    `host workflow runs:       ${hostRuns}, ${(hostEvents / Math.max(1, hostRuns)).toFixed(1)} events each on average`,
    `history events per host:  ${((campaignEvents + hostEvents) / planned).toFixed(1)} (campaign ${(campaignEvents / planned).toFixed(2)} + host ${(hostEvents / planned).toFixed(1)})`,
    `largest history:          ${largest.events} events, ${(largest.bytes / 1024).toFixed(0)} KiB: ${largest.id}`,
    `CPU per host:             server ${(cpu.server / planned).toFixed(3)} s, worker ${(cpu.worker / planned).toFixed(3)} s (server ${cpu.server.toFixed(1)} s, worker ${cpu.worker.toFixed(1)} s in all)`,
    `Temporal hard limits:     ${HARD_EVENTS} events (${((largest.events / HARD_EVENTS) * 100).toFixed(1)}% used), ${HARD_BYTES / 1048576} MiB (${((largest.bytes / HARD_BYTES) * 100).toFixed(2)}% used)`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  await nativeConnection.close();
  await client.connection.close();
} finally {
  await server.stop();
  await ledger.close();
  rmSync(dir, { recursive: true, force: true });
}
