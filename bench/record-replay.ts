/**
 * `npm run record:replay`: runs the main campaign paths on the real Temporal dev server with the
 * SIMULATED host executor and writes their histories to test/replay/ (every campaign run, plus one
 * patched and one rolled-back host). test/replay/replay.test.ts replays them against the current
 * workflow code, so a change that would break running campaigns fails CI. Re-record only on purpose
 * (with patched() guards for anything in flight), never to make a failing replay pass. `--verbose`
 * prints each campaign's states and the SDK's warnings. `--tag T` names the files T-<scenario>-runN.json:
 * recordings of new code beside those of the old, which must keep replaying too. `carried-hosts` needs
 * the server to suggest continue-as-new early: `npx tsx bench/record-replay.ts --suggest-continue-as-new
 * 60 carried-hosts`.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { NativeConnection, Worker } from '@temporalio/worker';
import pino from 'pino';
import { benchActivities } from './bench-activities.js';
import { openRolloutStore } from '../adapters/rollout-store.js';
import {
  actOnHost,
  campaignResult,
  campaignStatus,
  controlCampaign,
  rejectStage,
  startCampaign,
} from '../client/campaigns.js';
import { hostWorkflowId } from '../domain/ids.js';
import type { CampaignInput } from '../domain/schema.js';
import { PROJECT_ROOT } from '../runtime/paths.js';
import { freePort, startDevServer } from '../runtime/dev-server.js';
import { installRuntime, WORKFLOWS_PATH } from '../workers/worker.js';
import {
  BENCH_ON_CALL,
  BENCH_OPERATOR,
  BENCH_VENDOR,
  approveOpenGate,
  benchCampaign,
  benchSigners,
  simulatedArtifact,
} from './fleet-file.js';
import { simulatedHostActivities, type SimulatedFleet } from './simulated-fleet.js';

const OUT = `${PROJECT_ROOT}/test/replay`;
const logger = pino({ level: 'warn' });
const args = parseArgs({
  options: {
    verbose: { type: 'boolean', default: false },
    tag: { type: 'string' },
    /** The history length at which the server suggests continue-as-new (default: the server's 4,096). */
    'suggest-continue-as-new': { type: 'string' },
  },
  allowPositionals: true,
});
const { verbose } = args.values;
/** `--tag lean`: files named lean-<scenario>-runN.json, beside (not over) the recordings of older code. */
const prefix = args.values.tag ? `${args.values.tag}-` : '';
installRuntime(logger, verbose ? 'WARN' : 'ERROR');

const dir = mkdtempSync(`${tmpdir()}/rollout-record-`);
const artifact = simulatedArtifact(dir);
// The ledger is written for real (SQLite), so its cost is part of the figures.
const ledger = await openRolloutStore({ sqliteFile: `${dir}/rollout.sqlite` });
const signers = await benchSigners(ledger, dir);
const server = await startDevServer({
  port: await freePort(),
  dbFile: `${dir}/t.sqlite`,
  logFile: `${dir}/t.log`,
  ...(args.values['suggest-continue-as-new']
    ? {
        dynamicConfig: {
          'limit.historyCount.suggestContinueAsNew': Number(args.values['suggest-continue-as-new']),
        },
      }
    : {}),
});
const store = ledger.campaignFiles;
const client = new Client({ connection: await Connection.connect({ address: server.address }) });
const nativeConnection = await NativeConnection.connect({ address: server.address });
const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function untilState(id: string, state: string) {
  let last = '';
  for (let i = 0; i < 600; i++) {
    const status = await campaignStatus(client, id);
    if (status.state !== last && verbose)
      process.stderr.write(`  ${id}: ${status.state} ${status.waitingFor ?? ''}\n`);
    last = status.state;
    if (status.state === state) return;
    await wait(250);
  }
  throw new Error(`${id} never reached ${state}`);
}

async function save(name: string, workflowId: string) {
  const runs: string[] = [];
  for await (const wf of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) runs.push(wf.runId);
  let n = 0;
  for (const runId of runs.reverse()) {
    const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
    writeFileSync(`${OUT}/${prefix}${name}-run${++n}.json`, historyToJSON(history));
  }
  process.stdout.write(`recorded ${prefix}${name}: ${n} run(s)\n`);
}

