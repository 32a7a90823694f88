/**
 * `npm run bench:lab`: full campaigns on a real lab, one after the other, each on a freshly started lab
 * and dev server, counting the runs that did not end as the story says: every host patched except the
 * NAS hosts, whose boot the demo patch breaks (restored from their image: rolled-back). Anything else
 * (a false rollback, a test system that failed, a campaign that stopped for a person) is UNEXPECTED.
 * Prints one line per run and the total. A script that prints figures, not a timed test.
 *
 *   npx tsx bench/lab-campaigns.ts [--hosts 50] [--concurrency 10] [--runs 10] [--net 127.0.63]
 *
 * Needs root (the lab).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { parseArgs } from 'node:util';
import { openRolloutStore } from '../adapters/rollout-store.js';
import { judge } from '../cli/demo.js';
import { campaignResult, campaignStatus, hostOutcomes, startCampaign } from '../client/campaigns.js';
import { connectClient } from '../client/connection.js';
import { embeddedSettings } from '../runtime/config.js';
import { decisionSigner, serviceSigner } from '../client/signing.js';
import { buildReport } from '../client/report.js';
import { planCampaign } from '../domain/planner.js';
import { CampaignFile, TERMINAL_CAMPAIGN_STATES } from '../domain/schema.js';
import { labDown, labStatus, labUp } from '../lab/lab.js';
import { DEMO_OPERATOR, DEMO_VENDOR, labCampaign } from '../lab/lab-campaign.js';
import { freePort, startDevServer } from '../runtime/dev-server.js';
import { createLogger } from '../workers/logger.js';
import { createWorker } from '../workers/worker.js';
import { driveCampaign, NEEDS_A_PERSON } from './drive-campaign.js';

const { values } = parseArgs({
  options: {
    hosts: { type: 'string', default: '50' },
    concurrency: { type: 'string', default: '10' },
    runs: { type: 'string', default: '10' },
    net: { type: 'string', default: '127.0.63' },
  },
});
const hosts = Number(values.hosts);
const concurrency = Number(values.concurrency);
const runs = Number(values.runs);

interface RunLine {
  run: number;
  state: string;
  wallMs: number;
  counts: Record<string, number>;
  unexpected: string[];
}

async function oneRun(run: number): Promise<RunLine> {
  const dir = mkdtempSync(`${tmpdir()}/rollout-labrun-`);
  const cleanup: Array<() => Promise<unknown>> = [];
  try {
    const server = await startDevServer({
      port: await freePort(),
      dbFile: `${dir}/temporal.sqlite`,
      logFile: `${dir}/temporal.log`,
    });
    cleanup.push(() => server.stop());
    const labDir = `${dir}/lab`;
    const inventory = await labUp({ dir: labDir, hosts, net: values.net, sshPort: 2222, bootDelayMs: 1500 });
    cleanup.push(() => labDown(labDir));
    const bench = embeddedSettings({
      temporal: { address: server.address, taskQueue: 'bench-lab' },
      keyDir: inventory.keyDir,
    });
    const config = bench.temporal;
    const rollout = await openRolloutStore({ sqliteFile: `${dir}/rollout.sqlite` });
    cleanup.push(() => rollout.close());
    const store = rollout.campaignFiles;
    const { worker, connection, ssh } = await createWorker({
      settings: bench,
      ledger: rollout,
      logger: createLogger('error'),
    });
    cleanup.push(() => connection.close());
    cleanup.push(async () => ssh.close());
    const client = await connectClient(config);
    cleanup.push(() => client.connection.close());
    const file = CampaignFile.parse(
      labCampaign(inventory, {
        soak: '10s',
        probeInterval: '2s',
        rebootGrace: '1s',
        bootTimeout: '20s',
        concurrency,
      }),
    );
    // The demo patch breaks every NAS on purpose: they are expected failures, not a spent budget.
    file.campaign.failureBudget = {
      maxFailures: inventory.hosts.filter((h) => h.role === 'nas').length,
    };
    const started = Date.now();
    const status = await worker.runUntil(async () => {
      const signer = decisionSigner(await serviceSigner(rollout, `${dir}/keys/service.pem`), 'cli');
      const id = await startCampaign(client, config.taskQueue, store, file, DEMO_OPERATOR, {
        signing: { signer, role: 'operator' },
      });
      await driveCampaign(client, id, {
        approver: { identity: DEMO_VENDOR, signing: { signer, role: 'vendor' } },
        stopAt: [...TERMINAL_CAMPAIGN_STATES, ...NEEDS_A_PERSON],
        pollMs: 500,
      });
      const final = await campaignStatus(client, id);
      return final.state === 'completed' || final.state === 'test-failed'
        ? campaignResult(client, id)
        : final;
    });
    const wallMs = Date.now() - started;
    const plan = planCampaign(file);
    const hostIds = [...plan.testHosts, ...plan.waves.flatMap((w) => w.hosts.map((h) => h.id))];
    const roles = Object.fromEntries(inventory.hosts.map((h) => [h.id, h.role]));
    const report = buildReport(
      status,
      hostIds,
      await hostOutcomes(client, status.campaignId, hostIds),
      roles,
    );
    const versions = Object.fromEntries(labStatus(labDir).hosts.map((h) => [h.id, h.version]));
    return {
      run,
      state: status.state,
      wallMs,
      counts: status.counts,
      unexpected: judge(status, report, versions),
    };
  } finally {
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

const lines: RunLine[] = [];
process.stdout.write(`lab campaigns: ${runs} run(s), ${hosts} hosts, concurrency ${concurrency}\n`);
for (let run = 1; run <= runs; run++) {
  const line = await oneRun(run);
  lines.push(line);
  const counts = Object.entries(line.counts)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
  process.stdout.write(
    `run ${String(run).padStart(2)}: ${line.state.padEnd(16)} ${(line.wallMs / 1000).toFixed(1).padStart(6)} s  ${counts}${line.unexpected.length ? `  UNEXPECTED: ${line.unexpected.join('; ')}` : ''}\n`,
  );
}
const bad = lines.filter((l) => l.unexpected.length > 0).length;
const walls = lines.map((l) => l.wallMs / 1000).sort((a, b) => a - b);
process.stdout.write(
  `runs as expected: ${lines.length - bad} of ${lines.length}; wall time median ${walls[Math.floor(walls.length / 2)]?.toFixed(1)} s, max ${walls.at(-1)?.toFixed(1)} s\n`,
);
process.exitCode = bad === 0 ? 0 : 1;
