/**
 * The API as a hardened edge: refused sign-ins are rate-limited and aggregated in the audit log, every
 * answer carries security headers, over-deep JSON is a 400, plan previews are for operators, a vendor
 * lists only campaigns that name them, approvals must name what was shown, tokens expire and rotate,
 * the store's files are the owner's only. Real dev server and SQLite store behind the API.
 */
import { statSync } from 'node:fs';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import Database from 'better-sqlite3';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { createApi } from '../../api/server.js';
import { rolloutActions } from '../../client/actions.js';
import { decisionSigner, serviceSigner } from '../../client/signing.js';
import { CampaignFile } from '../../domain/schema.js';
import { validCampaign, VENDOR } from '../fixtures/campaign.js';
import { tempRolloutStore } from '../helpers/store.js';
import { devServerEnv } from '../helpers/temporal.js';
import { startTogether } from '../helpers/start-together.js';

let env: TestWorkflowEnvironment;
let rollout: Awaited<ReturnType<typeof tempRolloutStore>>;
let app: FastifyInstance;
let makeApi: () => Promise<FastifyInstance>;
const tokens: Record<string, string> = {};

beforeAll(async () => {
  [env, rollout] = await startTogether([devServerEnv(), tempRolloutStore()]);
  const campaigns = rollout.store.campaignFiles;
  const actions = rolloutActions({
    client: env.client,
    taskQueue: 'api-security',
    campaigns,
    store: rollout.store,
    signer: decisionSigner(await serviceSigner(rollout.store, `${rollout.file}.service.pem`), 'api'),
  });
  makeApi = () => createApi({ actions, store: rollout.store });
  app = await makeApi();
  for (const [name, role] of [
    ['operator@hospital.example', 'operator'],
    ['auditor@hospital.example', 'auditor'],
    [VENDOR, 'vendor'],
    ['other-vendor@vendor.example', 'vendor'],
  ] as const)
    tokens[role === 'vendor' && name !== VENDOR ? 'other-vendor' : role] = (
      await rollout.store.addUser(name, role)
    ).token;
  // Two campaigns the worker admitted: one names the vendor, one does not.
  for (const [id, names] of [
    ['c-names-vendor', true],
    ['c-other', false],
  ] as const) {
    const raw = validCampaign(3);
    if (!names) raw.campaign.people = raw.campaign.people!.filter((p) => p.identity !== VENDOR);
    const file = CampaignFile.parse(raw);
    const sha = await campaigns.put(file);
    await rollout.store.admit(id, `${id}-run`, sha, 'operator@hospital.example');
    await rollout.store.recordCampaign(
      {
        campaignId: id,
        name: id,
        patchId: 'secfix',
        patchVersion: '1.1.0',
        artifactSha256: file.patch.artifact.sha256,
        startedBy: 'operator@hospital.example',
        startedAt: new Date().toISOString(),
        hostCount: 3,
      },
      [],
    );
  }
});

afterAll(async () => {
  await app?.close();
  await env?.teardown();
  await rollout?.cleanup();
});

const call = (method: 'GET' | 'POST', url: string, token?: string, payload?: string) =>
  app.inject({
    method,
    url,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(payload !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(payload !== undefined ? { payload } : {}),
  });

describe('sign-in', () => {
  it('rate-limits a flood of wrong tokens and writes one audit entry, plus one summary, per source and minute', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 300; i++) statuses.push((await call('GET', '/api/me', `rot_wrong-${i}`)).statusCode);
    expect(statuses.slice(0, 10)).toEqual(Array(10).fill(401));
    expect(new Set(statuses.slice(10))).toEqual(new Set([429]));
    const refusals = () =>
      rollout.store
        .auditEntries({ limit: 1000 })
        .then((entries) => entries.filter((e) => e.action === 'sign-in' && e.outcome === 'refused'));
    expect(await refusals()).toHaveLength(1);
    // Users behind the same address still get in with a valid token.
    expect((await call('GET', '/api/me', tokens.operator)).statusCode).toBe(200);
    await app.close();
    const after = await refusals();
    expect(after).toHaveLength(2);
    expect(after[0]?.detail).toMatch(/^Unauthenticated: 299 more refused sign-in\(s\) in the minute from/);
    app = await makeApi();
  });

  it('refuses an expired token, and a rotated one, and accepts the new one', async () => {
    const { token } = await rollout.store.addUser('short-lived@hospital.example', 'auditor');
    expect((await call('GET', '/api/me', token)).statusCode).toBe(200);
    const db = new Database(rollout.file);
    db.prepare('UPDATE users SET expires_at = ? WHERE name = ?').run(
      '2000-01-01T00:00:00.000Z',
      'short-lived@hospital.example',
    );
    db.close();
    expect(await rollout.store.userByToken(token)).toBeUndefined();
    const rotated = await rollout.store.rotateToken('short-lived@hospital.example');
    expect(await rollout.store.userByToken(rotated!.token)).toMatchObject({ role: 'auditor' });
    expect(await rollout.store.userByToken(token)).toBeUndefined();
  });
});

describe('every answer', () => {
  it('carries the security headers', async () => {
    for (const res of [await call('GET', '/'), await call('GET', '/api/me', tokens.operator)]) {
      expect(res.headers['content-security-policy']).toMatch(/default-src 'self'.*frame-ancestors 'none'/);
      expect(res.headers['x-frame-options']).toBe('DENY');
      expect(res.headers['x-content-type-options']).toBe('nosniff');
    }
  });

  it('refuses JSON nested 20,000 levels deep with 400, not a crash', async () => {
    const deep = `${'['.repeat(20_000)}${']'.repeat(20_000)}`;
    const res = await call('POST', '/api/plan', tokens.operator, deep);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({
      error: { type: 'InvalidInput', message: 'JSON nested deeper than 64 levels' },
    });
  });
});

describe('roles', () => {
  it('lets only operators preview a plan', async () => {
    const file = JSON.stringify({ file: stringify(validCampaign(3)) });
    expect((await call('POST', '/api/plan', tokens.auditor, file)).statusCode).toBe(403);
    expect((await call('POST', '/api/plan', tokens.vendor, file)).statusCode).toBe(403);
    expect((await call('POST', '/api/plan', tokens.operator, file)).statusCode).toBe(200);
  });

  it('lists to a vendor only the campaigns that name them', async () => {
    const listed = (token: string) =>
      call('GET', '/api/campaigns', token).then((r) =>
        (r.json() as { campaigns: { campaignId: string }[] }).campaigns.map((c) => c.campaignId).sort(),
      );
    expect(await listed(tokens.operator!)).toEqual(['c-names-vendor', 'c-other']);
    expect(await listed(tokens.vendor!)).toEqual(['c-names-vendor']);
    expect(await listed(tokens['other-vendor']!)).toEqual([]);
  });

  it('refuses an approval that does not name the checksum and host set it was shown', async () => {
    const res = await call(
      'POST',
      '/api/campaigns/c-names-vendor/approve',
      tokens.vendor,
      JSON.stringify({ stage: 'production' }),
    );
    expect(res.statusCode).toBe(400);
    expect((res.json() as { error: { message: string } }).error.message).toMatch(
      /artifactSha256.*hostSetDigest/s,
    );
  });
});

describe('files', () => {
  it('keeps the rollout store for its owner only', () => {
    for (const f of [rollout.file, `${rollout.file}-wal`]) expect(statSync(f).mode & 0o777).toBe(0o600);
  });
});