/** Whether a recorded run began with host runs carried from the one before. */
function carriesHosts(file: string): boolean {
  const history = JSON.parse(readFileSync(file, 'utf8')) as {
    events: Array<{
      workflowExecutionStartedEventAttributes?: { input?: { payloads?: Array<{ data?: string }> } };
    }>;
  };
  const data = history.events[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0]?.data;
  if (!data) return false;
  const input = JSON.parse(Buffer.from(data, 'base64').toString()) as CampaignInput;
  return (input.carry?.inFlight?.length ?? 0) > 0;
}

/** `npx tsx bench/record-replay.ts host-steps` records only the named scenarios; none: all of them. */
const only = args.positionals;
const wanted = (name: string) => only.length === 0 || only.includes(name);

/** A source artifact that matches its checksum this many times, then no longer (it was swapped). */
function artifactChecks(goodChecks = Infinity) {
  let left = goodChecks;
  return async () => {
    if (left-- > 0) return;
    throw ApplicationFailure.nonRetryable(
      'artifact /srv/patch.sh does not match the SHA-256 the campaign file gives',
      'SourceArtifactInvalid',
    );
  };
}

async function scenario(
  name: string,
  fleet: SimulatedFleet,
  hosts: number,
  drive: (id: string) => Promise<void>,
  adjust: (file: ReturnType<typeof benchCampaign>) => void = () => {},
  verifyArtifact: () => Promise<void> = artifactChecks(),
) {
  if (!wanted(name)) return;
  const host = simulatedHostActivities(fleet);
  const worker = await Worker.create({
    connection: nativeConnection,
    taskQueue: name,
    workflowsPath: WORKFLOWS_PATH,
    activities: benchActivities({ host, store, ledger, logger, artifacts: artifact.policy, verifyArtifact }),
  });
  const file = benchCampaign(hosts, { soak: '3s', probe: '1s', concurrency: 3, artifactPath: artifact.path });
  adjust(file);
  await worker.runUntil(async () => {
    const id = await startCampaign(client, name, store, file, BENCH_OPERATOR, {
      artifacts: artifact.policy,
      signing: signers.operator,
    });
    process.stdout.write(`${name}: started ${id}\n`);
    await drive(id);
    await campaignResult(client, id);
    await save(name, id);
  });
}

