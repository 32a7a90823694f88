/**
 * `rollout demo`: the whole product on embedded defaults. Brings up a dev server (SQLite in the data
 * folder), a worker, a lab fleet with a NAS the patch breaks; runs a campaign through test install,
 * soak, vendor approval (through the same client call a real vendor's approval uses) and two waves;
 * prints the report and tears everything down. This file composes the product, so it may use workers/.
 */
import { rmSync, writeFileSync } from 'node:fs';
import type { Client } from '@temporalio/client';
import { openRolloutStore } from '../adapters/rollout-store.js';
import { createApi } from '../api/server.js';
import type { Actor, RolloutActions } from '../client/actions.js';
import { serviceActions } from './session.js';
import { ledgerRows } from '../client/ledger-report.js';
import { campaignResult, campaignStatus, hostOutcomes } from '../client/campaigns.js';
import { connectClient } from '../client/connection.js';
import { decisionSigner, serviceSigner } from '../client/signing.js';
import {
  CampaignFile,
  TERMINAL_CAMPAIGN_STATES,
  type CampaignState,
  type CampaignStatus,
} from '../domain/schema.js';
import { planCampaign } from '../domain/planner.js';

const isTerminal = (state: CampaignState) => TERMINAL_CAMPAIGN_STATES.includes(state);
import { labDown, labStatus, labUp } from '../lab/lab.js';
import { DEMO_AUDITOR, DEMO_ONCALL, DEMO_OPERATOR, DEMO_VENDOR, labCampaign } from '../lab/lab-campaign.js';
import { startDevServer, freePort } from '../runtime/dev-server.js';
import { embeddedSettings, settings } from '../runtime/config.js';
import { runSetup } from '../runtime/setup.js';
import { createLogger } from '../workers/logger.js';
import { createWorker } from '../workers/worker.js';
import { buildReport, type CampaignReport } from '../client/report.js';
import { formatReport } from './format.js';
import { print } from './output.js';

export interface DemoOptions {
  json: boolean;
  hosts: number;
  /** First three octets of the demo lab's loopback addresses. */
  net: string;
  /** Keep the dashboard and worker up after the campaign until Ctrl-C. */
  stay?: boolean;
}

export interface DemoResult {
  report: CampaignReport;
  /** The story the demo tells held: NAS rolled back and healthy, every other host patched. */
  asExpected: boolean;
  problems: string[];
  /** What the ledger and the audit log say at the end. */
  records: string[];
}

/** Watches the campaign, prints what changes, and approves the gate as the demo vendor when it opens. */
async function drive(
  client: Client,
  actions: RolloutActions,
  vendor: Actor,
  campaignId: string,
  say: (line: string) => void,
): Promise<void> {
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
      const record = await actions.approve(vendor, campaignId, {
        stage: gate?.stage ?? 'production',
        artifactSha256: status.patch.sha256,
        hostSetDigest: gate?.hostSetDigest ?? '',
        comment: 'Soak evidence reviewed; approved for production (demo vendor).',
      });
      say(`  approved by ${record.identity} (${record.roles.join('/')}) at ${record.at}`);
    }
    if (isTerminal(status.state)) return;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/** What went differently from the demo story: the NAS rolled back and healthy, every other host patched. */
