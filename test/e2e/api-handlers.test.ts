/**
 * The API's handlers without a browser (Fastify's `inject`): for every route the exact status and error
 * body of each refusal — no or an unknown token (401), a role that may not (403), a malformed body
 * (400), an unknown campaign or one the asker may not see (404, the same words), a decision the campaign
 * is not ready for (409) — and the shape of each success. Real dev server, SQLite store and action
 * service; a worker on the SIMULATED host executor (bench/simulated-fleet.ts, no lab) runs the campaigns
 * the success paths need. What api-security.test.ts asserts (rate limit, headers, deep JSON, plan
 * preview by auditor or vendor, a vendor's list, an approval without evidence) is not repeated here.
 */
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import type { z } from 'zod';
import { createCampaignActivities } from '../../activities/campaign-activities.js';
import { createTrustActivities } from '../../activities/trust-activities.js';
import type { ArtifactPolicy } from '../../adapters/artifacts.js';
import { createApi } from '../../api/server.js';
import { simulatedArtifact } from '../../bench/fleet-file.js';
import { simulatedHostActivities } from '../../bench/simulated-fleet.js';
import { foldedReads, type HostSteps } from '../../activities/host-activities.js';
import { rolloutActions, type RolloutActions } from '../../client/actions.js';
import { decisionSigner, serviceSigner } from '../../client/signing.js';
import { issueCertificate } from '../../runtime/certificates.js';
import { childEnvironment } from '../../runtime/config.js';
import { freePort } from '../../runtime/dev-server.js';
import { PROJECT_ROOT } from '../../runtime/paths.js';
import type { CampaignFile, CampaignStatus } from '../../domain/schema.js';
import { ONCALL, STARTER, validCampaign, VENDOR } from '../fixtures/campaign.js';
import { tempRolloutStore } from '../helpers/store.js';
import { bundleWorkflows, devServerEnv } from '../helpers/temporal.js';
import { startTogether } from '../helpers/start-together.js';

const runFile = promisify(execFile);
const TASK_QUEUE = 'api-handlers';
const EMPTY_SHA256 = createHash('sha256').update('').digest('hex');
const AUDITOR = 'auditor@hospital.example';
/** A vendor the campaigns do not name: they may not see them. */
const OTHER_VENDOR = 'other-vendor@vendor.example';
/** An operator by role whom the campaigns do not name. */
const NIGHT_OPERATOR = 'night-operator@hospital.example';
const UNKNOWN = 'campaign-nobody-started-this';
const NO_SUCH_CAMPAIGN = { error: { type: 'NotFound', message: 'no such campaign' } };

type Who = 'operator' | 'vendor' | 'on-call' | 'auditor' | 'other-vendor' | 'night-operator';
const USERS: Record<Who, [string, 'operator' | 'vendor' | 'on-call' | 'auditor']> = {
  operator: [STARTER, 'operator'],
  vendor: [VENDOR, 'vendor'],
  'on-call': [ONCALL, 'on-call'],
  auditor: [AUDITOR, 'auditor'],
  'other-vendor': [OTHER_VENDOR, 'vendor'],
  'night-operator': [NIGHT_OPERATOR, 'operator'],
};

let env: TestWorkflowEnvironment;
let rollout: Awaited<ReturnType<typeof tempRolloutStore>>;
let dir: string;
let artifact: ReturnType<typeof simulatedArtifact>;
/** An HTTPS server (test CA) with the patch at /patches/sim.sh and /api-only/sim.sh, other bytes at /patches/other.sh. */
let urls: Awaited<ReturnType<typeof artifactServer>>;
let closedUrl = '';

async function artifactServer(root: string) {
  const tls = issueCertificate(`${root}/artifact-ca`, 'artifacts', 'server', ['IP:127.0.0.1']);
  const files: Record<string, string> = {
    '/patches/sim.sh': '',
    '/api-only/sim.sh': '',
    '/patches/other.sh': 'other\n',
  };
  const server = createHttpsServer(
    { cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) },
    (req, res) => {
      const body = files[req.url ?? ''];
      if (body === undefined) res.writeHead(404).end();
      else res.writeHead(200, { 'content-length': Buffer.byteLength(body) }).end(body);
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    base: `https://127.0.0.1:${(server.address() as { port: number }).port}`,
    caFile: `${root}/artifact-ca/ca.pem`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
let worker: Worker;
let workerRun: Promise<void>;
let actions: RolloutActions;
let app: FastifyInstance;
const tokens = {} as Record<Who, string>;
/** Campaign B's first wave host waits in preflight until this is called (to act while it rolls out). */
let releaseHeldHost: () => void = () => undefined;
/** B: soaks briefly, then waits for approval; both its wave hosts then fail preflight (needs-attention). */
let gatedId = '';
/** C: soaks briefly, then waits for approval; it is rejected. */
let rejectedId = '';

/** A campaign file over three hosts of its own (`<prefix>-h0` the test system), on the simulated executor. */
function fleetFile(prefix: string, soak: { duration: string; probeInterval: string }) {
  const raw: z.input<typeof CampaignFile> = validCampaign(3);
  raw.fleet.hosts = raw.fleet.hosts.map((h, i) => ({ ...h, id: `${prefix}-h${i}` }));
  raw.patch.artifact = { path: artifact.path, sha256: EMPTY_SHA256 };
  raw.patch.rebootGrace = '100ms';
  raw.campaign.name = `api ${prefix}`;
  raw.campaign.testHosts = [`${prefix}-h0`];
  raw.campaign.soak = soak;
  raw.campaign.waves = [{ name: 'all', size: '100%' }];
  raw.campaign.concurrency = 1;
  raw.campaign.failureBudget = { maxFailures: 2 };
  return raw;
}

beforeAll(async () => {
  [env, rollout] = await startTogether([devServerEnv(), tempRolloutStore()]);
  dir = mkdtempSync(`${tmpdir()}/rollout-api-handlers-`);
  const campaigns = rollout.store.campaignFiles;
  artifact = simulatedArtifact(dir);
  urls = await artifactServer(dir);
  // A port that was free a moment ago: nothing answers there.
  closedUrl = `https://127.0.0.1:${await freePort()}`;
  // The worker and the API fetch URLs into caches of their own; the API allows one prefix the worker
  // does not (to show the worker's own check failing a campaign the API let start).
  const workerPolicy: ArtifactPolicy = {
    ...artifact.policy,
    cacheDir: `${dir}/worker-cache`,
    caFile: urls.caFile,
    urlPrefixes: [`${urls.base}/patches/`],
  };
  const apiPolicy: ArtifactPolicy = {
    ...workerPolicy,
    cacheDir: `${dir}/api-cache`,
    urlPrefixes: [`${urls.base}/patches/`, `${urls.base}/api-only/`, `${closedUrl}/patches/`],
  };
  const host = simulatedHostActivities({ stepMs: 20, brokenBoot: new Set() });
  const held = new Promise<void>((resolve) => (releaseHeldHost = resolve));
  const logger = pino({ level: 'silent' });
  const steps: HostSteps = {
    ...host,
    // B's wave hosts present a host key that is not the pinned one: nothing is changed, on-call looks.
    async preflight(input) {
      if (input.host.id === 'b-h1') await held;
      if (input.host.id === 'b-h1' || input.host.id === 'b-h2')
        throw ApplicationFailure.create({
          type: 'HostKeyMismatch',
          message: `${input.host.id} presented another host key`,
          nonRetryable: true,
        });
      return host.preflight(input);
    },
  };
  worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue: TASK_QUEUE,
    workflowBundle: await bundleWorkflows(),
    activities: {
      // The folded reads (inspectHost, checkAfterInstall) are made of these steps, the override included.
      ...steps,
      ...foldedReads(steps),
      ...createTrustActivities({ store: rollout.store, campaigns, logger }),
      ...createCampaignActivities({
        store: campaigns,
        logger,
        checkHealth: host.checkHealth,
        ledger: rollout.store,
        artifacts: workerPolicy,
      }),
    },
  });
  workerRun = worker.run();
  actions = rolloutActions({
    client: env.client,
    taskQueue: TASK_QUEUE,
    campaigns,
    store: rollout.store,
    signer: decisionSigner(await serviceSigner(rollout.store, `${dir}/keys/service.pem`), 'api'),
    artifacts: apiPolicy,
  });
  app = await createApi({ actions, store: rollout.store });
  for (const [who, [name, role]] of Object.entries(USERS) as [Who, (typeof USERS)[Who]][])
    tokens[who] = (await rollout.store.addUser(name, role)).token;
  const operator = { identity: STARTER, role: 'operator' as const, via: 'api' as const };
  const brief = { duration: '3s', probeInterval: '1s' };
  [gatedId, rejectedId] = await startTogether([
    actions.start(operator, stringify(fleetFile('b', brief)), 'api-handlers'),
    actions.start(operator, stringify(fleetFile('c', brief)), 'api-handlers'),
  ]);
});

