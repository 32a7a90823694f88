/**
 * The production topology on loopback: Temporal built from its Go module, on PostgreSQL, each service its
 * own process, mTLS on the frontend and between the services, Temporal's JWT authorization on. The
 * product's worker (its own certificate and a `default:write` token) and the action service (the API's
 * certificate and token) patch the lab fleet; a client without a certificate cannot connect, and a raw
 * Temporal client without a token, or with a read-only one, is refused by the server for the approve
 * Update. The history service is killed mid-wave and restarted: the campaign completes, no host installs
 * twice.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { temporal as temporalProto } from '@temporalio/proto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openRolloutStore } from '../../adapters/rollout-store.js';
import { createApi } from '../../api/server.js';
import { rolloutActions, type Actor, type RolloutActions } from '../../client/actions.js';
import { campaignResult, campaignStatus } from '../../client/campaigns.js';
import { connectClient } from '../../client/connection.js';
import { decisionSigner, serviceSigner } from '../../client/signing.js';
import { campaignWorkflowId, hostWorkflowId } from '../../domain/ids.js';
import { approveStageUpdate, campaignStatusQuery } from '../../workflows/contract.js';
import { labCampaign, DEMO_OPERATOR, DEMO_VENDOR } from '../../lab/lab-campaign.js';
import { childEnvironment, embeddedSettings } from '../../runtime/config.js';
import { CLUSTER_SERVER_NAME, startLocalCluster, type LocalCluster } from '../../runtime/local-cluster.js';
import { PROJECT_ROOT } from '../../runtime/paths.js';
import { CLUSTER_SERVICES, logTail, type TemporalCluster } from '../../runtime/temporal-cluster.js';
import { createLogger } from '../../workers/logger.js';
import { createWorker } from '../../workers/worker.js';
import { startTestLab, type TestLab } from '../helpers/lab.js';
import { createNamespace } from '../helpers/netns.js';
import { tempRolloutStore } from '../helpers/store.js';
import { startTogether } from '../helpers/start-together.js';

const run = promisify(execFile);
const HOST = '127.0.70.1';
const TASK_QUEUE = 'cluster-rollout';
/** The namespaced workers' queue: the first test's in-process worker does not poll it. */
const NETNS_QUEUE = 'cluster-netns';
/** Where the test's network namespaces come from (test/helpers/netns.ts); PostgreSQL trusts it. */
const WORKER_NETWORKS = '10.231.0.0/16';
const SERVER_NAME = CLUSTER_SERVER_NAME;

let dir: string;
let local: LocalCluster;
let cluster: TemporalCluster;
let lab: TestLab;
/** The lab the namespaced workers patch (its own hosts, so the first campaign's results stay apart). */
let lab2: TestLab;
let rollout: Awaited<ReturnType<typeof tempRolloutStore>>;
let ca: string;
const stops: Array<() => Promise<unknown>> = [];
const tokens = { token: (subject: string, permissions: string[]) => local.token(subject, permissions) };

/** How a process of the product reaches the cluster: its certificate, the CA, a default:write token. */
const temporalAs = (who: 'worker' | 'api') => local.temporalFor(who, ['default:write'], TASK_QUEUE);

/** The gRPC status code inside a client error (Temporal wraps the server's answer in causes). */
async function deniedWith(call: Promise<unknown>): Promise<string> {
  const err = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  for (
    let e = err as { code?: unknown; details?: unknown; cause?: unknown } | undefined;
    e;
    e = e.cause as typeof e
  )
    if (typeof e.code === 'number') return `${e.code} ${String(e.details ?? '')}`;
  return `no gRPC status in ${String(err)}`;
}

/** A raw Temporal client, not the product's: a certificate, and whatever token it is given. */
async function rawClient(token?: string): Promise<Client> {
  const connection = await Connection.connect({
    address: cluster.address,
    tls: {
      serverNameOverride: SERVER_NAME,
      serverRootCACertificate: readFileSync(ca),
      clientCertPair: {
        crt: readFileSync(local.certificate('intruder').certFile),
        key: readFileSync(local.certificate('intruder').keyFile),
      },
    },
    ...(token ? { apiKey: token } : {}),
    connectTimeout: '5s',
  });
  stops.push(() => connection.close());
  return new Client({ connection, namespace: 'default' });
}

