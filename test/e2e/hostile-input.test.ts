/**
 * Bad input gets a clear error and changes nothing: every file of the hostile corpus
 * (test/fixtures/hostile/) through `rollout plan` and the API's start, and files too large to be a
 * fleet. Each refusal must name the field; no workflow may start and no ledger row may be written.
 * Real dev server behind the API (so "no workflow started" is counted, not assumed).
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { createApi } from '../../api/server.js';
import { decisionSigner, serviceSigner } from '../../client/signing.js';
import { rolloutActions } from '../../client/actions.js';
import { CampaignFileError, parseCampaignFile } from '../../client/campaign-file.js';
import { planCampaign } from '../../domain/planner.js';
import { PROJECT_ROOT } from '../../runtime/paths.js';
import { validCampaign } from '../fixtures/campaign.js';
import { tempRolloutStore } from '../helpers/store.js';
import { devServerEnv } from '../helpers/temporal.js';
import { startTogether } from '../helpers/start-together.js';

const DIR = `${PROJECT_ROOT}/test/fixtures/hostile`;
const corpus = readdirSync(DIR)
  .filter((f) => f.endsWith('.yaml'))
  .sort()
  .map((name) => {
    const text = readFileSync(`${DIR}/${name}`, 'utf8');
    return { name, text, expect: /^# expect: (\S+)$/m.exec(text)?.[1] ?? '?' };
  });

let env: TestWorkflowEnvironment;
let app: FastifyInstance;
let rollout: Awaited<ReturnType<typeof tempRolloutStore>>;
let operatorToken: string;

beforeAll(async () => {
  [env, rollout] = await startTogether([devServerEnv(), tempRolloutStore()]);
  const actions = rolloutActions({
    client: env.client,
    taskQueue: 'hostile-input',
    campaigns: rollout.store.campaignFiles,
    store: rollout.store,
    signer: decisionSigner(await serviceSigner(rollout.store, `${rollout.file}.service.pem`), 'api'),
  });
  app = await createApi({ actions, store: rollout.store });
  operatorToken = (await rollout.store.addUser('operator@hospital.example', 'operator')).token;
});

afterAll(async () => {
  await app?.close();
  await env?.teardown();
  await rollout?.cleanup();
});

/** The problems `rollout plan` would print for this text (none when it would plan). */
function planProblems(text: string): string[] {
  try {
    planCampaign(parseCampaignFile(text, 'hostile.yaml'));
    return [];
  } catch (err) {
    if (err instanceof CampaignFileError) return err.problems;
    return [(err as Error).message];
  }
}

const start = (file: string) =>
  app.inject({
    method: 'POST',
    url: '/api/campaigns',
    headers: { authorization: `Bearer ${operatorToken}`, 'content-type': 'application/json' },
    payload: JSON.stringify({ file }),
  });

describe('the hostile-input corpus', () => {
  it('holds at least 60 files, each naming the field its refusal must name', () => {
    expect(corpus.length).toBeGreaterThanOrEqual(60);
    expect(corpus.filter((c) => c.expect === '?').map((c) => c.name)).toEqual([]);
  });

  it('is refused by plan, each file naming its field', () => {
    const wrong = corpus
      .map((c) => ({ ...c, problems: planProblems(c.text) }))
      .filter((c) => !c.problems.some((p) => p.startsWith(c.expect)))
      .map(
        (c) => `${c.name}: expected ${c.expect}, got ${c.problems.join(' | ').slice(0, 200) || 'accepted'}`,
      );
    expect(wrong).toEqual([]);
  });

  it('is refused by the API start with 400 naming the field; no workflow started, no ledger row', async () => {
    const before = (await env.client.workflow.count()).count;
    const wrong: string[] = [];
    for (const c of corpus) {
      const res = await start(c.text);
      const message = (res.json() as { error?: { message?: string } }).error?.message ?? '';
      if (res.statusCode !== 400 || !message.includes(c.expect))
        wrong.push(`${c.name}: ${res.statusCode} ${message.slice(0, 160)}`);
    }
    expect(wrong).toEqual([]);
    expect((await env.client.workflow.count()).count).toBe(before);
    expect(await rollout.store.campaigns()).toEqual([]);
    expect(await rollout.store.ledger({})).toEqual([]);
    const refused = (await rollout.store.auditEntries({ limit: 500 })).filter(
      (e) => e.action === 'start' && e.outcome === 'refused',
    );
    expect(refused).toHaveLength(corpus.length);
  });
});

describe('files too large to be a fleet', () => {
  it('refuses a file over 4 MiB and one with more than 20,000 hosts, before any work', async () => {
    const raw = validCampaign(4);
    raw.campaign.name = 'big';
    const padded = `${stringify(raw)}# ${'x'.repeat(4.5 * 1024 * 1024)}\n`;
    expect(planProblems(padded)).toEqual(['(file): larger than 4 MiB']);
    const res = await start(padded);
    expect(res.statusCode).toBe(400);

    const many = validCampaign(20_001);
    expect(planProblems(JSON.stringify(many))).toEqual([
      'fleet.hosts: at most 20000 hosts in one campaign file',
    ]);
    const viaApi = await start(JSON.stringify(many));
    expect(viaApi.statusCode).toBe(400);
    expect(await rollout.store.ledger({})).toEqual([]);
  });

  it('refuses a 50 MB request body outright', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/api/campaigns',
      headers: { authorization: `Bearer ${operatorToken}`, 'content-type': 'application/json' },
      payload: JSON.stringify({ file: 'x'.repeat(50 * 1024 * 1024) }),
    });
    expect(res.statusCode).toBe(413);
  });
});

describe('artifacts the API would have read for an operator', () => {
  it('refuses /dev/zero and /etc/shadow at once, naming the field, without a checksum', async () => {
    const outside = (path: string) =>
      `patch.artifact.path: artifact ${path} is not inside an artifact directory of this worker (ROLLOUT_ARTIFACT_DIRS)`;
    const cases: Array<[string, string]> = [
      ['/dev/zero', outside('/dev/zero')],
      ['/etc/shadow', outside('/etc/shadow')],
      [
        `${PROJECT_ROOT}/examples/artifacts/../../package.json`,
        'request body is not a valid campaign file:\n  - patch.artifact.path: must not contain ".."',
      ],
    ];
    for (const [path, refusal] of cases) {
      const raw = validCampaign(4);
      raw.patch.artifact.path = path;
      const started = Date.now();
      const res = await start(stringify(raw));
      const message = (res.json() as { error: { message: string } }).error.message;
      expect(res.statusCode, path).toBe(400);
      expect(message, path).toBe(refusal);
      expect(message).not.toMatch(/[0-9a-f]{64}(?! \()/);
      expect(Date.now() - started).toBeLessThan(2_000);
    }
  });
});

describe('rollout plan on the command line', () => {
  it('exits 2 and names the field, for a sample of the corpus', async () => {
    const run = promisify(execFile);
    for (const c of corpus.filter((_, i) => i % 23 === 0)) {
      const result = await run('node', [
        `${PROJECT_ROOT}/bin/rollout.js`,
        'plan',
        '-f',
        `${DIR}/${c.name}`,
      ]).then(
        () => ({ code: 0, stderr: '' }),
        (e: { code: number; stderr: string }) => e,
      );
      expect(result.code, c.name).toBe(2);
      expect(result.stderr, c.name).toContain(c.expect);
    }
  });
});
