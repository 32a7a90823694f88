/**
 * `npm run bench:scale [-- --hosts 2000 --concurrency 200] [--cluster]`: one campaign over N SIMULATED
 * hosts (see simulated-fleet.ts) on the real Temporal dev server; with `--cluster` the same campaign
 * again on the production topology (runtime/local-cluster.ts: PostgreSQL, five Temporal processes,
 * mTLS, JWT authorization), printed beside the dev server's figures,
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
import { startCampaign } from '../client/campaigns.js';
import { planCampaign } from '../domain/planner.js';
import { FINAL_HOST_STATES } from '../domain/schema.js';
import { tlsOptions } from '../client/connection.js';
import { freePort, startDevServer } from '../runtime/dev-server.js';
import { startLocalCluster } from '../runtime/local-cluster.js';
import { ownCpuSeconds, treeCpuSeconds } from './cpu.js';
import { installRuntime, WORKFLOWS_PATH } from '../workers/worker.js';
import { driveCampaign } from './drive-campaign.js';
import {
  BENCH_OPERATOR,
  BENCH_VENDOR,
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
    /** Workflows the worker keeps in memory between tasks (at least the concurrency plus the campaign); 500 was slower (244 hosts/min at 2,000 hosts) and peaked at 1.2 GiB too. */
    cache: { type: 'string', default: '2000' },
    cluster: { type: 'boolean', default: false },
  },
});
const hosts = Number(values.hosts);
const concurrency = Number(values.concurrency);
const logger = pino({ level: 'warn' });
installRuntime(logger, 'ERROR');

interface Server {
  kind: string;
  connection: { address: string; tls?: ReturnType<typeof tlsOptions>; apiKey?: string };
  pids(): Array<number | undefined>;
  stop(): Promise<unknown>;
}

async function devServer(dir: string): Promise<Server> {
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
}

async function clusterServer(dir: string): Promise<Server> {
  const local = await startLocalCluster({ dir: `${dir}/cluster`, host: '127.0.73.1' });
  const temporal = local.temporalFor('bench', ['default:write'], 'bench');
  return {
    kind: 'cluster (PostgreSQL, 5 Temporal processes, mTLS, JWT)',
    connection: { address: temporal.address, tls: tlsOptions(temporal), apiKey: temporal.apiKey! },
    pids: () => [...local.cluster.processes.values()].map((p) => p.pid).concat(local.postgres.pid),
    stop: () => local.stop(),
  };
}

interface Figures {
  kind: string;
  state: string;
  counts: unknown;
  wallMs: number;
  planned: number;
  campaignRuns: number;
  campaignEvents: number;
  hostRuns: number;
  hostEvents: number;
  largest: { id: string; events: number; bytes: number };
  cpu: { server: number; worker: number };
  /** From the full histories of up to SAMPLE patched hosts: workflow tasks and events by type. */
  sample: { hosts: number; workflowTasks: number; byType: Map<string, number> };
  /** Hosts finished (campaign counts) against ms since the start, sampled every second. */
  progress: Array<{ done: number; at: number }>;
  /** The largest resident set of this process (the worker runs in it), sampled every second. */
  rssBytes: number;
}

/** Hosts/min over the WINDOW hosts that finished before each milestone: a slowdown shows as a falling rate. */
const MILESTONES = [1_000, 4_000, 10_000];
const WINDOW = 500;

function rateAt(progress: Figures['progress'], milestone: number): number | undefined {
  const end = progress.find((p) => p.done >= milestone);
  const begin = progress.find((p) => p.done >= milestone - WINDOW);
  if (!end || !begin || end.at === begin.at) return undefined;
  return ((end.done - begin.done) / (end.at - begin.at)) * 60_000;
}

/** The worker process's memory: resident, the JS heap in use, and outside the heap (native, buffers). */
function memory(): string {
  const m = process.memoryUsage();
  const mib = (n: number) => `${(n / 1048576).toFixed(0)} MiB`;
  return `RSS ${mib(m.rss)} (heap ${mib(m.heapUsed)}, external ${mib(m.external + m.arrayBuffers)})`;
}

/** Host histories read in full to count workflow tasks and event types (reading all 10,000 would take long). */
const SAMPLE = 100;