afterAll(async () => {
  releaseHeldHost();
  await urls?.close();
  await app?.close();
  if (env) {
    // Host workflows are abandoned by their campaigns by design: end every run this file left.
    for await (const wf of env.client.workflow.list({ query: `ExecutionStatus = 'Running'` }))
      await env.client.workflow
        .getHandle(wf.workflowId)
        .terminate('api-handlers test over')
        .catch(() => undefined);
  }
  worker?.shutdown();
  await workerRun?.catch(() => undefined);
  await env?.teardown();
  await rollout?.cleanup();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Request {
  token?: string;
  /** Sent as JSON. */
  json?: unknown;
  /** Sent as it is (with `contentType`, JSON by default). */
  raw?: string;
  contentType?: string;
  /** The client's address (the sign-in guard counts refusals per address). */
  from?: string;
}

function call(method: 'GET' | 'POST', url: string, { token, json, raw, contentType, from }: Request = {}) {
  const payload = raw ?? (json === undefined ? undefined : JSON.stringify(json));
  return app.inject({
    method,
    url,
    ...(from ? { remoteAddress: from } : {}),
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(payload !== undefined ? { 'content-type': contentType ?? 'application/json' } : {}),
    },
    ...(payload !== undefined ? { payload } : {}),
  });
}

const as = (who: Who, method: 'GET' | 'POST', url: string, json?: unknown) =>
  call(method, url, { token: tokens[who], ...(json !== undefined ? { json } : {}) });

/** The body of a refusal: `{ error: { type, message } }`. */
const refusal = (type: string, message: string) => ({ error: { type, message } });

/** What the API answers for text that is not JSON (the parser's own words after "not JSON: "). */
function notJson(text: string) {
  try {
    JSON.parse(text);
  } catch (err) {
    return refusal('InvalidInput', `not JSON: ${(err as Error).message}`);
  }
  throw new Error(`${text} is JSON`);
}

let sources = 0;
/** Each unauthenticated request from an address of its own, so the sign-in guard's 429 never answers. */
const freshSource = () => `198.51.${Math.floor(++sources / 250)}.${(sources % 250) + 1}`;

/** No token, another scheme, and an unknown token: each 401 with its own words. */
async function expectUnauthenticated(method: 'GET' | 'POST', url: string) {
  const json = method === 'POST' ? {} : undefined;
  const none = await call(method, url, { json, from: freshSource() });
  expect(none.statusCode).toBe(401);
  expect(none.json()).toEqual(refusal('Unauthenticated', 'send Authorization: Bearer <token>'));
  const basic = await app.inject({
    method,
    url,
    remoteAddress: freshSource(),
    headers: { authorization: `Basic ${Buffer.from(`${STARTER}:secret`).toString('base64')}` },
  });
  expect(basic.statusCode).toBe(401);
  expect(basic.json()).toEqual(refusal('Unauthenticated', 'send Authorization: Bearer <token>'));
  const unknown = await call(method, url, { token: 'rot_no-such-token', json, from: freshSource() });
  expect(unknown.statusCode).toBe(401);
  expect(unknown.json()).toEqual(refusal('Unauthenticated', 'unknown or expired token'));
}

async function until(campaignId: string, done: (s: CampaignStatus) => boolean, ms = 60_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const status = await actions.status(campaignId);
    if (done(status)) return status;
    if (Date.now() > deadline)
      throw new Error(`campaign ${campaignId} stayed ${status.state}: ${JSON.stringify(status.failed)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The newest audit entries, newest first. */
const latestAudit = (limit = 1) => rollout.store.auditEntries({ limit });

describe('server routes (api/server.ts)', () => {
  it('GET /api/openapi.json: served without a token, and with an unknown one, naming every route', async () => {
    for (const res of [
      await call('GET', '/api/openapi.json'),
      await call('GET', '/api/openapi.json', { token: 'rot_no-such-token', from: freshSource() }),
    ]) {
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
      const doc = res.json() as { openapi: string; paths: Record<string, Record<string, unknown>> };
      expect(doc.openapi).toBe('3.1.0');
      expect(
        Object.entries(doc.paths)
          .flatMap(([path, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`))
          .sort(),
      ).toEqual(
        [
          'GET /api/sign-in/config',
          'POST /api/sign-in/token',
          'GET /api/me',
          'GET /api/campaigns',
          'POST /api/campaigns',
          'POST /api/plan',
          'GET /api/campaigns/{id}',
          'GET /api/campaigns/{id}/hosts',
          'GET /api/campaigns/{id}/report',
          'GET /api/campaigns/{id}/report.html',
          'POST /api/campaigns/{id}/approve',
          'POST /api/campaigns/{id}/reject',
          'POST /api/campaigns/{id}/review-soak',
          'POST /api/campaigns/{id}/pause',
          'POST /api/campaigns/{id}/resume',
          'POST /api/campaigns/{id}/abort',
          'POST /api/campaigns/{id}/hosts/{host}/{action}',
          'GET /api/on-call',
          'GET /api/ledger',
          'GET /api/audit',
          'GET /api/audit/verify',
        ].sort(),
      );
    }
  });

  it('GET /api/openapi.json: each request body is the schema the route parses with (no identity, strict)', async () => {
    const doc = (await call('GET', '/api/openapi.json')).json() as {
      paths: Record<string, { post: { requestBody: { content: Record<string, { schema: object }> } } }>;
    };
    const bodyOf = (path: string) => doc.paths[path]!.post.requestBody.content['application/json']!.schema;
    expect(bodyOf('/api/campaigns/{id}/approve')).toMatchObject({
      type: 'object',
      required: ['stage', 'artifactSha256', 'hostSetDigest'],
      additionalProperties: false,
    });
    expect(
      Object.keys((bodyOf('/api/campaigns/{id}/approve') as { properties: object }).properties).sort(),
    ).toEqual(['artifactSha256', 'comment', 'hostSetDigest', 'stage']);
    expect(bodyOf('/api/campaigns/{id}/reject')).toMatchObject({
      required: ['stage', 'reason'],
      additionalProperties: false,
    });
  });

  it('GET /api/me: 401 without a token, with another scheme, and with an unknown token', async () => {
    await expectUnauthenticated('GET', '/api/me');
  });

  it('GET /api/me: each role gets its name, role and the views it may open', async () => {
    const me = async (who: Who) => {
      const res = await as(who, 'GET', '/api/me');
      expect(res.statusCode).toBe(200);
      return res.json() as unknown;
    };
    expect(await me('operator')).toEqual({
      name: STARTER,
      role: 'operator',
      views: ['campaigns', 'hosts', 'report', 'ledger', 'audit', 'on-call-queue'],
    });
    expect(await me('vendor')).toEqual({ name: VENDOR, role: 'vendor', views: ['campaigns'] });
    expect(await me('on-call')).toEqual({
      name: ONCALL,
      role: 'on-call',
      views: ['campaigns', 'hosts', 'report', 'ledger', 'on-call-queue'],
    });
    expect(await me('auditor')).toEqual({
      name: AUDITOR,
      role: 'auditor',
      views: ['campaigns', 'hosts', 'report', 'ledger', 'audit'],
    });
  });

  it('routing errors (no such path, an over-long campaign ID) come in the API error shape too', async () => {
    const noRoute = await as('operator', 'GET', '/api/campaigns/x/approve');
    expect(noRoute.statusCode).toBe(404);
    const tooLong = await as('operator', 'GET', `/api/campaigns/${'x'.repeat(200)}`);
    expect(tooLong.statusCode).toBe(414);
    for (const res of [noRoute, tooLong]) {
      const body = res.json() as Record<string, unknown>;
      expect(Object.keys(body)).toEqual(['error']);
      expect(body.error).toEqual({ type: expect.any(String), message: expect.any(String) });
    }
  });

  it('a POST body that is not JSON by its content type is 415, in the API error shape', async () => {
    const res = await call('POST', `/api/campaigns/${UNKNOWN}/pause`, {
      token: tokens.operator,
      raw: 'reason=lunch',
      contentType: 'application/x-www-form-urlencoded',
    });
    expect(res.statusCode).toBe(415);
    expect(res.json()).toEqual(refusal('InvalidInput', 'Unsupported Media Type'));
  });
});