beforeAll(async () => {
  dir = mkdtempSync(`${tmpdir()}/rollout-cluster-test-`);
  [local, lab, lab2, rollout] = await startTogether(
    [
      startLocalCluster({ dir: `${dir}/cluster`, host: HOST, trustedNetworks: [WORKER_NETWORKS] }),
      startTestLab('127.0.71', 4),
      startTestLab('127.0.72', 4),
      tempRolloutStore(),
    ],
    (stop) => stops.push(stop),
  );
  cluster = local.cluster;
  ca = local.caFile;
  // Longer than the bring-up's own limits (60 s for history to listen, 180 s for the rest to serve, and
  // PostgreSQL with the schema before), so its error (the step, the service logs) is what is reported.
}, 360_000);

// A failure on another machine is diagnosable only from the services' own logs: print their tails.
afterEach((context) => {
  if (context.task.result?.state !== 'fail' || !cluster) return;
  for (const service of CLUSTER_SERVICES)
    process.stderr.write(`--- ${service} log (tail) ---\n${logTail(cluster.logFile(service), 3000)}\n`);
});

afterAll(async () => {
  // What the test started, last first; the cluster, the labs and the store were tracked as each came up.
  for (const stop of stops.reverse()) await stop().catch(() => undefined);
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe('the Temporal cluster: separate services on PostgreSQL, mTLS, JWT authorization', () => {
  it('runs every service as its own process', () => {
    expect([...cluster.processes.keys()].sort()).toEqual([
      'frontend',
      'history',
      'internal-frontend',
      'matching',
      'worker',
    ]);
    const pids = new Set([...cluster.processes.values()].map((p) => p.pid));
    expect(pids.size).toBe(5);
  });

  it('refuses a client without a certificate (the same client with one connects)', async () => {
    const connect = (withCertificate: boolean) =>
      Connection.connect({
        address: cluster.address,
        tls: {
          serverNameOverride: SERVER_NAME,
          serverRootCACertificate: readFileSync(ca),
          ...(withCertificate
            ? {
                clientCertPair: {
                  crt: readFileSync(local.certificate('api').certFile),
                  key: readFileSync(local.certificate('api').keyFile),
                },
              }
            : {}),
        },
        apiKey: tokens.token('api', ['default:write']),
        connectTimeout: '3s',
      });
    // The TLS handshake fails, so the client never gets a connection.
    await expect(connect(false)).rejects.toThrow('Failed to connect before the deadline');
    const connected = await connect(true);
    await connected.close();
  });

  it('the CLI with a certificate but no token is refused by Temporal (exit 3, said so); with its token it is answered', async () => {
    const cli = (apiKey: string) =>
      run(process.execPath, [`${PROJECT_ROOT}/bin/rollout.js`, 'status', 'no-such-campaign'], {
        env: childEnvironment({
          TEMPORAL_ADDRESS: cluster.address,
          TEMPORAL_TLS_CLIENT_CERT_PATH: local.certificate('api').certFile,
          TEMPORAL_TLS_CLIENT_KEY_PATH: local.certificate('api').keyFile,
          TEMPORAL_TLS_SERVER_CA_CERT_PATH: ca,
          TEMPORAL_TLS_SERVER_NAME: SERVER_NAME,
          TEMPORAL_API_KEY: apiKey,
        }),
      }).then(
        () => ({ code: 0, stderr: '' }),
        (err: { code: number; stderr: string }) => ({ code: err.code, stderr: err.stderr.trim() }),
      );
    expect(await cli('')).toEqual({
      code: 3,
      stderr:
        'rollout: Temporal refused this identity (PERMISSION_DENIED): TEMPORAL_API_KEY must carry a permission for this namespace (README: Running in production)',
    });
    expect(await cli(tokens.token('rollout-api', ['default:write']))).toEqual({
      code: 4,
      stderr: 'rollout: no such campaign',
    });
  });

  it('patches the lab fleet with the product worker; raw clients without a token or with a read-only one are refused the approve Update', async () => {
    const workerSettings = embeddedSettings({
      temporal: temporalAs('worker'),
      keyDir: lab.inventory.keyDir,
    });
    const { worker, connection, ssh } = await createWorker({
      settings: workerSettings,
      ledger: rollout.store,
      logger: createLogger('error'),
    });
    stops.push(() => connection.close());
    stops.push(async () => ssh.close());
    const running = worker.run();
    stops.push(async () => {
      worker.shutdown();
      await running;
    });
    const apiSettings = embeddedSettings({
      temporal: temporalAs('api'),
    });
    const client = await connectClient(apiSettings.temporal);
    stops.push(() => client.connection.close());
    const actions: RolloutActions = rolloutActions({
      client,
      taskQueue: TASK_QUEUE,
      campaigns: rollout.store.campaignFiles,
      store: rollout.store,
      signer: decisionSigner(await serviceSigner(rollout.store, `${dir}/service.pem`), 'api'),
    });
    const operator: Actor = { identity: DEMO_OPERATOR, role: 'operator', via: 'api' };
    const vendor: Actor = { identity: DEMO_VENDOR, role: 'vendor', via: 'api' };
    const raw = labCampaign(lab.inventory, {
      soak: '8s',
      probeInterval: '2s',
      rebootGrace: '1s',
      bootTimeout: '20s',
      concurrency: 2,
    });
    raw.patch.installCommand = 'echo run >> "$PACS_ROOT/var/install-runs"; sh {artifact}';
    const id = await actions.start(operator, JSON.stringify(raw), 'the cluster test');

    // Wait for the gate: meanwhile, raw clients try to approve it themselves.
    let status = await campaignStatus(client, id);
    for (let i = 0; i < 240 && status.state !== 'awaiting-approval'; i++) {
      await new Promise((r) => setTimeout(r, 500));
      status = await campaignStatus(client, id);
    }
    expect(status.state, JSON.stringify({ reason: status.reason, failed: status.failed })).toBe(
      'awaiting-approval',
    );
    const gate = status.gates.find((g) => g.state === 'open')!;
    const forged = {
      stage: gate.stage,
      identity: DEMO_VENDOR,
      comment: 'approved by a raw client',
      artifactSha256: status.patch.sha256,
      hostSetDigest: gate.hostSetDigest,
    };
    const handle = (c: Client) => c.workflow.getHandle(campaignWorkflowId(id));
    const anonymous = await rawClient();
    // 7 = PERMISSION_DENIED, from the server's authorizer.
    expect(await deniedWith(handle(anonymous).query(campaignStatusQuery))).toBe('7 Request unauthorized.');
    expect(await deniedWith(handle(anonymous).executeUpdate(approveStageUpdate, { args: [forged] }))).toBe(
      '7 Request unauthorized.',
    );
    const reader = await rawClient(tokens.token('dashboard-reader', ['default:read']));
    expect((await handle(reader).query(campaignStatusQuery)).state).toBe('awaiting-approval');
    expect(await deniedWith(handle(reader).executeUpdate(approveStageUpdate, { args: [forged] }))).toBe(
      '7 Request unauthorized.',
    );
    expect((await handle(reader).query(campaignStatusQuery)).gates[0]!.decisions).toEqual([]);

    // The API's identity approves; kill -9 the history service once the wave runs, then restart it. An
    // activity that finished while history was down is run again after its start-to-close timeout
    // (2 minutes for the quick steps): that is the price of the outage, not a lost host.
    const record = await actions.approve(vendor, id, {
      stage: gate.stage,
      artifactSha256: status.patch.sha256,
      hostSetDigest: gate.hostSetDigest,
      comment: 'soak evidence reviewed',
    });
    expect(record).toMatchObject({ decision: 'approved', identity: DEMO_VENDOR });
    const stateNow = () =>
      campaignStatus(client, id).then(
        (s) => s.state,
        () => 'unreachable',
      );
    for (let i = 0; i < 120 && (await stateNow()) !== 'rolling-out'; i++)
      await new Promise((r) => setTimeout(r, 250));
    await cluster.kill('history');
    expect(await stateNow()).toBe('unreachable');
    await new Promise((r) => setTimeout(r, 2_000));
    cluster.start('history');
    for (let i = 0; i < 480 && !['completed', 'failed', 'aborted'].includes(await stateNow()); i++)
      await new Promise((r) => setTimeout(r, 500));
    const result = await campaignResult(client, id);
    expect(result.state).toBe('completed');
    const nas = lab.inventory.hosts.find((h) => h.role === 'nas')!.id;
    const ledger = await rollout.store.ledger({ campaignId: id });
    expect(Object.fromEntries(ledger.map((e) => [e.hostId, e.state]))).toEqual(
      Object.fromEntries(lab.inventory.hosts.map((h) => [h.id, h.id === nas ? 'rolled-back' : 'patched'])),
    );

    // No host installed twice: one install activity in each host's history, and the host itself counted
    // one run (the NAS's count went with its restored disk).
    for (const h of lab.inventory.hosts) {
      const history = await client.workflow.getHandle(hostWorkflowId(h.id)).fetchHistory();
      const installs = (history.events ?? []).filter(
        (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'installPatch',
      );
      expect(installs.length, h.id).toBe(1);
      if (h.id !== nas)
        expect(readFileSync(`${lab.dir}/hosts/${h.id}/root/var/install-runs`, 'utf8'), h.id).toBe('run\n');
    }
    // The audit log has what the people's interface accepted: the start and the approval, nothing else.
    const audit = await rollout.store.auditEntries({ limit: 50 });
    expect(audit.map((e) => `${e.action} ${e.outcome} ${e.actor}`).reverse()).toEqual([
      `start accepted ${DEMO_OPERATOR}`,
      `approve accepted ${DEMO_VENDOR}`,
    ]);
  }, 300_000);
  it('two workers, each in a network namespace of its own and seeing none of the cluster, lab or other worker directories, patch one campaign started and approved through the CLI and the API; one is killed mid-install and the other re-attaches', async () => {
    // The rollout store on the cluster's PostgreSQL: the one thing the workers, the API and the test share.
    const pg = await openRolloutStore({
      databaseUrl: local.postgres.url,
      sqliteFile: `${dir}/unused.sqlite`,
    });
    stops.push(() => pg.close());
    const temporal = local.temporalFor('worker', ['default:write'], NETNS_QUEUE);
    const inherited = Object.fromEntries(
      Object.entries(childEnvironment()).filter(([k]) => !/^(ROLLOUT|TEMPORAL)_/.test(k)),
    );
    const names = ['a', 'b'] as const;
    const own = Object.fromEntries(names.map((n) => [n, mkdtempSync(`${tmpdir()}/rollout-worker-${n}-`)]));
    stops.push(async () => names.forEach((n) => rmSync(own[n]!, { recursive: true, force: true })));
    const children = {} as Record<(typeof names)[number], ChildProcess>;
    for (const [i, n] of names.entries()) {
      // What a worker machine is given: its certificate and token, the CA, the SSH keys. Nothing else.
      const mine = own[n]!;
      cpSync(lab2.inventory.keyDir, `${mine}/keys`, { recursive: true });
      copyFileSync(temporal.tlsCertPath!, `${mine}/worker.pem`);
      copyFileSync(temporal.tlsKeyPath!, `${mine}/worker.key`);
      copyFileSync(temporal.tlsCaPath!, `${mine}/ca.pem`);
      const ns = createNamespace(i + 1, ['127.0.70.0/24', '127.0.72.0/24']);
      stops.push(async () => ns.remove());
      const hide = [
        dir,
        lab.dir,
        lab2.dir,
        dirname(rollout.file),
        own[n === 'a' ? 'b' : 'a']!,
        ...(existsSync(`${PROJECT_ROOT}/.data`) ? [`${PROJECT_ROOT}/.data`] : []),
      ];
      children[n] = ns.run([process.execPath, `${PROJECT_ROOT}/bin/rollout.js`, 'worker'], {
        hostname: `worker-${n}`,
        hide,
        logFile: `${mine}/worker.log`,
        env: {
          ...inherited,
          HOME: mine,
          ROLLOUT_DATA_DIR: `${mine}/data`,
          ROLLOUT_KEY_DIR: `${mine}/keys`,
          ROLLOUT_DATABASE_URL: local.postgres.url,
          ROLLOUT_METRICS_ADDRESS: '',
          ROLLOUT_TASK_QUEUE: NETNS_QUEUE,
          TEMPORAL_ADDRESS: temporal.address,
          TEMPORAL_TLS_CLIENT_CERT_PATH: `${mine}/worker.pem`,
          TEMPORAL_TLS_CLIENT_KEY_PATH: `${mine}/worker.key`,
          TEMPORAL_TLS_SERVER_CA_CERT_PATH: `${mine}/ca.pem`,
          TEMPORAL_TLS_SERVER_NAME: SERVER_NAME,
          TEMPORAL_API_KEY: temporal.apiKey!,
        },
      });
    }

    // The API: the only identity besides the workers that may act on Temporal.
    const client = await connectClient(local.temporalFor('api', ['default:write'], NETNS_QUEUE));
    stops.push(() => client.connection.close());
    const api = await createApi({
      actions: rolloutActions({
        client,
        taskQueue: NETNS_QUEUE,
        campaigns: pg.campaignFiles,
        store: pg,
        signer: decisionSigner(await serviceSigner(pg, `${dir}/service-netns.pem`), 'api'),
      }),
      store: pg,
    });
    stops.push(() => api.close());
    const apiUrl = await api.listen({ host: '127.0.0.1', port: 0 });
    const operatorToken = (await pg.addUser(DEMO_OPERATOR, 'operator')).token;
    const vendorToken = (await pg.addUser(DEMO_VENDOR, 'vendor')).token;
    // The CLI has no Temporal identity and no database here: ROLLOUT_API_URL and the person's token.
    const cli = (token: string, args: string[]) =>
      run(process.execPath, [`${PROJECT_ROOT}/bin/rollout.js`, ...args], {
        env: { ...inherited, ROLLOUT_API_URL: apiUrl, ROLLOUT_TOKEN: token, TEMPORAL_ADDRESS: '127.0.0.1:9' },
      }).then((r) => r.stdout);

    // Both workers poll before anything starts.
    const pollers = async () => {
      const { pollers: list } = await client.workflowService.describeTaskQueue({
        namespace: 'default',
        taskQueue: { name: NETNS_QUEUE },
        taskQueueType: temporalProto.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
      });
      return (list ?? []).map((p) => p.identity ?? '');
    };
    for (let i = 0; i < 240; i++) {
      const seen = await pollers();
      if (names.every((n) => seen.some((id) => id.endsWith(`@worker-${n}`)))) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    expect((await pollers()).map((id) => id.replace(/^\d+/, '')).sort()).toEqual(['@worker-a', '@worker-b']);

    const raw = labCampaign(lab2.inventory, {
      soak: '8s',
      probeInterval: '2s',
      rebootGrace: '1s',
      bootTimeout: '20s',
      concurrency: 2,
    });
    raw.patch.installCommand = 'echo run >> "$PACS_ROOT/var/install-runs"; sleep 3; sh {artifact}';
    const file = `${dir}/netns-campaign.json`;
    writeFileSync(file, JSON.stringify(raw));
    const { campaignId: id } = JSON.parse(await cli(operatorToken, ['start', '-f', file, '--json'])) as {
      campaignId: string;
    };
    let status = await campaignStatus(client, id);
    for (let i = 0; i < 240 && status.state !== 'awaiting-approval'; i++) {
      await new Promise((r) => setTimeout(r, 500));
      status = await campaignStatus(client, id);
    }
    expect(status.state, JSON.stringify({ reason: status.reason, failed: status.failed })).toBe(
      'awaiting-approval',
    );
    const gate = status.gates.find((g) => g.state === 'open')!;
    const approval = JSON.parse(
      await cli(vendorToken, [
        'approve',
        id,
        '--stage',
        gate.stage,
        '--checksum',
        status.patch.sha256,
        '--host-set',
        gate.hostSetDigest,
        '--json',
      ]),
    ) as { identity: string };
    expect(approval.identity).toBe(DEMO_VENDOR);

    // The first wave install that starts: kill -9 the worker running it.
    const waveHosts = lab2.inventory.hosts.filter((h) => h.role !== 'test-system');
    let killed: { host: string; worker: (typeof names)[number] } | undefined;
    for (let i = 0; i < 600 && !killed; i++) {
      for (const h of waveHosts) {
        const described = await client.workflow
          .getHandle(hostWorkflowId(h.id))
          .describe()
          .catch(() => undefined);
        const install = described?.raw.pendingActivities?.find(
          (a) =>
            a.activityType?.name === 'installPatch' &&
            a.state === temporalProto.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED,
        );
        const worker = names.find((n) => install?.lastWorkerIdentity?.endsWith(`@worker-${n}`));
        if (worker) {
          children[worker].kill('SIGKILL');
          killed = { host: h.id, worker };
          break;
        }
      }
      if (!killed) await new Promise((r) => setTimeout(r, 200));
    }
    expect(killed, 'an install started on one of the workers').toBeDefined();
    const survivor = killed!.worker === 'a' ? 'b' : 'a';

    for (let i = 0; i < 480 && !['completed', 'failed', 'aborted'].includes(status.state); i++) {
      await new Promise((r) => setTimeout(r, 500));
      status = await campaignStatus(client, id);
    }
    expect((await campaignResult(client, id)).state).toBe('completed');
    const nas = lab2.inventory.hosts.find((h) => h.role === 'nas')!.id;
    const ledger = await pg.ledger({ campaignId: id });
    expect(Object.fromEntries(ledger.map((e) => [e.hostId, e.state]))).toEqual(
      Object.fromEntries(lab2.inventory.hosts.map((h) => [h.id, h.id === nas ? 'rolled-back' : 'patched'])),
    );

    // Each host installed once; activities ran on both workers; the killed install was finished by the
    // survivor, which re-attached to the run already going on the host (the host counted one run).
    const activityWorkers = new Set<string>();
    for (const h of lab2.inventory.hosts) {
      const history = await client.workflow.getHandle(hostWorkflowId(h.id)).fetchHistory();
      const events = history.events ?? [];
      const scheduled = new Map<string, string>();
      for (const e of events) {
        const name = e.activityTaskScheduledEventAttributes?.activityType?.name;
        if (name) scheduled.set(String(e.eventId), name);
        const started = e.activityTaskStartedEventAttributes;
        if (!started) continue;
        const worker = (started.identity ?? '').replace(/^\d+@/, '');
        activityWorkers.add(worker);
        if (h.id === killed!.host && scheduled.get(String(started.scheduledEventId)) === 'installPatch') {
          expect(worker, 'the install after the kill').toBe(`worker-${survivor}`);
          expect(Number(started.attempt), 'the install was retried').toBeGreaterThan(1);
        }
      }
      expect([...scheduled.values()].filter((n) => n === 'installPatch').length, h.id).toBe(1);
      if (h.id !== nas)
        expect(readFileSync(`${lab2.dir}/hosts/${h.id}/root/var/install-runs`, 'utf8'), h.id).toBe('run\n');
    }
    expect([...activityWorkers].sort()).toEqual(['worker-a', 'worker-b']);

    const audit = await pg.auditEntries({ campaignId: id, limit: 10 });
    expect(audit.map((e) => `${e.action} ${e.outcome} ${e.actor} via ${e.via}`).reverse()).toEqual([
      `start accepted ${DEMO_OPERATOR} via api`,
      `approve accepted ${DEMO_VENDOR} via api`,
    ]);
  }, 420_000);
});