/** One campaign over the simulated fleet on the server `start` brings up (stopped afterwards). */
async function measure(start: (dir: string) => Promise<Server>): Promise<Figures> {
  const dir = mkdtempSync(`${tmpdir()}/rollout-bench-`);
  const artifact = simulatedArtifact(dir);
  // The ledger is written for real (SQLite), so its cost is part of the figures.
  const ledger = await openRolloutStore({ sqliteFile: `${dir}/rollout.sqlite` });
  const server = await start(dir);
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
      maxCachedWorkflows: Math.max(Number(values.cache), concurrency + 1),
    });
    const client = new Client({ connection: await Connection.connect(server.connection) });
    const cpuBefore = { server: treeCpuSeconds(server.pids()), worker: ownCpuSeconds() };
    const started = Date.now();
    const progress: Figures['progress'] = [];
    let rss = 0;
    const result = await worker.runUntil(async () => {
      const signers = await benchSigners(ledger, dir);
      const id = await startCampaign(client, 'bench', store, file, BENCH_OPERATOR, {
        artifacts: artifact.policy,
        signing: signers.operator,
      });
      return driveCampaign(client, id, {
        approver: { identity: BENCH_VENDOR, signing: signers.vendor },
        onStatus: (status) => {
          rss = Math.max(rss, process.memoryUsage().rss);
          const done = FINAL_HOST_STATES.reduce((n, state) => n + (status.counts[state] ?? 0), 0);
          const last = progress.at(-1)?.done ?? -1;
          if (done > last) progress.push({ done, at: Date.now() - started });
          // A line every 1,000 hosts on stderr, so a long run shows how it goes while it goes.
          if (Math.floor(done / 1_000) > Math.floor(Math.max(0, last) / 1_000))
            process.stderr.write(
              `${done} hosts finished after ${((Date.now() - started) / 1000).toFixed(0)} s, ${memory()}\n`,
            );
        },
      });
    });
    const wallMs = Date.now() - started;
    const cpu = {
      server: treeCpuSeconds(server.pids()) - cpuBefore.server,
      worker: ownCpuSeconds() - cpuBefore.worker,
    };

    // Every run of the campaign (continue-as-new chain) and every host workflow, from visibility.
    const figures: Figures = {
      kind: server.kind,
      state: result.state,
      counts: result.counts,
      wallMs,
      planned: planCampaign(file).waves.reduce((n, w) => n + w.hosts.length, 0) + 1,
      campaignRuns: 0,
      campaignEvents: 0,
      hostRuns: 0,
      hostEvents: 0,
      largest: { id: '', events: 0, bytes: 0 },
      cpu,
      sample: { hosts: 0, workflowTasks: 0, byType: new Map() },
      progress,
      rssBytes: rss,
    };
    for await (const wf of client.workflow.list({ query: `ExecutionStatus != 'Running'` })) {
      const d = await client.workflow.getHandle(wf.workflowId, wf.runId).describe();
      const events = d.historyLength;
      const bytes = Number(d.raw.workflowExecutionInfo?.historySizeBytes ?? 0);
      if (wf.type === 'campaignWorkflow') {
        figures.campaignEvents += events;
        figures.campaignRuns += 1;
      } else {
        figures.hostEvents += events;
        figures.hostRuns += 1;
        if (figures.sample.hosts < SAMPLE) await countEvents(client, wf.workflowId, wf.runId, figures.sample);
      }
      if (events > figures.largest.events)
        figures.largest = { id: `${wf.workflowId} (${wf.type})`, events, bytes };
    }
    await nativeConnection.close();
    await client.connection.close();
    return figures;
  } finally {
    await server.stop();
    await ledger.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Adds one patched host's history to the sample (other outcomes take other paths). */
async function countEvents(client: Client, workflowId: string, runId: string, sample: Figures['sample']) {
  const handle = client.workflow.getHandle(workflowId, runId);
  if ((await handle.result()).state !== 'patched') return;
  const history = await handle.fetchHistory();
  sample.hosts += 1;
  for (const event of history.events ?? []) {
    // The one attributes field an event has set names its type (workflowTaskCompletedEventAttributes…).
    const type = (
      Object.entries(event).find(([k, v]) => k.endsWith('EventAttributes') && v)?.[0] ?? 'unknown'
    ).replace(/EventAttributes$/, '');
    sample.byType.set(type, (sample.byType.get(type) ?? 0) + 1);
    if (type === 'workflowTaskCompleted') sample.workflowTasks += 1;
  }
}

const perHost = (f: Figures) => ({
  hostsPerMin: (f.planned / f.wallMs) * 60_000,
  events: (f.campaignEvents + f.hostEvents) / f.planned,
  serverCpu: f.cpu.server / f.planned,
  workerCpu: f.cpu.worker / f.planned,
});

function report(f: Figures): string[] {
  const p = perHost(f);
  return [
    `server:                   ${f.kind}`,
    `simulated hosts:          ${hosts} (+1 test system), concurrency ${concurrency}, ${values['step-ms']} ms per simulated step`,
    `campaign:                 ${f.state}; counts ${JSON.stringify(f.counts)}`,
    `wall time:                ${(f.wallMs / 1000).toFixed(1)} s (${p.hostsPerMin.toFixed(0)} hosts/min; includes a 2 s soak)`,
    `campaign runs:            ${f.campaignRuns} (continue-as-new), ${f.campaignEvents} events in all runs`,
    `host workflow runs:       ${f.hostRuns}, ${(f.hostEvents / Math.max(1, f.hostRuns)).toFixed(1)} events each on average`,
    `history events per host:  ${p.events.toFixed(1)} (campaign ${(f.campaignEvents / f.planned).toFixed(2)} + host ${(f.hostEvents / f.planned).toFixed(1)})`,
    `patched host (${f.sample.hosts} read): ${(f.sample.workflowTasks / Math.max(1, f.sample.hosts)).toFixed(1)} workflow-task round trips, ${([...f.sample.byType.values()].reduce((a, b) => a + b, 0) / Math.max(1, f.sample.hosts)).toFixed(1)} events: ${[
      ...f.sample.byType,
    ]
      .sort((a, b) => b[1] - a[1])
      .map(([type, n]) => `${type} ${(n / Math.max(1, f.sample.hosts)).toFixed(1)}`)
      .join(', ')}`,
    `hosts/min as it grows:    ${
      MILESTONES.filter((m) => m <= hosts)
        .map((m) => `${m}: ${rateAt(f.progress, m)?.toFixed(0) ?? '-'}`)
        .join(', ') || `(no milestone under ${hosts} hosts)`
    } (over the ${WINDOW} hosts before each)`,
    `worker process RSS:       ${(f.rssBytes / 1048576).toFixed(0)} MiB at most (the benchmark runs the worker in its own process)`,
    `largest history:          ${f.largest.events} events, ${(f.largest.bytes / 1024).toFixed(0)} KiB: ${f.largest.id}`,
    `CPU per host:             server ${p.serverCpu.toFixed(3)} s, worker ${p.workerCpu.toFixed(3)} s (server ${f.cpu.server.toFixed(1)} s, worker ${f.cpu.worker.toFixed(1)} s in all)`,
    `Temporal hard limits:     ${HARD_EVENTS} events (${((f.largest.events / HARD_EVENTS) * 100).toFixed(1)}% used), ${HARD_BYTES / 1048576} MiB (${((f.largest.bytes / HARD_BYTES) * 100).toFixed(2)}% used)`,
  ];
}

/** The cluster's figures beside the dev server's, from the same campaign on the same machine. */
function sideBySide(dev: Figures, cluster: Figures): string[] {
  const [d, c] = [perHost(dev), perHost(cluster)];
  const row = (name: string, a: number, b: number, digits: number) =>
    `${name.padEnd(26)}${a.toFixed(digits).padStart(12)}${b.toFixed(digits).padStart(12)}${(b / a).toFixed(2).padStart(12)}×`;
  return [
    `${''.padEnd(26)}${'dev server'.padStart(12)}${'cluster'.padStart(12)}${'cluster/dev'.padStart(13)}`,
    row('wall time (s)', dev.wallMs / 1000, cluster.wallMs / 1000, 1),
    row('hosts/min', d.hostsPerMin, c.hostsPerMin, 0),
    row('history events per host', d.events, c.events, 1),
    row('server CPU per host (s)', d.serverCpu, c.serverCpu, 3),
    row('worker CPU per host (s)', d.workerCpu, c.workerCpu, 3),
  ];
}

if (values.cluster) {
  // The dev server first, then the cluster: one at a time, so neither takes the other's cores.
  const dev = await measure(devServer);
  const cluster = await measure(clusterServer);
  process.stdout.write(
    `${[...report(dev), '', ...report(cluster), '', ...sideBySide(dev, cluster)].join('\n')}\n`,
  );
} else process.stdout.write(`${report(await measure(devServer)).join('\n')}\n`);