/** A: started through the API; soaks for an hour (the phase the 409s are asked in), then is aborted. */
let soakingId = '';
const soakingFile = () => fleetFile('s', { duration: '1h', probeInterval: '30m' });

describe('campaign routes (api/routes/campaigns.ts)', () => {
  it.each([
    ['GET', '/api/campaigns'],
    ['POST', '/api/plan'],
    ['POST', '/api/campaigns'],
    ['GET', `/api/campaigns/${UNKNOWN}`],
    ['GET', `/api/campaigns/${UNKNOWN}/hosts`],
    ['GET', `/api/campaigns/${UNKNOWN}/report`],
    ['GET', `/api/campaigns/${UNKNOWN}/report.html`],
  ] as const)('%s %s: 401 without a token, with another scheme, and with an unknown token', (method, url) =>
    expectUnauthenticated(method, url),
  );

  it('POST /api/campaigns: 403 for each role that may not start, and the refusal is audited', async () => {
    const file = stringify(soakingFile());
    for (const who of ['vendor', 'on-call', 'auditor'] as const) {
      const res = await as(who, 'POST', '/api/campaigns', { file });
      expect(res.statusCode, who).toBe(403);
      expect(res.json()).toEqual(refusal('NotPermitted', `role ${who} may not start`));
      expect(await latestAudit(20)).toContainEqual(
        expect.objectContaining({
          actor: USERS[who][0],
          role: who,
          via: 'api',
          action: 'start',
          outcome: 'refused',
          detail: `NotPermitted: role ${who} may not start`,
        }),
      );
    }
  });

  it('POST /api/campaigns: 400 for a malformed body, naming the field; none of these is audited', async () => {
    const apiStarts = async () =>
      (await latestAudit(1000)).filter((e) => e.action === 'start' && e.via === 'api').length;
    const before = await apiStarts();
    const cases: [Request, ReturnType<typeof refusal>][] = [
      [{ raw: '{"file": ' }, notJson('{"file": ')],
      [{ json: {} }, refusal('InvalidInput', 'file: Invalid input')],
      [{ json: { file: 42 } }, refusal('InvalidInput', 'file: Invalid input')],
      [
        { json: { file: '' } },
        refusal('InvalidInput', 'file: Too small: expected string to have >=1 characters'),
      ],
      [
        { json: { file: 'x', startedBy: VENDOR } },
        refusal('InvalidInput', 'body: Unrecognized key: "startedBy"'),
      ],
      [{ json: ['file'] }, refusal('InvalidInput', 'body: Invalid input: expected object, received array')],
    ];
    for (const [request, expected] of cases) {
      const res = await call('POST', '/api/campaigns', { token: tokens.operator, ...request });
      expect(res.statusCode, JSON.stringify(request)).toBe(400);
      expect(res.json()).toEqual(expected);
    }
    expect(await apiStarts()).toBe(before);
  });

  it('POST /api/campaigns: 400 for a document that is not a campaign file, naming what is wrong', async () => {
    const res = await as('operator', 'POST', '/api/campaigns', { file: 'apiVersion: rollout/v2' });
    expect(res.statusCode).toBe(400);
    const { error } = res.json() as { error: { type: string; message: string } };
    expect(error.type).toBe('InvalidInput');
    expect(error.message).toMatch(/^request body is not a valid campaign file:\n {2}- apiVersion: /);
  });

  it('POST /api/campaigns: 409 for an operator the campaign file does not name', async () => {
    const res = await as('night-operator', 'POST', '/api/campaigns', { file: stringify(soakingFile()) });
    expect(res.statusCode).toBe(409);
    expect(res.json()).toEqual(
      refusal('NotAnOperator', `${NIGHT_OPERATOR} is not an operator in campaign.people`),
    );
  });

  it('POST /api/campaigns: 201 with the new campaign ID, from the file as an object; the campaign runs', async () => {
    const res = await as('operator', 'POST', '/api/campaigns', { file: soakingFile() });
    expect(res.statusCode).toBe(201);
    const body = res.json() as { campaignId: string };
    expect(Object.keys(body)).toEqual(['campaignId']);
    expect(body.campaignId).toMatch(/^campaign-api-s-\d{8}T\d{6}-[0-9a-f]{6}$/);
    soakingId = body.campaignId;
    const status = await until(soakingId, (s) => s.state === 'soaking');
    expect(status.startedBy).toBe(STARTER);
  });

  it('POST /api/campaigns: 409 for a second campaign over hosts a running one holds', async () => {
    const res = await as('operator', 'POST', '/api/campaigns', { file: stringify(soakingFile()) });
    expect(res.statusCode).toBe(409);
    expect(res.json()).toEqual(
      refusal('HostBusy', `3 host(s) already in running campaign ${soakingId}: s-h0, s-h1, s-h2`),
    );
  });

  it('GET /api/campaigns: every role may list; each campaign with its state now', async () => {
    for (const who of ['operator', 'on-call', 'auditor'] as const) {
      const res = await as(who, 'GET', '/api/campaigns');
      expect(res.statusCode, who).toBe(200);
      const { campaigns } = res.json() as { campaigns: { campaignId: string }[] };
      expect(campaigns.map((c) => c.campaignId).sort()).toEqual([gatedId, rejectedId, soakingId].sort());
      expect(campaigns.find((c) => c.campaignId === soakingId)).toMatchObject({
        campaignId: soakingId,
        name: 'api s',
        patchId: 'secfix',
        patchVersion: '1.1.0',
        artifactSha256: EMPTY_SHA256,
        startedBy: STARTER,
        hostCount: 3,
        state: 'soaking',
        running: true,
      });
    }
  });

  it('POST /api/plan: 403 for on-call (a preview is for operators), with the reason', async () => {
    const res = await as('on-call', 'POST', '/api/plan', {
      file: stringify(fleetFile('p', { duration: '1h', probeInterval: '30m' })),
    });
    expect(res.statusCode).toBe(403);
    expect(res.json()).toEqual(refusal('NotPermitted', 'role on-call may not preview plans'));
    expect(await latestAudit(20)).toContainEqual(
      expect.objectContaining({
        actor: ONCALL,
        action: 'view',
        outcome: 'refused',
        detail: 'NotPermitted: role on-call may not preview plans',
      }),
    );
  });

  it('POST /api/plan: 400 for a malformed body', async () => {
    const cases: [Request, ReturnType<typeof refusal>][] = [
      [{ raw: "{'file': 'x'}" }, notJson("{'file': 'x'}")],
      [{ json: { file: true } }, refusal('InvalidInput', 'file: Invalid input')],
      [{ json: { file: 'x', dryRun: true } }, refusal('InvalidInput', 'body: Unrecognized key: "dryRun"')],
    ];
    for (const [request, expected] of cases) {
      const res = await call('POST', '/api/plan', { token: tokens.operator, ...request });
      expect(res.statusCode, JSON.stringify(request)).toBe(400);
      expect(res.json()).toEqual(expected);
    }
  });

  it('POST /api/plan: 200 with the plan, the same for YAML text and for the object', async () => {
    const raw = fleetFile('p', { duration: '1h', probeInterval: '30m' });
    const plans = [];
    for (const file of [stringify(raw), raw]) {
      const res = await as('operator', 'POST', '/api/plan', { file });
      expect(res.statusCode).toBe(200);
      plans.push(res.json());
    }
    expect(plans[0]).toEqual({
      plan: {
        testHosts: ['p-h0'],
        waves: [{ name: 'all', hosts: [{ id: 'p-h1' }, { id: 'p-h2' }] }],
        gates: [
          {
            stage: 'production',
            beforeWave: 0,
            roles: ['vendor'],
            identities: [],
            required: 1,
            expiresAfterMs: 72 * 3_600_000,
            remindersMs: [24 * 3_600_000, 48 * 3_600_000],
            hosts: ['p-h1', 'p-h2'],
          },
        ],
        excluded: [],
        failuresAllowed: 2,
        groupBudgets: {},
      },
    });
    expect(plans[1]).toEqual(plans[0]);
  });

  it('GET /api/campaigns/:id: 404 for an unknown ID, and the same for a campaign the vendor may not see', async () => {
    const unknown = await as('operator', 'GET', `/api/campaigns/${UNKNOWN}`);
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toEqual(NO_SUCH_CAMPAIGN);
    const hidden = await as('other-vendor', 'GET', `/api/campaigns/${soakingId}`);
    expect(hidden.statusCode).toBe(404);
    expect(hidden.json()).toEqual(NO_SUCH_CAMPAIGN);
  });

  it('GET /api/campaigns/:id: 200 with the live status, for an operator and for the vendor it names', async () => {
    for (const who of ['operator', 'vendor'] as const) {
      const res = await as(who, 'GET', `/api/campaigns/${soakingId}`);
      expect(res.statusCode, who).toBe(200);
      expect(res.json()).toMatchObject({
        campaignId: soakingId,
        name: 'api s',
        state: 'soaking',
        startedBy: STARTER,
        patch: { id: 'secfix', version: '1.1.0', sha256: EMPTY_SHA256 },
        testHosts: ['s-h0'],
        soak: { durationMs: 3_600_000, probeIntervalMs: 1_800_000 },
        gates: [{ stage: 'production', state: 'waiting', hostCount: 2, decisions: [] }],
        waves: [{ name: 'all', size: 2 }],
        paused: false,
        aborting: false,
        steps: {},
      });
    }
  });

  it('GET /api/campaigns/:id/hosts: 403 for a vendor, 404 for an unknown campaign', async () => {
    const vendor = await as('vendor', 'GET', `/api/campaigns/${soakingId}/hosts`);
    expect(vendor.statusCode).toBe(403);
    expect(vendor.json()).toEqual(refusal('NotPermitted', 'role vendor may not see hosts'));
    const unknown = await as('auditor', 'GET', `/api/campaigns/${UNKNOWN}/hosts`);
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toEqual(NO_SUCH_CAMPAIGN);
  });

  it('GET /api/campaigns/:id/hosts: 200 with every host and its wave; ?state= filters', async () => {
    const res = await as('on-call', 'GET', `/api/campaigns/${soakingId}/hosts`);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      hosts: [
        { hostId: 's-h0', role: 'test-system', wave: 'test system', state: 'patched' },
        { hostId: 's-h1', role: 'archive', wave: 'all', state: 'pending' },
        { hostId: 's-h2', role: 'database', wave: 'all', state: 'pending' },
      ],
    });
    const pending = await as('on-call', 'GET', `/api/campaigns/${soakingId}/hosts?state=pending`);
    expect((pending.json() as { hosts: { hostId: string }[] }).hosts.map((h) => h.hostId)).toEqual([
      's-h1',
      's-h2',
    ]);
  });

  it('GET /api/campaigns/:id/report: 403 for a vendor, 404 for an unknown campaign', async () => {
    const vendor = await as('vendor', 'GET', `/api/campaigns/${soakingId}/report`);
    expect(vendor.statusCode).toBe(403);
    expect(vendor.json()).toEqual(refusal('NotPermitted', 'role vendor may not see report'));
    const unknown = await as('auditor', 'GET', `/api/campaigns/${UNKNOWN}/report`);
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toEqual(NO_SUCH_CAMPAIGN);
  });

  it('GET /api/campaigns/:id/report: 200 with the campaign, each host and the status', async () => {
    const res = await as('auditor', 'GET', `/api/campaigns/${soakingId}/report`);
    expect(res.statusCode).toBe(200);
    const report = res.json() as { hosts: { id: string }[] };
    expect(report).toMatchObject({
      campaign: {
        id: soakingId,
        name: 'api s',
        state: 'soaking',
        startedBy: STARTER,
        patch: { sha256: EMPTY_SHA256 },
        approvals: [],
        decisions: [],
      },
      hosts: [
        { id: 's-h0', state: 'patched', role: 'test-system', fromVersion: '1.0.0', toVersion: '1.1.0' },
        { id: 's-h1', role: 'archive', steps: [] },
        { id: 's-h2', role: 'database', steps: [] },
      ],
      status: { campaignId: soakingId, state: 'soaking' },
    });
  });

  it('GET /api/campaigns/:id/report.html: 403 for a vendor, 404 for an unknown campaign (as JSON)', async () => {
    const vendor = await as('vendor', 'GET', `/api/campaigns/${soakingId}/report.html`);
    expect(vendor.statusCode).toBe(403);
    expect(vendor.json()).toEqual(refusal('NotPermitted', 'role vendor may not see report'));
    const unknown = await as('operator', 'GET', `/api/campaigns/${UNKNOWN}/report.html`);
    expect(unknown.statusCode).toBe(404);
    expect(unknown.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(unknown.json()).toEqual(NO_SUCH_CAMPAIGN);
  });

  it('GET /api/campaigns/:id/report.html: 200 with an HTML page of the campaign', async () => {
    const res = await as('operator', 'GET', `/api/campaigns/${soakingId}/report.html`);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.body).toMatch(/^<!doctype html>/i);
    expect(res.body).toContain(soakingId);
    expect(res.body).toContain('s-h0');
  });
});