export function judge(
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
  const dir = `${settings().dataDir}/demo`;
  const labDir = `${dir}/lab`;
  for (const f of ['temporal.sqlite', 'rollout.sqlite', 'rollout.sqlite-wal', 'rollout.sqlite-shm'])
    rmSync(`${dir}/${f}`, { force: true });
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

    const demo = embeddedSettings({
      temporal: { address: server.address },
      keyDir: inventory.keyDir,
      database: { sqliteFile: `${dir}/rollout.sqlite` },
      serviceKeyFile: `${dir}/keys/service-ed25519.pem`,
    });
    const config = demo.temporal;
    const logger = createLogger(demo.logLevel ?? 'warn');
    const rollout = await openRolloutStore(demo.database);
    cleanup.push(() => rollout.close());
    const { worker, connection, ssh } = await createWorker({ settings: demo, ledger: rollout, logger });
    cleanup.push(() => connection.close());
    cleanup.push(async () => ssh.close());
    const client = await connectClient(config);
    cleanup.push(() => client.connection.close());
    const signer = decisionSigner(await serviceSigner(rollout, demo.serviceKeyFile), 'api');
    const actions = serviceActions(demo, client, rollout, signer);

    // One user per role, as `rollout users add` makes them; the tokens go to a file only root can read.
    const tokens: string[] = [];
    for (const [name, role] of [
      [DEMO_OPERATOR, 'operator'],
      [DEMO_VENDOR, 'vendor'],
      [DEMO_ONCALL, 'on-call'],
      [DEMO_AUDITOR, 'auditor'],
    ] as const) {
      const { token } = await rollout.addUser(name, role);
      tokens.push(`${role.padEnd(9)} ${name}\n          ${token}`);
    }
    writeFileSync(`${dir}/demo-tokens.txt`, `${tokens.join('\n')}\n`, { mode: 0o600 });
    const api = await createApi({ actions, store: rollout });
    await api.listen({ host: '127.0.0.1', port: await freePort() });
    cleanup.push(() => api.close());
    const address = api.server.address();
    const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/`;
    say(
      `dashboard: ${url}  (sign in with a token from ${dir}/demo-tokens.txt; API spec at ${url}api/openapi.json)`,
    );

    const operator: Actor = { identity: DEMO_OPERATOR, role: 'operator', via: 'cli' };
    const vendor: Actor = { identity: DEMO_VENDOR, role: 'vendor', via: 'cli' };
    const file = CampaignFile.parse(labCampaign(inventory));
    const status = await worker.runUntil(async () => {
      const campaignId = await actions.start(operator, JSON.stringify(labCampaign(inventory)), 'the demo');
      say(`campaign ${campaignId} started by ${DEMO_OPERATOR}`);
      await drive(client, actions, vendor, campaignId, say);
      const result = await campaignResult(client, campaignId);
      if (options.stay) {
        say(`campaign finished; the dashboard stays up at ${url} until Ctrl-C`);
        await new Promise<void>((resolve) => {
          process.removeListener('SIGINT', onSignal);
          process.once('SIGINT', () => resolve());
        });
      }
      return result;
    });
    const roles = Object.fromEntries(inventory.hosts.map((h) => [h.id, h.role]));
    const plan = planCampaign(file);
    const hostIds = [...plan.testHosts, ...plan.waves.flatMap((w) => w.hosts.map((h) => h.id))];
    const outcomes = await hostOutcomes(client, status.campaignId, hostIds);
    const report = buildReport(status, hostIds, outcomes, roles, Date.now() - started);
    const labVersions = Object.fromEntries(labStatus(labDir).hosts.map((h) => [h.id, h.version]));
    const problems = judge(status, report, labVersions);
    const records = await finalRecords(rollout, file.patch.id, problems);
    return { report, asExpected: problems.length === 0, problems, records };
  } finally {
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}

/** What the ledger says lacks the patch, and whether the audit chain verifies; a broken chain is a problem. */
async function finalRecords(
  rollout: Awaited<ReturnType<typeof openRolloutStore>>,
  patchId: string,
  problems: string[],
): Promise<string[]> {
  const lacking = await ledgerRows(rollout, { patchId, missing: true });
  const all = await ledgerRows(rollout, { patchId });
  const verdict = await rollout.verifyAudit();
  if (!verdict.ok)
    problems.push(`audit chain broken at ${verdict.firstBad?.seq}: ${verdict.firstBad?.problem}`);
  return [
    `ledger: ${all.length - lacking.length} of ${all.length} hosts have ${patchId}; lacking: ${lacking.map((r) => `${r.hostId} (${r.state})`).join(', ') || 'none'}`,
    `audit: ${verdict.ok ? 'chain verified' : 'CHAIN BROKEN'}, ${verdict.entries} entries (${(
      await rollout.auditEntries({ limit: 1000 })
    )
      .map((e) => `${e.action} by ${e.actor}`)
      .reverse()
      .join('; ')})`,
  ];
}

export function printDemo(result: DemoResult, json: boolean): void {
  if (json) print(`${JSON.stringify({ ...result.report, records: result.records }, null, 2)}\n`);
  else print(`${formatReport(result.report)}\n${result.records.join('\n')}\n`);
}
