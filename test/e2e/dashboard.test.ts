/**
 * End to end through the browser: Debian's Chromium (driven by playwright-core) against the API and its
 * dashboard, a real Temporal dev server, a worker and a lab of real OpenSSH hosts, the rollout store on
 * SQLite. An operator starts a campaign from the page, an auditor is refused an approval, the vendor
 * approves from the evidence page, on-call rolls back the NAS the patch broke (manual rollback policy),
 * and the auditor reads a verified audit log and the ledger. Screenshots go to test-artifacts/screenshots.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type { FastifyInstance } from 'fastify';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { createApi } from '../../api/server.js';
import { decisionSigner, serviceSigner } from '../../client/signing.js';
import { rolloutActions, type RolloutActions } from '../../client/actions.js';
import { TASK_QUEUE } from '../../domain/ids.js';
import type { CampaignStatus } from '../../domain/schema.js';
import {
  DEMO_AUDITOR,
  DEMO_ONCALL,
  DEMO_OPERATOR,
  DEMO_VENDOR,
  labCampaign,
} from '../../lab/lab-campaign.js';
import { PROJECT_ROOT } from '../../runtime/paths.js';
import { createLogger } from '../../workers/logger.js';
import { composeActivities } from '../../workers/worker.js';
import { startTestLab, type TestLab } from '../helpers/lab.js';
import { tempRolloutStore } from '../helpers/store.js';
import { bundleWorkflows, devServerEnv } from '../helpers/temporal.js';
import { embeddedSettings } from '../../runtime/config.js';
import { startTogether } from '../helpers/start-together.js';

const SHOTS = `${PROJECT_ROOT}/test-artifacts/screenshots`;
let env: TestWorkflowEnvironment;
let lab: TestLab;
let rollout: Awaited<ReturnType<typeof tempRolloutStore>>;
let storeDir: string;
let worker: Worker;
let workerRun: Promise<void>;
let api: FastifyInstance;
let actions: RolloutActions;
let browser: Browser;
let base: string;
const tokens: Record<string, string> = {};

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  [env, lab, rollout] = await startTogether([
    devServerEnv(),
    startTestLab('127.0.47', 4),
    tempRolloutStore(),
  ]);
  storeDir = mkdtempSync(`${tmpdir()}/rollout-dashboard-store-`);
  const campaigns = rollout.store.campaignFiles;
  worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue: TASK_QUEUE,
    workflowBundle: await bundleWorkflows(),
    activities: composeActivities({
      settings: embeddedSettings({ keyDir: lab.inventory.keyDir }),
      ledger: rollout.store,
      logger: createLogger('error'),
    }),
  });
  workerRun = worker.run();
  actions = rolloutActions({
    client: env.client,
    taskQueue: TASK_QUEUE,
    campaigns,
    store: rollout.store,
    signer: decisionSigner(await serviceSigner(rollout.store, `${storeDir}/keys/service.pem`), 'api'),
  });
  for (const [name, role] of [
    [DEMO_OPERATOR, 'operator'],
    [DEMO_VENDOR, 'vendor'],
    [DEMO_ONCALL, 'on-call'],
    [DEMO_AUDITOR, 'auditor'],
  ] as const)
    tokens[role] = (await rollout.store.addUser(name, role)).token;
  api = await createApi({ actions, store: rollout.store });
  await api.listen({ host: '127.0.0.1', port: 0 });
  const address = api.server.address();
  base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await api?.close();
  worker?.shutdown();
  await workerRun?.catch(() => undefined);
  await env?.teardown();
  await lab?.stop();
  await rollout?.cleanup();
  if (storeDir) rmSync(storeDir, { recursive: true, force: true });
});

async function signIn(role: string): Promise<Page> {
  const page = await browser.newPage();
  await page.goto(`${base}/#/login`);
  await page.getByTestId('token').fill(tokens[role]!);
  await page.getByTestId('sign-in').click();
  await page.getByTestId('whoami').waitFor();
  return page;
}

const shot = (page: Page, name: string) => page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });

async function until(campaignId: string, done: (s: CampaignStatus) => boolean, ms = 100_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const status = await actions.status(campaignId);
    if (done(status)) return status;
    if (Date.now() > deadline)
      throw new Error(
        `campaign stayed ${status.state} (${status.reason ?? ''}; failed ${JSON.stringify(status.failed)})`,
      );
    await new Promise((r) => setTimeout(r, 500));
  }
}

const apiAs = (role: string, path: string, body?: unknown) =>
  fetch(`${base}${path}`, {
    method: body ? 'POST' : 'GET',
    headers: {
      authorization: `Bearer ${tokens[role]}`,
      ...(body ? { 'content-type': 'application/json' } : {}),
    },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });

describe('dashboard: each role does its job in the browser', () => {
  let campaignId = '';

  it('refuses requests without a valid token and serves the OpenAPI document', async () => {
    expect((await fetch(`${base}/api/campaigns`)).status).toBe(401);
    const bad = await fetch(`${base}/api/campaigns`, { headers: { authorization: 'Bearer rot_nope' } });
    expect(bad.status).toBe(401);
    expect(await bad.json()).toEqual({
      error: { type: 'Unauthenticated', message: 'unknown or expired token' },
    });
    const spec = (await (await fetch(`${base}/api/openapi.json`)).json()) as {
      openapi: string;
      paths: object;
    };
    expect(spec.openapi).toBe('3.1.0');
    expect(Object.keys(spec.paths)).toContain('/api/campaigns/{id}/approve');
    const invalid = await apiAs('operator', '/api/campaigns', { file: 'campaign: {}' });
    expect(invalid.status).toBe(400);
    expect(((await invalid.json()) as { error: { message: string } }).error.message).toMatch(
      /not a valid campaign file/,
    );
  });

  it('an operator previews the plan and starts the campaign from the page', async () => {
    const raw = labCampaign(lab.inventory, {
      soak: '8s',
      probeInterval: '2s',
      rebootGrace: '1s',
      bootTimeout: '10s',
      concurrency: 3,
    });
    // Manual rollback: the NAS the patch breaks waits for on-call instead of being restored at once.
    raw.campaign.rollback = { onHostFailure: 'manual', testSystemOnSoakFailure: true };
    const page = await signIn('operator');
    await page.getByTestId('campaign-file').fill(stringify(raw));
    await page.getByTestId('plan').click();
    await expect.poll(() => page.getByTestId('plan-result').textContent()).toMatch(/test systems: /);
    await page.getByTestId('start').click();
    await page.getByTestId('timeline').waitFor();
    campaignId = decodeURIComponent(page.url().split('#/campaign/')[1] ?? '');
    expect(campaignId).toMatch(/^campaign-pacs-secfix/);
    await expect
      .poll(() => page.getByTestId('host-grid').textContent(), { timeout: 20_000 })
      .toMatch(/test-01/);
    await shot(page, '1-operator-campaign');
    await page.close();
  });

  it('the vendor approves from the evidence page; an auditor is refused, and the refusal is audited', async () => {
    const status = await until(campaignId, (s) => s.state === 'awaiting-approval');
    const auditor = await signIn('auditor');
    expect(await auditor.getByTestId('campaign-file').count()).toBe(0);
    expect(await auditor.locator('nav').textContent()).not.toMatch(/On-call/);
    // A complete approval, so that what is refused is the role, not the request.
    const refused = await apiAs('auditor', `/api/campaigns/${campaignId}/approve`, {
      stage: 'production',
      artifactSha256: status.patch.sha256,
      hostSetDigest: status.gates[0]!.hostSetDigest,
    });
    expect(refused.status).toBe(403);
    await auditor.close();
    const vendorLedger = await apiAs('vendor', '/api/ledger');
    expect(vendorLedger.status).toBe(403);

    const page = await signIn('vendor');
    expect(await page.locator('nav').textContent()).not.toMatch(/Ledger|Audit|On-call/);
    await page.getByTestId('review-link').first().click();
    await expect.poll(() => page.getByTestId('checksum').textContent()).toBe(status.patch.sha256);
    // The lab's four hosts: test-01 is the test system, the gate releases the other three.
    expect(await page.getByTestId('host-set').textContent()).toContain(
      `Stage production releases 3 hosts; host-set digest ${status.gates[0]!.hostSetDigest}`,
    );
    // One bar per probe of the soak evidence, each with its result.
    expect(await page.locator('[data-testid=soak-chart] rect').count()).toBe(status.soak.probes.length);
    expect(await page.locator('[data-testid=soak-chart] rect[data-result=ok]').count()).toBe(
      status.soak.probes.filter((p) => p.result === 'ok').length,
    );
    expect(await page.getByTestId('soak-verdict').textContent()).toMatch(/verdict: pass/);
    await page.getByTestId('comment').fill('Soak evidence reviewed in the browser.');
    await page.getByTestId('approve').click();
    await expect
      .poll(() => page.getByTestId('decision').textContent())
      .toMatch(/approved stage production as/);
    await shot(page, '2-vendor-approval');
    await page.close();
  });

  it('on-call sees the broken NAS in the queue and rolls it back', async () => {
    const nas = lab.inventory.hosts.find((h) => h.role === 'nas')!;
    await until(campaignId, (s) =>
      s.failed.some((f) => f.hostId === nas.id && f.state === 'needs-attention'),
    );
    const page = await signIn('on-call');
    await page.goto(`${base}/#/on-call`);
    const row = page.getByTestId(`attention-${nas.id}`);
    await row.waitFor();
    // The NAS never came back from its reboot: the reboot step timed out (what failed: step: type: message).
    expect(await row.textContent()).toContain('reboot: Timeout: reboot ');
    await page.getByTestId(`note-${nas.id}`).fill('NAS did not boot after the patch; restoring its image');
    await shot(page, '3-oncall-queue');
    await page.getByTestId(`rollback-${nas.id}`).click();
    await expect
      .poll(() => page.getByTestId('action-result').textContent())
      .toMatch(`rollback ${nas.id} recorded`);
    await page.close();
    const rolledBack = await until(campaignId, (s) =>
      s.failed.some((f) => f.hostId === nas.id && f.state === 'rolled-back'),
    );
    expect(rolledBack.decisions.some((d) => d.action === 'rollback' && d.identity === DEMO_ONCALL)).toBe(
      true,
    );
  });

  it('the auditor reads a verified audit log and the ledger of who lacks the patch', async () => {
    const page = await signIn('auditor');
    await page.goto(`${base}/#/audit`);
    await expect.poll(() => page.getByTestId('audit-verdict').textContent()).toMatch(/chain verified/);
    const audit = (await page.getByTestId('audit').textContent()) ?? '';
    expect(audit).toMatch(/approve/);
    expect(audit).toMatch(/NotPermitted: role auditor may not approve/);
    expect(audit).toMatch(/rollback/);
    await shot(page, '4-auditor-audit');
    await page.goto(`${base}/#/ledger?patch=&missing=true`);
    const nas = lab.inventory.hosts.find((h) => h.role === 'nas')!;
    await page.getByTestId(`ledger-${nas.id}`).waitFor();
    // The rollback finished before the previous test saw it in the campaign: the ledger has its outcome.
    expect(await page.getByTestId(`ledger-${nas.id}`).locator('td').nth(3).textContent()).toBe('rolled-back');
    await shot(page, '5-auditor-ledger');
    await page.close();
  });
});