describe('decision routes (api/routes/decisions.ts)', () => {
  let gated: CampaignStatus;
  let evidence: { stage: string; artifactSha256: string; hostSetDigest: string };
  const url = (id: string, action: string) => `/api/campaigns/${id}/${action}`;

  beforeAll(async () => {
    gated = await until(gatedId, (s) => s.state === 'awaiting-approval');
    await until(rejectedId, (s) => s.state === 'awaiting-approval');
    evidence = {
      stage: 'production',
      artifactSha256: gated.patch.sha256,
      hostSetDigest: gated.gates[0]!.hostSetDigest,
    };
  });

  it.each([
    ['POST', url(UNKNOWN, 'approve')],
    ['POST', url(UNKNOWN, 'reject')],
    ['POST', url(UNKNOWN, 'review-soak')],
    ['POST', url(UNKNOWN, 'pause')],
    ['POST', url(UNKNOWN, 'resume')],
    ['POST', url(UNKNOWN, 'abort')],
    ['POST', url(UNKNOWN, 'hosts/h1/retry')],
  ] as const)('%s %s: 401 without a token, with another scheme, and with an unknown token', (method, u) =>
    expectUnauthenticated(method, u),
  );

  it('approve: 400 for a malformed body, naming the field; nothing reaches the campaign', async () => {
    const cases: [Request, ReturnType<typeof refusal>][] = [
      [{ raw: "{'stage': 'production'}" }, notJson("{'stage': 'production'}")],
      [
        { json: { stage: 5, artifactSha256: 'x', hostSetDigest: 'y' } },
        refusal(
          'InvalidInput',
          'stage: Invalid input: expected string, received number; artifactSha256: must be 64 lower-case hex digits; hostSetDigest: must be 64 lower-case hex digits',
        ),
      ],
      // The approver is the token's user: a body cannot name someone else, nor bring a signature.
      [
        { json: { ...evidence, identity: VENDOR } },
        refusal('InvalidInput', 'body: Unrecognized key: "identity"'),
      ],
      [
        { json: { ...evidence, signature: {} } },
        refusal('InvalidInput', 'body: Unrecognized key: "signature"'),
      ],
      [
        { json: { ...evidence, comment: 7 } },
        refusal('InvalidInput', 'comment: Invalid input: expected string, received number'),
      ],
    ];
    for (const [request, expected] of cases) {
      const res = await call('POST', url(gatedId, 'approve'), { token: tokens.vendor, ...request });
      expect(res.statusCode, JSON.stringify(request)).toBe(400);
      expect(res.json()).toEqual(expected);
    }
    const status = await actions.status(gatedId);
    expect(status.state).toBe('awaiting-approval');
    expect(status.gates[0]?.decisions).toEqual([]);
  });

  it('approve: 403 for each role that may not approve, audited on the campaign', async () => {
    for (const who of ['operator', 'on-call', 'auditor'] as const) {
      const res = await as(who, 'POST', url(gatedId, 'approve'), evidence);
      expect(res.statusCode, who).toBe(403);
      expect(res.json()).toEqual(refusal('NotPermitted', `role ${who} may not approve`));
      expect((await latestAudit())[0]).toMatchObject({
        actor: USERS[who][0],
        action: 'approve',
        outcome: 'refused',
        campaignId: gatedId,
        stage: 'production',
        detail: `NotPermitted: role ${who} may not approve`,
      });
    }
  });

  it('approve: 404 for an unknown campaign', async () => {
    const res = await as('vendor', 'POST', url(UNKNOWN, 'approve'), evidence);
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual(NO_SUCH_CAMPAIGN);
  });

  it('approve: the same 404 for a campaign the vendor may not see (it does not name them)', async () => {
    const res = await as('other-vendor', 'POST', url(gatedId, 'approve'), evidence);
    expect(res.json()).toEqual(NO_SUCH_CAMPAIGN);
    expect(res.statusCode).toBe(404);
  });

  it('approve: 409 for a campaign that is not awaiting approval, and for evidence it did not show', async () => {
    const soaking = await as('vendor', 'POST', url(soakingId, 'approve'), {
      stage: 'production',
      artifactSha256: EMPTY_SHA256,
      hostSetDigest: (await actions.status(soakingId)).gates[0]!.hostSetDigest,
    });
    expect(soaking.statusCode).toBe(409);
    expect(soaking.json()).toEqual(refusal('InvalidPhase', 'campaign is soaking, not awaiting approval'));

    const cases: [object, ReturnType<typeof refusal>][] = [
      [
        { ...evidence, stage: 'staging' },
        refusal('UnknownStage', 'the open gate is "production", not "staging"'),
      ],
      [
        { ...evidence, artifactSha256: 'f'.repeat(64) },
        refusal(
          'StaleApproval',
          `approval names checksum ${'f'.repeat(64)}, the campaign installs ${EMPTY_SHA256}`,
        ),
      ],
      [
        { ...evidence, hostSetDigest: 'a'.repeat(64) },
        refusal(
          'StaleHostSet',
          `approval names host set ${'a'.repeat(12)}…, stage production releases 2 hosts with digest ${evidence.hostSetDigest.slice(0, 12)}…`,
        ),
      ],
    ];
    for (const [json, expected] of cases) {
      const res = await as('vendor', 'POST', url(gatedId, 'approve'), json);
      expect(res.statusCode, JSON.stringify(json)).toBe(409);
      expect(res.json()).toEqual(expected);
    }
  });

  it('approve: 200 with the approval record; a second approval is 409', async () => {
    const res = await as('vendor', 'POST', url(gatedId, 'approve'), {
      ...evidence,
      comment: 'soak evidence reviewed',
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      stage: 'production',
      decision: 'approved',
      identity: VENDOR,
      roles: ['vendor'],
      at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      comment: 'soak evidence reviewed',
      artifactSha256: EMPTY_SHA256,
      hostSetDigest: evidence.hostSetDigest,
      hostCount: 2,
      soakVerdict: 'pass',
      probesSeen: gated.soak.probes.length,
      failedProbesSeen: 0,
    });
    // b-h1 waits in preflight: the campaign rolls out until it is released.
    await until(gatedId, (s) => s.state === 'rolling-out' && s.hosts['b-h1'] === 'preflight');
    const again = await as('vendor', 'POST', url(gatedId, 'approve'), evidence);
    expect(again.statusCode).toBe(409);
    expect(again.json()).toEqual(refusal('InvalidPhase', 'campaign is rolling-out, not awaiting approval'));
  });

  it('reject: 400 without a reason, 403 for an operator, 404 for an unknown campaign, 409 while soaking', async () => {
    const missing = await as('vendor', 'POST', url(rejectedId, 'reject'), { stage: 'production' });
    expect(missing.statusCode).toBe(400);
    expect(missing.json()).toEqual(
      refusal('InvalidInput', 'reason: Invalid input: expected string, received undefined'),
    );
    const empty = await as('vendor', 'POST', url(rejectedId, 'reject'), { stage: 'production', reason: '' });
    expect(empty.statusCode).toBe(400);
    expect(empty.json()).toEqual(refusal('InvalidInput', 'reason: give a reason'));
    const operator = await as('operator', 'POST', url(rejectedId, 'reject'), {
      stage: 'production',
      reason: 'no',
    });
    expect(operator.statusCode).toBe(403);
    expect(operator.json()).toEqual(refusal('NotPermitted', 'role operator may not reject'));
    const unknown = await as('vendor', 'POST', url(UNKNOWN, 'reject'), { stage: 'production', reason: 'no' });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toEqual(NO_SUCH_CAMPAIGN);
    const soaking = await as('vendor', 'POST', url(soakingId, 'reject'), {
      stage: 'production',
      reason: 'no',
    });
    expect(soaking.statusCode).toBe(409);
    expect(soaking.json()).toEqual(refusal('InvalidPhase', 'campaign is soaking, not awaiting approval'));
  });

  it('reject: 200 with the rejection record; the campaign ends rejected', async () => {
    const res = await as('vendor', 'POST', url(rejectedId, 'reject'), {
      stage: 'production',
      reason: 'the vendor withdrew this build',
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      stage: 'production',
      decision: 'rejected',
      identity: VENDOR,
      roles: ['vendor'],
      comment: 'the vendor withdrew this build',
    });
    const status = await until(rejectedId, (s) => s.state === 'rejected');
    expect(status.gates[0]?.state).toBe('rejected');
  });

  it('review-soak: 400 for an unknown decision, 403 for auditor and on-call, 404, 409 when no review is due', async () => {
    const bad = await as('vendor', 'POST', url(soakingId, 'review-soak'), {
      decision: 'maybe',
      reason: 'hm',
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toEqual(
      refusal('InvalidInput', 'decision: Invalid option: expected one of "accept"|"fail"'),
    );
    for (const who of ['auditor', 'on-call'] as const) {
      const res = await as(who, 'POST', url(soakingId, 'review-soak'), { decision: 'accept', reason: 'ok' });
      expect(res.statusCode, who).toBe(403);
      expect(res.json()).toEqual(refusal('NotPermitted', `role ${who} may not review-soak`));
    }
    const unknown = await as('vendor', 'POST', url(UNKNOWN, 'review-soak'), {
      decision: 'accept',
      reason: 'ok',
    });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toEqual(NO_SUCH_CAMPAIGN);
    const soaking = await as('vendor', 'POST', url(soakingId, 'review-soak'), {
      decision: 'accept',
      reason: 'ok',
    });
    expect(soaking.statusCode).toBe(409);
    expect(soaking.json()).toEqual(
      refusal('InvalidPhase', 'campaign is soaking, not waiting for a soak review'),
    );
  });

  it('pause, resume, abort: 400 for a malformed body, 403 for vendor and auditor, 404 for an unknown campaign', async () => {
    for (const control of ['pause', 'resume', 'abort'] as const) {
      const wrongType = await as('operator', 'POST', url(soakingId, control), { reason: 5 });
      expect(wrongType.statusCode, control).toBe(400);
      expect(wrongType.json()).toEqual(
        refusal('InvalidInput', 'reason: Invalid input: expected string, received number'),
      );
      const impersonating = await as('operator', 'POST', url(soakingId, control), {
        reason: 'x',
        identity: NIGHT_OPERATOR,
      });
      expect(impersonating.statusCode, control).toBe(400);
      expect(impersonating.json()).toEqual(refusal('InvalidInput', 'body: Unrecognized key: "identity"'));
      for (const who of ['vendor', 'auditor'] as const) {
        const res = await as(who, 'POST', url(soakingId, control), { reason: 'x' });
        expect(res.statusCode, `${who} ${control}`).toBe(403);
        expect(res.json()).toEqual(refusal('NotPermitted', `role ${who} may not ${control}`));
      }
      const unknown = await as('operator', 'POST', url(UNKNOWN, control), { reason: 'x' });
      expect(unknown.statusCode, control).toBe(404);
      expect(unknown.json()).toEqual(NO_SUCH_CAMPAIGN);
    }
    expect((await actions.status(soakingId)).state).toBe('soaking');
  });

  it('pause, resume: 409 while soaking, and for an operator the campaign does not name', async () => {
    const pause = await as('operator', 'POST', url(soakingId, 'pause'), { reason: 'x' });
    expect(pause.statusCode).toBe(409);
    expect(pause.json()).toEqual(refusal('InvalidPhase', 'cannot pause while soaking'));
    const resume = await as('operator', 'POST', url(soakingId, 'resume'), { reason: 'x' });
    expect(resume.statusCode).toBe(409);
    expect(resume.json()).toEqual(refusal('InvalidPhase', 'nothing to resume: campaign is soaking'));
    const stranger = await as('night-operator', 'POST', url(gatedId, 'pause'), { reason: 'x' });
    expect(stranger.statusCode).toBe(409);
    expect(stranger.json()).toEqual(
      refusal('NotAnOperator', `${NIGHT_OPERATOR} is not an operator of this campaign`),
    );
  });

  it('pause, resume: 200 with the decision while rolling out; a second pause is 409', async () => {
    const pause = await as('operator', 'POST', url(gatedId, 'pause'), {
      reason: 'radiology asked for an hour',
    });
    expect(pause.statusCode).toBe(200);
    expect(pause.json()).toEqual({
      at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      identity: STARTER,
      action: 'pause',
      note: 'radiology asked for an hour',
    });
    await until(gatedId, (s) => s.paused && s.state === 'paused');
    const again = await as('operator', 'POST', url(gatedId, 'pause'), {});
    expect(again.statusCode).toBe(409);
    expect(again.json()).toEqual(refusal('InvalidPhase', 'cannot pause while paused'));
    // An empty JSON body is a control without a reason.
    const resume = await call('POST', url(gatedId, 'resume'), { token: tokens.operator, raw: '' });
    expect(resume.statusCode).toBe(200);
    expect(resume.json()).toEqual({
      at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      identity: STARTER,
      action: 'resume',
      note: '',
    });
    await until(gatedId, (s) => !s.paused && s.state === 'rolling-out');
  });

  it('host actions: 404 for an action that does not exist, 400 for a malformed body', async () => {
    const unknownAction = await as('on-call', 'POST', url(gatedId, 'hosts/b-h1/explode'), { note: 'x' });
    expect(unknownAction.statusCode).toBe(404);
    expect(unknownAction.json()).toEqual(
      refusal('NotFound', 'no host action "explode" (retry, rollback, mark-fixed, skip)'),
    );
    const wrongType = await as('on-call', 'POST', url(gatedId, 'hosts/b-h1/skip'), { note: 5 });
    expect(wrongType.statusCode).toBe(400);
    expect(wrongType.json()).toEqual(
      refusal('InvalidInput', 'note: Invalid input: expected string, received number'),
    );
    const otherHost = await as('on-call', 'POST', url(gatedId, 'hosts/b-h1/skip'), {
      note: 'x',
      hostId: 'b-h2',
    });
    expect(otherHost.statusCode).toBe(400);
    expect(otherHost.json()).toEqual(refusal('InvalidInput', 'body: Unrecognized key: "hostId"'));
  });

  it('host actions: 403 for vendor and auditor, 404 for an unknown campaign, 409 for a host that did not fail', async () => {
    for (const [who, action] of [
      ['vendor', 'retry'],
      ['auditor', 'skip'],
      ['vendor', 'rollback'],
      ['auditor', 'mark-fixed'],
    ] as const) {
      const res = await as(who, 'POST', url(gatedId, `hosts/b-h1/${action}`), { note: 'x' });
      expect(res.statusCode, `${who} ${action}`).toBe(403);
      expect(res.json()).toEqual(refusal('NotPermitted', `role ${who} may not ${action}`));
    }
    const unknown = await as('on-call', 'POST', url(UNKNOWN, 'hosts/b-h1/retry'), { note: 'x' });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toEqual(NO_SUCH_CAMPAIGN);
    const patched = await as('on-call', 'POST', url(gatedId, 'hosts/b-h0/retry'), { note: 'x' });
    expect(patched.statusCode).toBe(409);
    expect(patched.json()).toEqual(refusal('UnknownHost', 'b-h0 is not a failed host of this campaign'));
  });

  it('host actions on a host that needs attention: 409 for a stranger, 400 for what the host cannot take, 200 for a skip', async () => {
    releaseHeldHost();
    await until(
      gatedId,
      (s) =>
        s.state === 'needs-attention' && s.failed.filter((f) => f.state === 'needs-attention').length === 2,
    );
    const stranger = await as('night-operator', 'POST', url(gatedId, 'hosts/b-h1/skip'), { note: 'x' });
    expect(stranger.statusCode).toBe(409);
    expect(stranger.json()).toEqual(
      refusal('NotOnCall', `${NIGHT_OPERATOR} is not on-call or an operator for this campaign`),
    );
    const noNote = await as('on-call', 'POST', url(gatedId, 'hosts/b-h1/mark-fixed'), {});
    expect(noNote.statusCode).toBe(400);
    expect(noNote.json()).toEqual(refusal('InvalidInput', 'mark-fixed needs a note saying what was done'));
    const noImage = await as('on-call', 'POST', url(gatedId, 'hosts/b-h1/rollback'), { note: 'restore it' });
    expect(noImage.statusCode).toBe(400);
    expect(noImage.json()).toEqual(refusal('InvalidInput', 'b-h1 has no saved image to restore'));

    const skip = await as('on-call', 'POST', url(gatedId, 'hosts/b-h1/skip'), {
      note: 'retired from service',
    });
    expect(skip.statusCode).toBe(200);
    expect(skip.json()).toEqual({
      at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      identity: ONCALL,
      action: 'skip',
      hostId: 'b-h1',
      note: 'retired from service',
    });
    const [entry] = await rollout.store.ledger({ campaignId: gatedId, hostId: 'b-h1' });
    expect(entry?.state).toBe('skipped');
  });

  it('abort: 200 with the decision; the campaign ends aborted', async () => {
    const abort = await as('operator', 'POST', url(soakingId, 'abort'), { reason: 'wrong build' });
    expect(abort.statusCode).toBe(200);
    expect(abort.json()).toEqual({
      at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      identity: STARTER,
      action: 'abort',
      note: 'wrong build',
    });
    await until(soakingId, (s) => s.state === 'aborted');
  });

  it('a decision on a campaign that has ended is 409 with its phase, not 404 (GET still shows it)', async () => {
    const shown = await as('operator', 'GET', `/api/campaigns/${soakingId}`);
    expect(shown.statusCode).toBe(200);
    expect((shown.json() as CampaignStatus).state).toBe('aborted');
    const abort = await as('operator', 'POST', url(soakingId, 'abort'), { reason: 'again' });
    expect(abort.json()).toEqual(refusal('InvalidPhase', 'campaign is already aborted'));
    expect(abort.statusCode).toBe(409);
    const approve = await as('vendor', 'POST', url(rejectedId, 'approve'), evidence);
    expect(approve.json()).toEqual(refusal('InvalidPhase', 'campaign is already rejected'));
    expect(approve.statusCode).toBe(409);
  });
});

describe('record routes (api/routes/records.ts)', () => {
  it.each([
    ['GET', '/api/on-call'],
    ['GET', '/api/ledger'],
    ['GET', '/api/audit'],
    ['GET', '/api/audit/verify'],
  ] as const)('%s %s: 401 without a token, with another scheme, and with an unknown token', (method, url) =>
    expectUnauthenticated(method, url),
  );

  it('GET /api/on-call: 403 for vendor and auditor', async () => {
    for (const who of ['vendor', 'auditor'] as const) {
      const res = await as(who, 'GET', '/api/on-call');
      expect(res.statusCode, who).toBe(403);
      expect(res.json()).toEqual(refusal('NotPermitted', `role ${who} may not see on-call-queue`));
    }
  });

  it('GET /api/on-call: 200 with the hosts waiting for on-call in running campaigns', async () => {
    const res = await as('on-call', 'GET', '/api/on-call');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      hosts: [
        {
          campaignId: gatedId,
          campaignName: 'api b',
          patchId: 'secfix',
          hostId: 'b-h2',
          failure: 'preflight: HostKeyMismatch: b-h2 presented another host key',
        },
      ],
    });
  });

  it('GET /api/ledger: 403 for a vendor', async () => {
    const res = await as('vendor', 'GET', '/api/ledger');
    expect(res.statusCode).toBe(403);
    expect(res.json()).toEqual(refusal('NotPermitted', 'role vendor may not see ledger'));
  });

  it('GET /api/ledger: 200 with a row per host and patch; ?missing=true, ?patch= and ?format=csv', async () => {
    const rows = async (query: string) => {
      const res = await as('auditor', 'GET', `/api/ledger${query}`);
      expect(res.statusCode, query).toBe(200);
      return (res.json() as { rows: { hostId: string; state: string; hasPatch: boolean }[] }).rows;
    };
    const all = await rows('');
    const b = Object.fromEntries(all.filter((r) => r.hostId.startsWith('b-')).map((r) => [r.hostId, r]));
    expect(b['b-h0']).toMatchObject({
      hostId: 'b-h0',
      role: 'test-system',
      patchId: 'secfix',
      state: 'patched',
      hasPatch: true,
      campaignId: gatedId,
      toVersion: '1.1.0',
      artifactSha256: EMPTY_SHA256,
    });
    expect(b['b-h1']).toMatchObject({ state: 'skipped', hasPatch: false, campaignId: gatedId });
    expect(b['b-h2']).toMatchObject({ state: 'needs-attention', hasPatch: false, campaignId: gatedId });
    const missing = await rows('?missing=true');
    expect(missing.every((r) => !r.hasPatch)).toBe(true);
    expect(missing.map((r) => r.hostId)).toContain('b-h2');
    expect(missing.map((r) => r.hostId)).not.toContain('b-h0');
    const other = await rows('?patch=no-such-patch');
    expect(other.length).toBe(all.length);
    expect(new Set(other.map((r) => r.state))).toEqual(new Set(['never']));

    const csv = await as('auditor', 'GET', '/api/ledger?format=csv');
    expect(csv.statusCode).toBe(200);
    expect(csv.headers['content-type']).toBe('text/csv; charset=utf-8');
    const lines = csv.body.trim().split('\n');
    expect(lines[0]).toMatch(/^hostId,role,site,patchId,patchVersion,state,hasPatch,campaignId/);
    expect(lines).toHaveLength(all.length + 1);
  });

  it('GET /api/audit: 403 for vendor and on-call', async () => {
    for (const who of ['vendor', 'on-call'] as const) {
      const res = await as(who, 'GET', '/api/audit');
      expect(res.statusCode, who).toBe(403);
      expect(res.json()).toEqual(refusal('NotPermitted', `role ${who} may not see audit`));
    }
  });

  it('GET /api/audit: 200 with the entries newest first; ?campaign= and ?limit= narrow them', async () => {
    const res = await as('auditor', 'GET', `/api/audit?campaign=${gatedId}&limit=3`);
    expect(res.statusCode).toBe(200);
    const { entries } = res.json() as { entries: { seq: number; campaignId?: string; action: string }[] };
    expect(entries).toHaveLength(3);
    expect(entries.every((e) => e.campaignId === gatedId)).toBe(true);
    expect(entries.map((e) => e.seq)).toEqual([...entries.map((e) => e.seq)].sort((x, y) => y - x));
    // The newest on B is on-call's skip.
    expect(entries[0]).toMatchObject({ actor: ONCALL, action: 'skip', outcome: 'accepted', hostId: 'b-h1' });
  });

  it('GET /api/audit: a repeated ?campaign= is 400, not an internal error', async () => {
    const res = await as('auditor', 'GET', `/api/audit?campaign=${gatedId}&campaign=${rejectedId}`);
    expect(res.json()).toMatchObject({ error: { type: 'InvalidInput' } });
    expect(res.statusCode).toBe(400);
  });

  it('GET /api/audit: a ?limit= that is not an integer is 400, not an internal error', async () => {
    const res = await as('auditor', 'GET', '/api/audit?limit=1.5');
    expect(res.json()).toMatchObject({ error: { type: 'InvalidInput' } });
    expect(res.statusCode).toBe(400);
  });

  it('GET /api/audit/verify: 403 for on-call; 200 with a verdict over the whole chain', async () => {
    const refused = await as('on-call', 'GET', '/api/audit/verify');
    expect(refused.statusCode).toBe(403);
    expect(refused.json()).toEqual(refusal('NotPermitted', 'role on-call may not see audit'));
    const res = await as('operator', 'GET', '/api/audit/verify');
    expect(res.statusCode).toBe(200);
    const verdict = res.json() as { ok: boolean; entries: number; head: string };
    expect(Object.keys(verdict).sort()).toEqual(['entries', 'head', 'ok']);
    expect(verdict.ok).toBe(true);
    // The head is the hash of the last entry verified, and the chain holds every entry up to it.
    const head = (await latestAudit(5000)).find((e) => e.hash === verdict.head);
    expect(head?.seq).toBe(verdict.entries);
  });
});

