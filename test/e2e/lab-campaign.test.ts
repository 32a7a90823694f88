/**
 * End to end: the real Temporal dev server, two `rollout worker` processes on one task queue, a lab of
 * real OpenSSH hosts. The patch breaks the NAS host's boot; it must come back from its saved image. The
 * two workers share the campaign's hosts; the CLI drives and reports.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync, mkdtempSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { promisify } from 'node:util';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import type { CampaignStore } from '../../adapters/campaign-store.js';
import {
  approveStage,
  campaignResult,
  campaignStatus,
  hostOutcomes,
  Refused,
  startCampaign,
} from '../../client/campaigns.js';
import { hostWorkflowId } from '../../domain/ids.js';
import { CampaignFile, type CampaignStatus } from '../../domain/schema.js';
import { labStatus } from '../../lab/lab.js';
import { DEMO_OPERATOR, DEMO_VENDOR, labCampaign } from '../../lab/lab-campaign.js';
import { PROJECT_ROOT } from '../../runtime/paths.js';
import { openRolloutStore, type RolloutStore } from '../../adapters/rollout-store.js';
import { decisionSigner, serviceSigner, type DecisionSigner } from '../../client/signing.js';
import { startReceiver } from '../helpers/http-receiver.js';
import { startTestLab, type TestLab } from '../helpers/lab.js';
import { devServerEnv } from '../helpers/temporal.js';
import { childEnvironment } from '../../runtime/config.js';
import { startTogether } from '../helpers/start-together.js';

const run = promisify(execFile);
const TASK_QUEUE = 'e2e-lab';
let env: TestWorkflowEnvironment;
let lab: TestLab;
let store: CampaignStore;
let storeDir: string;
const workers: ChildProcess[] = [];
const METRICS_HOST = '127.0.42.20';
let hooks: Awaited<ReturnType<typeof startReceiver>>;

const processEnv = () =>
  childEnvironment({
    TEMPORAL_ADDRESS: env.address,
    ROLLOUT_TASK_QUEUE: TASK_QUEUE,
    ROLLOUT_STORE_DIR: storeDir,
    ROLLOUT_DB_FILE: `${storeDir}/rollout.sqlite`,
    ROLLOUT_SERVICE_KEY: `${storeDir}/keys/service.pem`,
    ROLLOUT_KEY_DIR: lab.inventory.keyDir,
    ROLLOUT_LOG_LEVEL: 'error',
  });

/** The rollout store the workers and the CLI use; users and the service key live there. */
let rolloutDb: RolloutStore;
let signer: DecisionSigner;
/** Bearer tokens of the test's users, by identity. */
const tokens: Record<string, string> = {};
const STRANGE_VENDOR = 'stranger-vendor@example.com';
const STRANGE_OPERATOR = 'stranger-operator@example.com';
const asOperator = () => ({ signer, role: 'operator' as const });
const asVendor = () => ({ signer, role: 'vendor' as const });

function rollout(args: string[], extraEnv: Record<string, string> = {}) {
  return run('node', [`${PROJECT_ROOT}/bin/rollout.js`, ...args], {
    env: { ...processEnv(), ...extraEnv },
  }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({
      code: e.code,
      stdout: e.stdout,
      stderr: e.stderr,
    }),
  );
}