try {
  // 1. Completed: soak pass, approval, three waves (continue-as-new), an operator pause and resume,
  //    one host rolled back, which spends the failure budget (needs-decision), resumed by the operator.
  await scenario('completed', { stepMs: 5, brokenBoot: new Set(['sim-00012']) }, 14, async (id) => {
    await untilState(id, 'awaiting-approval');
    await approveOpenGate(client, id, signers.vendor);
    await untilState(id, 'rolling-out');
    await controlCampaign(
      client,
      id,
      'pause',
      { identity: BENCH_OPERATOR, reason: 'recording' },
      signers.operator,
    );
    await wait(500);
    await controlCampaign(client, id, 'resume', { identity: BENCH_OPERATOR }, signers.operator);
    // 5% of 13 hosts allows no failure: the broken host spends the budget.
    await untilState(id, 'needs-decision');
    await controlCampaign(
      client,
      id,
      'resume',
      {
        identity: BENCH_OPERATOR,
        reason: 'broken host understood',
      },
      signers.operator,
    );
  });
  if (wanted('completed')) {
    await save('host-patched', hostWorkflowId('sim-00001'));
    await save('host-rolled-back', hostWorkflowId('sim-00012'));
  }
  // 2. Soak fails: the test system is rolled back.
  await scenario('soak-failed', { stepMs: 5, brokenBoot: new Set(), soakFailsFrom: 1 }, 3, async () => {});
  // 3. Rejected at the gate.
  await scenario('rejected', { stepMs: 5, brokenBoot: new Set() }, 3, async (id) => {
    await untilState(id, 'awaiting-approval');
    await rejectStage(
      client,
      id,
      { stage: 'production', identity: BENCH_VENDOR, reason: 'recording' },
      signers.vendor,
    );
  });
  // 4. Aborted by an operator mid-rollout; the in-flight host still finishes (and rolls back).
  await scenario('aborted', { stepMs: 5, brokenBoot: new Set(['sim-00001']) }, 3, async (id) => {
    await untilState(id, 'awaiting-approval');
    await approveOpenGate(client, id, signers.vendor);
    await untilState(id, 'rolling-out');
    await controlCampaign(
      client,
      id,
      'abort',
      { identity: BENCH_OPERATOR, reason: 'recording' },
      signers.operator,
    );
  });
  // 5. Host steps: protected-path profiles before and after, a host whose first health check
  //    fails while its services start (checked again after the retry interval).
  await scenario(
    'host-steps',
    { stepMs: 5, brokenBoot: new Set(), slowToHealth: new Set(['sim-00002']) },
    3,
    async (id) => {
      await untilState(id, 'awaiting-approval');
      await approveOpenGate(client, id, signers.vendor);
    },
    (file) => {
      file.patch.integrity.protectedPaths = ['/var/lib/pacs/studies'];
      file.patch.healthRetry = { attempts: 3, interval: 500 };
    },
  );
  if (wanted('host-steps')) await save('host-steps-slow-health', hostWorkflowId('sim-00002'));
  // 6. Today's happy path with every newer step (artifact re-checks, the soak's end, drained
  //    notifications), one host whose upload keeps failing: not changed, not restored, image deleted.
  await scenario(
    'current',
    { stepMs: 5, brokenBoot: new Set(), uploadFails: new Set(['sim-00003']) },
    4,
    async (id) => {
      await untilState(id, 'awaiting-approval');
      await approveOpenGate(client, id, signers.vendor);
      await untilState(id, 'needs-attention');
      await actOnHost(
        client,
        id,
        {
          hostId: 'sim-00003',
          action: 'skip',
          identity: BENCH_OPERATOR,
          note: 'recording: upload keeps failing',
        },
        signers.operator,
      );
    },
    (file) => {
      file.campaign.failureBudget = { maxFailures: 2 };
    },
  );
  if (wanted('current')) await save('host-unchanged', hostWorkflowId('sim-00003'));
  // 8. Admitted by the worker, every decision signed: approval, pause and resume, a rejected forgery.
  await scenario('signed', { stepMs: 5, brokenBoot: new Set() }, 4, async (id) => {
    await untilState(id, 'awaiting-approval');
    await approveOpenGate(client, id, signers.vendor);
    await untilState(id, 'rolling-out');
    await controlCampaign(
      client,
      id,
      'pause',
      { identity: BENCH_OPERATOR, reason: 'recording' },
      signers.operator,
    );
    await wait(300);
    await controlCampaign(
      client,
      id,
      'resume',
      { identity: BENCH_OPERATOR, reason: 'recording' },
      signers.operator,
    );
  });
  // 9. A host action signed in the on-call role by on-call (the replay test also replays it as it was
  //    recorded before the role had one spelling, "oncall").
  await scenario(
    'signed-on-call',
    { stepMs: 5, brokenBoot: new Set(), uploadFails: new Set(['sim-00002']) },
    3,
    async (id) => {
      await untilState(id, 'awaiting-approval');
      await approveOpenGate(client, id, signers.vendor);
      await untilState(id, 'needs-attention');
      await actOnHost(
        client,
        id,
        { hostId: 'sim-00002', action: 'skip', identity: BENCH_ON_CALL, note: 'recording: on-call skips' },
        signers.onCall,
      );
    },
    (file) => {
      file.campaign.people.push({ identity: BENCH_ON_CALL, roles: ['on-call'] });
      file.campaign.failureBudget = { maxFailures: 2 };
    },
  );
  // 7. The artifact is swapped after the soak: the gate never opens, the campaign ends artifact-changed.
  await scenario(
    'artifact-changed',
    { stepMs: 5, brokenBoot: new Set() },
    3,
    async () => {},
    () => {},
    artifactChecks(1),
  );
  // 10. Continue-as-new in the middle of a wave (the server suggests it early): the hosts in flight go
  //     on and are carried into the next run, which waits for them by their run IDs.
  await scenario(
    'carried-hosts',
    { stepMs: 100, brokenBoot: new Set() },
    12,
    async (id) => {
      await untilState(id, 'awaiting-approval');
      await approveOpenGate(client, id, signers.vendor);
    },
    (file) => {
      file.campaign.waves = [{ name: 'all', size: '100%' }];
    },
  );
  if (wanted('carried-hosts')) {
    const carried = readdirSync(OUT).filter(
      (f) => f.startsWith(`${prefix}carried-hosts-run`) && carriesHosts(`${OUT}/${f}`),
    );
    if (carried.length === 0)
      throw new Error('no run of carried-hosts carried a host: record it with --suggest-continue-as-new 60');
    process.stdout.write(`carried-hosts: ${carried.length} run(s) began with hosts carried in\n`);
  }
} finally {
  await nativeConnection.close();
  await client.connection.close();
  await server.stop();
  await ledger.close();
  rmSync(dir, { recursive: true, force: true });
}