/**
 * The CLI with ROLLOUT_API_URL: every command is a request to this API with the user's token. Its
 * environment points Temporal at a port nothing listens on and its database at a path under a regular
 * file (so opening it fails): a command that reached for either would fail, so each success here went
 * through the API. Exit codes and messages are the ones the CLI gives locally.
 */
describe('the CLI through the rollout API (ROLLOUT_API_URL)', () => {
  let base = '';
  let httpsBase = '';
  let caFile = '';
  let httpsApp: FastifyInstance | undefined;
  let cliDir = '';

  beforeAll(async () => {
    cliDir = mkdtempSync(`${tmpdir()}/rollout-cli-api-`);
    writeFileSync(`${cliDir}/not-a-directory`, '');
    base = await app.listen({ host: '127.0.0.1', port: 0 });
    const tls = issueCertificate(`${cliDir}/ca`, 'api', 'server', ['IP:127.0.0.1']);
    caFile = `${cliDir}/ca/ca.pem`;
    httpsApp = await createApi({ actions, store: rollout.store, tls });
    httpsBase = await httpsApp.listen({ host: '127.0.0.1', port: 0 });
  });

  afterAll(async () => {
    await httpsApp?.close();
    if (cliDir) rmSync(cliDir, { recursive: true, force: true });
  });

  /** `rollout ARGS` as `who`, through `api` (default: the plain-http API on loopback). */
  const cli = (who: Who | string, args: string[], extra: Record<string, string> = {}) =>
    runFile(process.execPath, [`${PROJECT_ROOT}/bin/rollout.js`, ...args], {
      env: childEnvironment({
        ROLLOUT_API_URL: base,
        ROLLOUT_TOKEN: who in tokens ? tokens[who as Who] : who,
        TEMPORAL_ADDRESS: '127.0.0.1:9',
        TEMPORAL_API_KEY: '',
        ROLLOUT_DATABASE_URL: '',
        ROLLOUT_DB_FILE: `${cliDir}/not-a-directory/rollout.sqlite`,
        ROLLOUT_STORE_DIR: `${cliDir}/not-a-directory/store`,
        ROLLOUT_TOKEN_FILE: '',
        ROLLOUT_SIGNING_KEY: '',
        ...extra,
      }),
    }).then(
      (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr.trim() }),
      (e: { code: number; stdout: string; stderr: string }) => ({
        code: e.code,
        stdout: e.stdout,
        stderr: e.stderr.trim(),
      }),
    );

  it('starts, shows, approves and reports a campaign; the audit log has the API as the interface', async () => {
    const file = `${cliDir}/campaign-d.yaml`;
    writeFileSync(file, stringify(fleetFile('d', { duration: '2s', probeInterval: '1s' })));
    const started = await cli('operator', ['start', '-f', file, '--json']);
    expect(started.stderr).toBe('');
    const { campaignId } = JSON.parse(started.stdout) as { campaignId: string };
    await until(campaignId, (s) => s.state === 'awaiting-approval');
    const shown = await cli('vendor', ['status', campaignId, '--json']);
    expect(shown.code).toBe(0);
    const status = JSON.parse(shown.stdout) as CampaignStatus;
    expect(status).toMatchObject({ campaignId, state: 'awaiting-approval' });
    const gate = status.gates.find((g) => g.state === 'open')!;
    const approved = await cli('vendor', [
      'approve',
      campaignId,
      '--stage',
      gate.stage,
      '--checksum',
      status.patch.sha256,
      '--host-set',
      gate.hostSetDigest,
      '--comment',
      'reviewed through the API',
      '--json',
    ]);
    expect(approved.stderr).toBe('');
    expect(JSON.parse(approved.stdout)).toMatchObject({
      decision: 'approved',
      identity: VENDOR,
      hostCount: 2,
    });
    await until(campaignId, (s) => s.state === 'completed');
    const report = await cli('auditor', ['report', campaignId, '--json']);
    expect(report.code).toBe(0);
    expect(JSON.parse(report.stdout)).toMatchObject({ status: { campaignId, state: 'completed' } });
    const hosts = await cli('operator', ['hosts', campaignId, '--json']);
    expect(hosts.code).toBe(0);
    expect(
      JSON.parse(hosts.stdout)
        .map((h: { hostId: string }) => h.hostId)
        .sort(),
    ).toEqual(['d-h0', 'd-h1', 'd-h2']);
    // The host list by state, as CSV for a spreadsheet; a misspelt state is refused by name.
    const patchedCsv = await cli('operator', [
      'hosts',
      campaignId,
      '--state',
      'patched,rolled-back',
      '--format',
      'csv',
    ]);
    expect(patchedCsv.code, patchedCsv.stderr).toBe(0);
    const [header, ...lines] = patchedCsv.stdout.trim().split('\r\n');
    expect(header).toBe('hostId,role,wave,state,step,imageId,failure,updatedAt');
    expect(lines.map((l) => l.split(',').slice(0, 4).join(' ')).sort()).toEqual(
      ['d-h0', 'd-h1', 'd-h2'].map((h) => expect.stringMatching(new RegExp(`^${h} \\S+ \\S.* patched$`))),
    );
    // Line ends stay CRLF through the CLI (its control-character guard once printed them as U+FFFD).
    const ledgerCsv = await cli('auditor', ['ledger', '--format', 'csv']);
    expect(ledgerCsv.stdout).toMatch(/^hostId,[^\r\n]*\r\n/);
    expect(ledgerCsv.stdout).not.toContain('\uFFFD');
    expect(patchedCsv.stdout).not.toContain('\uFFFD');
    const misspelt = await cli('operator', ['hosts', campaignId, '--state', 'rolledback']);
    expect(misspelt.code).toBe(2);
    expect(misspelt.stderr).toMatch(/--state: unknown host state 'rolledback'/);
    const entries = await rollout.store.auditEntries({ campaignId, limit: 10 });
    expect(entries.map((e) => `${e.action} ${e.outcome} ${e.actor} via ${e.via}`).reverse()).toEqual([
      `start accepted ${STARTER} via api`,
      `approve accepted ${VENDOR} via api`,
    ]);
    // The ledger and the audit log through the API as well (an auditor on a workstation).
    const audit = await cli('auditor', ['audit', '--campaign', campaignId, '--json']);
    expect(JSON.parse(audit.stdout)).toEqual(entries);
    expect((await cli('auditor', ['audit', 'verify'])).stdout).toMatch(/^audit chain verified: \d+ entries/);
    const ledger = await cli('auditor', ['ledger', '--patch', status.patch.id, '--json']);
    expect(
      (JSON.parse(ledger.stdout) as Array<{ hostId: string; state: string }>)
        .filter((r) => r.hostId.startsWith('d-'))
        .map((r) => `${r.hostId} ${r.state}`)
        .sort(),
    ).toEqual(['d-h0 patched', 'd-h1 patched', 'd-h2 patched']);
    expect(await cli('vendor', ['ledger'])).toMatchObject({
      code: 3,
      stderr: 'rollout: refused (NotPermitted): role vendor may not see ledger',
    });
  });

  it('answers refusals with the local exit codes: unknown token 3, role 3, unknown campaign 4, bad file 2', async () => {
    expect(await cli('rot_no-such-token', ['pause', gatedId])).toMatchObject({
      code: 3,
      stderr: 'rollout: refused (Unauthenticated): unknown or expired token',
    });
    expect(await cli('auditor', ['pause', gatedId, '--reason', 'x'])).toMatchObject({
      code: 3,
      stderr: 'rollout: refused (NotPermitted): role auditor may not pause',
    });
    expect(await cli('operator', ['status', UNKNOWN])).toMatchObject({
      code: 4,
      stderr: 'rollout: no such campaign',
    });
    const bad = `${cliDir}/bad.yaml`;
    writeFileSync(bad, 'campaign: {}\n');
    const refused = await cli('operator', ['start', '-f', bad]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`rollout: ${bad} is not a valid campaign file:\n`);
    expect(refused.stderr).toContain(
      '\n  - campaign.name: Invalid input: expected string, received undefined',
    );
  });

  it('names an API that does not answer (5), a clear-text URL off loopback (2), and an untrusted certificate (2)', async () => {
    const closed = await cli('operator', ['status', gatedId], { ROLLOUT_API_URL: 'http://127.0.0.1:9' });
    expect(closed).toMatchObject({
      code: 5,
      stderr: 'rollout: cannot reach the rollout API at http://127.0.0.1:9 (ECONNREFUSED)',
    });
    expect(
      await cli('operator', ['status', gatedId], { ROLLOUT_API_URL: 'http://rollout.hospital.example' }),
    ).toMatchObject({
      code: 2,
      stderr: 'rollout: bad settings: ROLLOUT_API_URL: must be https (http only to a loopback address)',
    });
    const untrusted = await cli('operator', ['status', gatedId], { ROLLOUT_API_URL: httpsBase });
    expect(untrusted).toMatchObject({
      code: 2,
      stderr: `rollout: the rollout API at ${httpsBase} has a certificate this machine does not trust (UNABLE_TO_VERIFY_LEAF_SIGNATURE): set ROLLOUT_API_CA_FILE to its CA`,
    });
    const trusted = await cli('operator', ['status', gatedId, '--json'], {
      ROLLOUT_API_URL: httpsBase,
      ROLLOUT_API_CA_FILE: caFile,
    });
    expect(trusted.code).toBe(0);
    expect(JSON.parse(trusted.stdout)).toMatchObject({ campaignId: gatedId });
    // A personal signing key cannot be used through the API (the API signs): said, not ignored.
    expect(
      await cli('vendor', ['status', gatedId], { ROLLOUT_SIGNING_KEY: `${cliDir}/vendor.pem` }),
    ).toMatchObject({
      code: 2,
      stderr:
        'rollout: bad settings: ROLLOUT_SIGNING_KEY: decisions sent through ROLLOUT_API_URL are signed by the API; unset one of them',
    });
  });
});

