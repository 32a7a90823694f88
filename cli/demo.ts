/**
 * `rollout demo`: the whole product on embedded defaults. Brings up a dev server (SQLite in the data
 * folder), a worker, a lab fleet with a NAS the patch breaks; runs a campaign through test install,
 * soak, vendor approval (through the same client call a real vendor's approval uses) and two waves;
 * prints the report and tears everything down. This file composes the product, so it may use workers/.
 */
import { rmSync } from 'node:fs';
import type { Client } from '@temporalio/client';
import { fileCampaignStore } from '../adapters/campaign-store.js';
import {
  approveStage,
  campaignResult,
  campaignStatus,
  hostOutcomes,
  startCampaign,
} from '../client/campaigns.js';
import { connectClient, TemporalConfig } from '../client/connection.js';
import {
  CampaignFile,
  TERMINAL_CAMPAIGN_STATES,
  type CampaignState,
  type CampaignStatus,
} from '../domain/schema.js';
import { planCampaign } from '../domain/planner.js';

const isTerminal = (state: CampaignState) => TERMINAL_CAMPAIGN_STATES.includes(state);
import { labDown, labStatus, labUp } from '../lab/lab.js';
import { DEMO_OPERATOR, DEMO_VENDOR, labCampaign } from '../lab/lab-campaign.js';
import { startDevServer, freePort } from '../runtime/dev-server.js';
import { dataDir } from '../runtime/paths.js';
import { runSetup } from '../runtime/setup.js';
import { createLogger } from '../workers/logger.js';
import { createWorker } from '../workers/worker.js';
import { buildReport, formatReport, type CampaignReport } from './format.js';

export interface DemoOptions {
  json: boolean;
  hosts: number;
  /** First three octets of the demo lab's loopback addresses. */
  net: string;
}

export interface DemoResult {
  report: CampaignReport;
  /** The story the demo tells held: NAS rolled back and healthy, every other host patched. */
  asExpected: boolean;
  problems: string[];
}