beforeAll(async () => {
  [env, lab, hooks] = await startTogether([
    devServerEnv(),
    startTestLab('127.0.42', 5),
    startReceiver('127.0.42.250'),
  ]);
  storeDir = mkdtempSync(`${tmpdir()}/rollout-e2e-store-`);
  rolloutDb = await openRolloutStore({ sqliteFile: `${storeDir}/rollout.sqlite` });
  store = rolloutDb.campaignFiles;
  signer = decisionSigner(await serviceSigner(rolloutDb, `${storeDir}/keys/service.pem`), 'cli');
  for (const [name, role] of [
    [DEMO_OPERATOR, 'operator'],
    [DEMO_VENDOR, 'vendor'],
    [STRANGE_VENDOR, 'vendor'],
    [STRANGE_OPERATOR, 'operator'],
  ] as const)
    tokens[name] = (await rolloutDb.addUser(name, role)).token;
  const webhooks = [
    { name: 'ops-json', url: hooks.url('/json') },
    {
      name: 'ops-slack',
      url: hooks.url('/slack'),
      format: 'slack',
      events: ['host-rolled-back', 'finished'],
    },
  ];
  // Two worker processes, as an operator would run them on two machines.
  for (let i = 0; i < 2; i++) {
    const worker = spawn('node', [`${PROJECT_ROOT}/bin/rollout.js`, 'worker'], {
      env: {
        ...processEnv(),
        ROLLOUT_WEBHOOKS: JSON.stringify(webhooks),
        ROLLOUT_METRICS_ADDRESS: `${METRICS_HOST}${i}:9464`,
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    worker.stderr?.resume();
    workers.push(worker);
  }
});

afterAll(async () => {
  await Promise.all(
    workers.map(
      (w) =>
        new Promise<void>((resolve) => {
          if (w.exitCode !== null) return resolve();
          w.once('exit', () => resolve());
          w.kill('SIGTERM');
          setTimeout(() => w.kill('SIGKILL'), 25_000).unref();
        }),
    ),
  );
  await rolloutDb?.close();
  await env?.teardown();
  await lab?.stop();
  if (storeDir) rmSync(storeDir, { recursive: true, force: true });
});

/** What the vendor was shown for the open gate: the approval is bound to it. */
function evidence(status: CampaignStatus, identity: string) {
  const gate = status.gates.find((g) => g.state === 'open') ?? status.gates[0]!;
  return {
    stage: gate.stage,
    identity,
    artifactSha256: status.patch.sha256,
    hostSetDigest: gate.hostSetDigest,
  };
}

/** The worker identities (pid@host) that ran activities of a host's latest workflow run. */
async function activityWorkers(hostId: string): Promise<string[]> {
  const history = await env.client.workflow.getHandle(hostWorkflowId(hostId)).fetchHistory();
  return (history.events ?? []).flatMap((e) => {
    const identity = e.activityTaskStartedEventAttributes?.identity;
    return identity ? [identity] : [];
  });
}

function fastCampaign() {
  return CampaignFile.parse(
    labCampaign(lab.inventory, {
      soak: '4s',
      probeInterval: '2s',
      rebootGrace: '500ms',
      bootTimeout: '8s',
      concurrency: 3,
    }),
  );
}

describe('a campaign on the lab, end to end', () => {
  it('two workers patch the fleet, and restore the NAS whose boot the patch broke from its saved image', async () => {
    const file = fastCampaign();
    const id = await startCampaign(env.client, TASK_QUEUE, store, file, DEMO_OPERATOR, {
      signing: asOperator(),
    });
    let gate;
    for (let i = 0; i < 120; i++) {
      gate = await campaignStatus(env.client, id);
      if (gate.state === 'awaiting-approval') break;
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(gate?.state, `${gate?.reason ?? ''} ${JSON.stringify(gate?.failed ?? [])}`).toBe(
      'awaiting-approval',
    );
    expect(gate?.soak.verdict).toBe('pass');
    expect(gate?.soak.probes.length).toBeGreaterThanOrEqual(3);
    // While it runs, a second campaign over the same hosts is refused before anything starts.
    const overlapping = startCampaign(env.client, TASK_QUEUE, store, file, DEMO_OPERATOR, {
      signing: asOperator(),
    });
    await expect(overlapping).rejects.toThrow(Refused);
    await expect(overlapping).rejects.toMatchObject({
      type: 'HostBusy',
      message: expect.stringMatching(new RegExp(`^5 host\\(s\\) already in running campaign ${id}: `)),
    });
    await approveStage(env.client, id, evidence(gate!, DEMO_VENDOR), asVendor());
    const result = await campaignResult(env.client, id);

    expect(result.state).toBe('completed');
    expect(result.counts).toMatchObject({ patched: 4, 'rolled-back': 1 });
    const hostIds = ['test-01', 'archive-01', 'db-01', 'nas-01', 'dws-01'];
    const outcomes = await hostOutcomes(env.client, id, hostIds);
    expect(Object.fromEntries([...outcomes].map(([h, o]) => [h, o.state]))).toEqual({
      'test-01': 'patched',
      'archive-01': 'patched',
      'db-01': 'patched',
      'nas-01': 'rolled-back',
      'dws-01': 'patched',
    });
    const nas = outcomes.get('nas-01')!;
    expect(nas.failure).toMatchObject({ step: 'reboot', type: 'Timeout' });
    expect(nas.health?.ok).toBe(true);
    expect(existsSync(`${lab.dir}/images/${nas.image!.imageId}.tar.zst`)).toBe(true);
    // What the disks say, read directly rather than through the orchestrator.
    const disks = Object.fromEntries(
      labStatus(lab.dir).hosts.map((h) => [h.id, `${h.version}/${h.power}/${h.booted}`]),
    );
    expect(disks).toEqual({
      'test-01': '1.1.0/on/true',
      'archive-01': '1.1.0/on/true',
      'db-01': '1.1.0/on/true',
      'nas-01': '1.0.0/on/true',
      'dws-01': '1.1.0/on/true',
    });
    // Both worker processes ran activities of this campaign's hosts.
    const identities = new Set((await Promise.all(hostIds.map(activityWorkers))).flat());
    const pids = new Set([...identities].map((i) => i.split('@')[0]));
    expect(pids).toEqual(new Set(workers.map((w) => String(w.pid))));
    expect(readFileSync(`${lab.dir}/hosts/nas-01/log/console.log`, 'utf8')).toMatch(
      /boot failed[\s\S]*disk restored from nas-01-/,
    );
    // The workers posted notifications to the real receiver: JSON for all, Slack text for two kinds.
    const posted = (path: string) =>
      hooks.received.filter((r) => r.path === path).map((r) => JSON.parse(r.body));
    const json = posted('/json') as { campaignId: string; kind: string; hostId?: string }[];
    expect(json.filter((n) => n.campaignId === id).map((n) => n.kind)).toEqual(
      expect.arrayContaining(['approval-requested', 'host-rolled-back', 'finished']),
    );
    expect(json.find((n) => n.kind === 'host-rolled-back')?.hostId).toBe('nas-01');
    expect((posted('/slack') as { text: string }[]).map((n) => n.text)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^\[host-rolled-back\] .*nas-01/),
        expect.stringMatching(/^\[finished\]/),
      ]),
    );
    // Each worker serves Prometheus metrics on loopback: Temporal's own and ours.
    const metrics = (
      await Promise.all(
        [0, 1].map((i) => fetch(`http://${METRICS_HOST}${i}:9464/metrics`).then((r) => r.text())),
      )
    ).join('\n');
    expect(metrics).toMatch(/temporal_/);
    expect(metrics).toMatch(/rollout_host_outcomes\{[^}]*state="rolled-back"/);
    expect(metrics).toMatch(/rollout_host_step_duration/);
    expect(metrics).toMatch(/rollout_campaign_hosts\{/);
    // The workers wrote the ledger: it knows the NAS lacks the patch.
    const ledger = await openRolloutStore({ sqliteFile: `${storeDir}/rollout.sqlite` });
    try {
      const lacking = await ledger.hostsLacking(file.patch.id);
      expect(lacking.map((l) => [l.host.hostId, l.latest?.state])).toEqual([['nas-01', 'rolled-back']]);
    } finally {
      await ledger.close();
    }

    // A second campaign with the same patch installs nothing twice: patched hosts are skipped.
    const again = await startCampaign(env.client, TASK_QUEUE, store, file, DEMO_OPERATOR, {
      signing: asOperator(),
    });
    for (let i = 0; i < 120 && (await campaignStatus(env.client, again)).state !== 'awaiting-approval'; i++)
      await new Promise((r) => setTimeout(r, 250));
    await approveStage(
      env.client,
      again,
      evidence(await campaignStatus(env.client, again), DEMO_VENDOR),
      asVendor(),
    );
    const second = await campaignResult(env.client, again);
    expect(second.hosts['test-01']).toBe('already-patched');
    expect(second.counts['already-patched']).toBe(4);
  });
});

describe('the CLI against the dev server', () => {
  it('refuses a broken campaign file, naming the field, and starts nothing', async () => {
    const raw = labCampaign(lab.inventory);
    raw.fleet.hosts[1]!.hostKey = 'not-a-key';
    const path = `${mkdtempSync(`${tmpdir()}/rollout-cli-`)}/broken.yaml`;
    writeFileSync(path, stringify(raw));
    const before = await env.client.workflow.count();
    const result = await rollout(['start', '-f', path], { ROLLOUT_TOKEN: tokens[DEMO_OPERATOR]! });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('fleet.hosts[1].hostKey: must be a SHA256 fingerprint');
    expect((await env.client.workflow.count()).count).toBe(before.count);
  });

  it('starts a campaign, shows its status; a vendor it does not name gets exit 4, a stranger operator exit 3', async () => {
    const path = `${mkdtempSync(`${tmpdir()}/rollout-cli-`)}/campaign.yaml`;
    writeFileSync(
      path,
      stringify(
        labCampaign(lab.inventory, {
          soak: '1h',
          probeInterval: '30m',
          rebootGrace: '1s',
          bootTimeout: '10s',
          concurrency: 2,
        }),
      ),
    );
    const started = await rollout(['start', '-f', path], { ROLLOUT_TOKEN: tokens[DEMO_OPERATOR]! });
    expect(started.code).toBe(0);
    const id = started.stdout.trim();
    expect(id).toMatch(/^campaign-pacs-secfix-1-1-0-lab-rollout-/);
    const status = await rollout(['status', id, '--json']);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ campaignId: id, startedBy: DEMO_OPERATOR });
    const shown = JSON.parse(status.stdout) as CampaignStatus;
    const refused = await rollout(
      [
        'approve',
        id,
        '--stage',
        'production',
        '--checksum',
        shown.patch.sha256,
        '--host-set',
        shown.gates[0]!.hostSetDigest,
      ],
      { ROLLOUT_TOKEN: tokens[STRANGE_VENDOR]! },
    );
    // A vendor the campaign does not name is told what anyone is told of a campaign that does not exist.
    expect(refused.code).toBe(4);
    expect(refused.stderr.trim()).toBe('rollout: no such campaign');
    const stranger = await rollout(['pause', id], { ROLLOUT_TOKEN: tokens[STRANGE_OPERATOR]! });
    expect(stranger.code).toBe(3);
    expect(stranger.stderr).toContain('refused (NotAnOperator)');
    // A token nobody holds is refused, and the refusal is in the audit log like the API's.
    const forged = await rollout(['pause', id], { ROLLOUT_TOKEN: 'rot_not-a-real-token' });
    expect(forged.code).toBe(3);
    expect(forged.stderr).toContain('refused (Unauthenticated)');
    const audit = await openRolloutStore({ sqliteFile: `${storeDir}/rollout.sqlite` });
    try {
      const entries = await audit.auditEntries({ limit: 20 });
      expect(entries).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ action: 'sign-in', via: 'cli', outcome: 'refused', actor: 'anonymous' }),
        ]),
      );
    } finally {
      await audit.close();
    }
    const aborted = await rollout(['abort', id, '--reason', 'test over'], {
      ROLLOUT_TOKEN: tokens[DEMO_OPERATOR]!,
    });
    expect(aborted.code).toBe(0);
    expect((await campaignResult(env.client, id)).state).toBe('aborted');
    const missing = await rollout(['status', 'campaign-does-not-exist']);
    expect(missing.code).toBe(4);
  });
});