/**
 * The same campaign file with its artifact given by an https URL (patch.artifact.url) on a real HTTPS
 * server with a test CA: fetched and checked by the API's start check and again by the worker before the
 * test system; wrong bytes and a URL that does not answer are refused before anything starts; a URL the
 * worker does not allow fails the campaign before any host is touched.
 */
describe('artifacts by URL (patch.artifact.url)', () => {
  const byUrl = (prefix: string, url: string, sha256 = EMPTY_SHA256) => {
    const file = fleetFile(prefix, { duration: '1s', probeInterval: '1s' });
    file.patch.artifact = { url, sha256 };
    return file;
  };
  // Checksums no cache holds: a machine that holds the bytes of a checksum does not ask the URL again.
  const uncached = (text: string) => createHash('sha256').update(text).digest('hex');
  const start = (file: ReturnType<typeof byUrl>) => as('operator', 'POST', '/api/campaigns', { file });

  it('runs a campaign whose artifact is an https URL: the API and the worker each fetch and check it', async () => {
    const res = await start(byUrl('u', `${urls.base}/patches/sim.sh`));
    expect(res.statusCode).toBe(201);
    const { campaignId } = res.json() as { campaignId: string };
    const waiting = await until(campaignId, (s) => s.state === 'awaiting-approval');
    const gate = waiting.gates.find((g) => g.state === 'open')!;
    await actions.approve({ identity: VENDOR, role: 'vendor', via: 'api' }, campaignId, {
      stage: gate.stage,
      artifactSha256: EMPTY_SHA256,
      hostSetDigest: gate.hostSetDigest,
    });
    expect((await until(campaignId, (s) => ['completed', 'failed'].includes(s.state))).state).toBe(
      'completed',
    );
    for (const cache of ['api-cache', 'worker-cache'])
      expect(readFileSync(`${dir}/${cache}/${EMPTY_SHA256}`, 'utf8'), cache).toBe('');
  });

  it('refuses with 400, before anything starts, a URL whose bytes do not match and one that does not answer', async () => {
    const wrong = await start(byUrl('w', `${urls.base}/patches/other.sh`, uncached('not other')));
    expect(wrong.statusCode).toBe(400);
    expect(wrong.json()).toMatchObject({
      error: {
        type: 'InvalidInput',
        message: expect.stringContaining(
          `artifact ${urls.base}/patches/other.sh does not match the SHA-256 the campaign file gives`,
        ),
      },
    });
    const closed = await start(byUrl('x', `${closedUrl}/patches/sim.sh`, uncached('never served')));
    expect(closed.statusCode).toBe(400);
    expect(closed.json()).toMatchObject({
      error: {
        type: 'InvalidInput',
        message: expect.stringContaining(
          `artifact ${closedUrl}/patches/sim.sh: cannot fetch it (ECONNREFUSED)`,
        ),
      },
    });
    // Both refusals audited, neither host in the ledger, and the wrong bytes kept nowhere (not under the
    // checksum the file gives, nor as a partial download).
    const [latest, before] = await latestAudit(2);
    expect([before, latest].map((e) => `${e!.action} ${e!.outcome} ${e!.actor}`)).toEqual([
      `start refused ${STARTER}`,
      `start refused ${STARTER}`,
    ]);
    for (const hostId of ['w-h0', 'w-h1', 'x-h0', 'x-h1'])
      expect(await rollout.store.ledger({ hostId }), hostId).toEqual([]);
    expect(existsSync(`${dir}/api-cache/${uncached('not other')}`)).toBe(false);
    expect(readdirSync(`${dir}/api-cache`).filter((f) => f.includes('.part'))).toEqual([]);
  });

  it('fails the campaign before the test system when the worker refuses a URL the API allowed', async () => {
    const res = await start(byUrl('y', `${urls.base}/api-only/sim.sh`));
    expect(res.statusCode).toBe(201);
    const { campaignId } = res.json() as { campaignId: string };
    const ended = await until(campaignId, (s) =>
      ['test-failed', 'failed', 'completed', 'awaiting-approval'].includes(s.state),
    );
    expect(ended.state).toBe('test-failed');
    expect(ended.reason).toContain(
      `artifact ${urls.base}/api-only/sim.sh is not under an artifact URL prefix of this installation (ROLLOUT_ARTIFACT_URLS)`,
    );
    // The test system was never touched.
    expect(ended.hosts['y-h0']).toBe('pending');
  });
});