/** Watches the campaign, prints what changes, and approves the gate as the demo vendor when it opens. */
async function drive(client: Client, campaignId: string, say: (line: string) => void): Promise<void> {
  const seen = new Map<string, string>();
  let probes = 0;
  let approved = false;
  for (;;) {
    const status = await campaignStatus(client, campaignId);
    const note = (key: string, value: string, line: string) => {
      if (seen.get(key) !== value) {
        seen.set(key, value);
        say(line);
      }
    };
    note('campaign', status.state, `campaign: ${status.state}`);
    for (const [host, state] of Object.entries(status.hosts))
      note(
        host,
        state,
        `  ${host.padEnd(12)} ${state}${status.steps[host] ? ` (${status.steps[host]})` : ''}`,
      );
    for (const probe of status.soak.probes.slice(probes))
      say(
        `  soak probe ${probe.at}: ${probe.result === 'ok' ? 'healthy' : `${probe.result.toUpperCase()} ${probe.failed.join(', ')}`}`,
      );
    probes = status.soak.probes.length;
    if (status.state === 'awaiting-approval' && !approved) {
      approved = true;
      const gate = status.gates.find((g) => g.state === 'open');
      say(
        `  evidence for the vendor: soak ${status.soak.verdict} (${status.soak.reason}); patch sha256 ${status.patch.sha256}; ${gate?.hostCount} hosts, host-set ${gate?.hostSetDigest.slice(0, 16)}…`,
      );
      const record = await approveStage(client, campaignId, {
        stage: gate?.stage ?? 'production',
        identity: DEMO_VENDOR,
        artifactSha256: status.patch.sha256,
        ...(gate ? { hostSetDigest: gate.hostSetDigest } : {}),
        comment: 'Soak evidence reviewed; approved for production (demo vendor).',
      });
      say(`  approved by ${record.identity} (${record.roles.join('/')}) at ${record.at}`);
    }
    if (isTerminal(status.state)) return;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

function judge(
  status: CampaignStatus,
  report: CampaignReport,
  labVersions: Record<string, string>,
): string[] {
  const problems: string[] = [];
  if (status.state !== 'completed') problems.push(`campaign ended ${status.state}, expected completed`);
  for (const host of report.hosts) {
    if (host.role === 'nas') {
      if (host.state !== 'rolled-back') problems.push(`${host.id}: ${host.state}, expected rolled-back`);
      if (!host.healthyAtEnd) problems.push(`${host.id}: not healthy after rollback`);
      if (labVersions[host.id] !== '1.0.0')
        problems.push(`${host.id}: disk holds ${labVersions[host.id]}, expected 1.0.0`);
    } else {
      if (host.state !== 'patched') problems.push(`${host.id}: ${host.state}, expected patched`);
      if (labVersions[host.id] !== '1.1.0')
        problems.push(`${host.id}: disk holds ${labVersions[host.id]}, expected 1.1.0`);
    }
  }
  return problems;
}

export async function runDemo(options: DemoOptions, say: (line: string) => void): Promise<DemoResult> {
  const started = Date.now();
  runSetup(say);
  const dir = `${dataDir()}/demo`;
  const labDir = `${dir}/lab`;
  rmSync(`${dir}/temporal.sqlite`, { force: true });
  const cleanup: Array<() => Promise<void>> = [];
  const onSignal = () => {
    say('interrupted: tearing down');
    void Promise.allSettled(cleanup.reverse().map((c) => c())).then(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const port = await freePort();
    const server = await startDevServer({
      port,
      dbFile: `${dir}/temporal.sqlite`,
      logFile: `${dir}/temporal.log`,
    });
    cleanup.push(() => server.stop());
    say(`temporal dev server on ${server.address} (state in ${dir}/temporal.sqlite)`);

    const inventory = await labUp({
      dir: labDir,
      hosts: options.hosts,
      net: options.net,
      sshPort: 2222,
      bootDelayMs: 1500,
    });
    cleanup.push(() => labDown(labDir));
    say(
      `lab: ${inventory.hosts.length} hosts (${inventory.hosts.map((h) => `${h.id}@${h.address}`).join(', ')}), controller ${inventory.controller.address}`,
    );

    const config = TemporalConfig.parse({ address: server.address });
    const logger = createLogger(process.env.ROLLOUT_LOG_LEVEL ?? 'warn');
    const store = fileCampaignStore(`${dir}/store`);
    const { worker, connection } = await createWorker({
      config,
      keyDir: inventory.keyDir,
      storeDir: store.dir,
      logger,
      sdkLogLevel: 'ERROR',
    });
    cleanup.push(() => connection.close());
    const client = await connectClient(config);
    cleanup.push(() => client.connection.close());

    const file = CampaignFile.parse(labCampaign(inventory));
    const status = await worker.runUntil(async () => {
      const campaignId = await startCampaign(client, config.taskQueue, store, file, DEMO_OPERATOR);
      say(`campaign ${campaignId} started by ${DEMO_OPERATOR}`);
      await drive(client, campaignId, say);
      return campaignResult(client, campaignId);
    });
    const roles = Object.fromEntries(inventory.hosts.map((h) => [h.id, h.role]));
    const plan = planCampaign(file);
    const hostIds = [...plan.testHosts, ...plan.waves.flatMap((w) => w.hosts.map((h) => h.id))];
    const outcomes = await hostOutcomes(client, status.campaignId, hostIds);
    const report = buildReport(status, hostIds, outcomes, roles, Date.now() - started);
    const labVersions = Object.fromEntries(labStatus(labDir).hosts.map((h) => [h.id, h.version]));
    const problems = judge(status, report, labVersions);
    return { report, asExpected: problems.length === 0, problems };
  } finally {
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}

export function printDemo(result: DemoResult, json: boolean): void {
  if (json) process.stdout.write(`${JSON.stringify(result.report, null, 2)}\n`);
  else process.stdout.write(`${formatReport(result.report)}\n`);
}
