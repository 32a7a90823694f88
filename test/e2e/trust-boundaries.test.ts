/**
 * Someone who can reach Temporal but holds no key cannot patch a host or decide for anyone: a raw start
 * with a forged plan or forged carried state, and raw Updates unsigned, signed by an unknown key,
 * altered, replayed or stale, are refused by the worker, audited, and change nothing. Real dev server;
 * the host steps are the SIMULATED executor (the attack is on the orchestrator, not on a host).
 */
import { createHash, createPrivateKey, generateKeyPairSync, sign as signBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCampaignActivities } from '../../activities/campaign-activities.js';
import { createTrustActivities } from '../../activities/trust-activities.js';
import type { CampaignStore } from '../../adapters/campaign-store.js';
import { keyIdOf, rawPublicKey, signerFromKey } from '../../adapters/signing.js';
import { BENCH_OPERATOR, BENCH_VENDOR, benchCampaign, simulatedArtifact } from '../../bench/fleet-file.js';
import { simulatedHostActivities } from '../../bench/simulated-fleet.js';
import { campaignInput, campaignStatus, startCampaign } from '../../client/campaigns.js';
import { decisionSigner, serviceSigner, type DecisionSigner } from '../../client/signing.js';
import { decisionMessage } from '../../domain/decisions.js';
import { planCampaign, summarizePlan } from '../../domain/planner.js';
import type { CampaignFile, CampaignStatus, DecisionAction, Signature } from '../../domain/schema.js';
import type { campaignWorkflow } from '../../workflows/campaign.js';
import { abortUpdate, campaignStatusQuery, pauseUpdate } from '../../workflows/contract.js';
import { tempRolloutStore } from '../helpers/store.js';
import { bundleWorkflows, devServerEnv } from '../helpers/temporal.js';
import { startTogether } from '../helpers/start-together.js';

const TASK_QUEUE = 'trust-boundaries';
let env: TestWorkflowEnvironment;
let rollout: Awaited<ReturnType<typeof tempRolloutStore>>;
let store: CampaignStore;
let dir: string;
let signer: DecisionSigner;
let worker: Worker;
let running: Promise<void>;
let artifact: ReturnType<typeof simulatedArtifact>;

beforeAll(async () => {
  [env, rollout] = await startTogether([devServerEnv(), tempRolloutStore()]);
  dir = mkdtempSync(`${tmpdir()}/rollout-trust-`);
  store = rollout.store.campaignFiles;
  artifact = simulatedArtifact(dir);
  signer = decisionSigner(await serviceSigner(rollout.store, `${dir}/keys/service.pem`), 'api');
  const host = simulatedHostActivities({ stepMs: 5, brokenBoot: new Set() });
  const logger = pino({ level: 'silent' });
  worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue: TASK_QUEUE,
    workflowBundle: await bundleWorkflows(),
    activities: {
      ...host,
      ...createTrustActivities({ store: rollout.store, campaigns: store, logger }),
      ...createCampaignActivities({
        store,
        logger,
        checkHealth: host.checkHealth,
        ledger: rollout.store,
        artifacts: artifact.policy,
      }),
    },
  });
  running = worker.run();
});

afterAll(async () => {
  worker?.shutdown();
  await running;
  await env?.teardown();
  await rollout?.cleanup();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A file whose soak lasts long enough for the tests to act while it runs. */
function fleetFile(hosts = 3): CampaignFile {
  return benchCampaign(hosts, { soak: '1h', probe: '30m', concurrency: 2, artifactPath: artifact.path });
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

async function hostWorkflows(): Promise<number> {
  return (await env.client.workflow.count(`WorkflowType = 'hostPatchWorkflow'`)).count;
}

async function refusedUpdate(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
    return (err as { cause?: { type?: string } }).cause?.type ?? 'untyped';
  }
  throw new Error('the update was accepted');
}

/** Signs with a key of our own making (not registered), or with any `at`: what an attacker can do. */
function forge(action: DecisionAction, campaignId: string, fields: Record<string, unknown>, at = new Date()) {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const meta = {
    keyId: keyIdOf(rawPublicKey(publicKey)),
    at: at.toISOString(),
    nonce: 'a'.repeat(32),
    role: 'operator' as const,
    via: 'api' as const,
  };
  const value = signBytes(null, Buffer.from(decisionMessage(action, campaignId, fields, meta)), privateKey);
  return { ...meta, value: value.toString('base64') } satisfies Signature;
}

/** Whether the workflow's history holds an accepted update with this ID (a validator refusal leaves none). */
async function updateInHistory(handle: WorkflowHandle, updateId: string): Promise<boolean> {
  const events = (await handle.fetchHistory()).events ?? [];
  return events.some(
    (e) => e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.meta?.updateId === updateId,
  );
}

async function rawStart(id: string, input: Parameters<typeof campaignWorkflow>[0]): Promise<CampaignStatus> {
  const handle = await env.client.workflow.start<typeof campaignWorkflow>('campaignWorkflow', {
    taskQueue: TASK_QUEUE,
    workflowId: id,
    args: [input],
  });
  return handle.result();
}

describe('a start sent straight to Temporal', () => {
  it('with a forged plan (no gates, no test system) and no signature: refused, nothing patched, audited', async () => {
    const file = fleetFile();
    const fileSha256 = await store.put(file);
    const plan = { ...summarizePlan(file, planCampaign(file), sha256), gates: [], testHosts: [] };
    const before = await hostWorkflows();
    const status = await rawStart('forged-plan', {
      campaignId: 'forged-plan',
      startedBy: BENCH_OPERATOR,
      fileSha256,
      plan,
    });
    expect(status.state).toBe('refused');
    expect(status.reason).toMatch(/no signature/);
    expect(await hostWorkflows()).toBe(before);
    expect((await rollout.store.campaigns()).map((c) => c.campaignId)).not.toContain('forged-plan');
    const audit = await rollout.store.auditEntries({ campaignId: 'forged-plan' });
    expect(audit[0]).toMatchObject({ action: 'start', outcome: 'refused', via: 'worker' });
    expect(audit[0]?.detail).toMatch(/^Unsigned/);
  });

  it('with a genuine signature but another plan than its file gives: refused', async () => {
    const file = fleetFile();
    const input = await campaignInput(store, file, 'swapped-plan', BENCH_OPERATOR, {
      signer,
      role: 'operator',
    });
    const plan = { ...summarizePlan(file, planCampaign(file), sha256), gates: [] };
    const status = await rawStart('swapped-plan', { ...input, plan });
    expect(status.state).toBe('refused');
    expect(status.reason).toMatch(/names a plan that is not the one its campaign file gives/);
  });

  it('signed by a key nobody registered, or claiming to continue an admitted run: refused', async () => {
    const file = fleetFile();
    const fileSha256 = await store.put(file);
    const byStranger = await rawStart('stranger-key', {
      campaignId: 'stranger-key',
      startedBy: BENCH_OPERATOR,
      fileSha256,
      signature: forge('start', 'stranger-key', { fileSha256, identity: BENCH_OPERATOR }),
    });
    expect(byStranger.reason).toMatch(/no registered key/);
    // Carried state that says every gate is approved: only a real continue-as-new may carry state.
    const real = await campaignInput(store, file, 'fake-carry', BENCH_OPERATOR, { signer, role: 'operator' });
    const carried = await rawStart('fake-carry', {
      ...real,
      carry: { status: { campaignId: 'fake-carry' } as CampaignStatus, doneInWave: [], phase: 'rollout' },
    });
    expect(carried.state).toBe('refused');
    expect(carried.reason).toMatch(/must continue an earlier run/);
    expect(await hostWorkflows()).toBe(0);
  });

  it('replayed: the signature of a start that ran cannot start the campaign again', async () => {
    const file = fleetFile(2);
    const id = await startCampaign(env.client, TASK_QUEUE, store, file, BENCH_OPERATOR, {
      signing: { signer, role: 'operator' },
      artifacts: artifact.policy,
    });
    const handle = env.client.workflow.getHandle(id);
    for (let i = 0; i < 50 && (await campaignStatus(env.client, id)).state === 'admitting'; i++)
      await new Promise((r) => setTimeout(r, 100));
    await handle.terminate('test: make room for the replay');
    // Its host workflows are abandoned by design (a host is never killed half-way); end them too.
    for await (const wf of env.client.workflow.list({ query: `WorkflowType = 'hostPatchWorkflow'` }))
      await env.client.workflow
        .getHandle(wf.workflowId)
        .terminate('test over')
        .catch(() => undefined);
    const history = await handle.fetchHistory();
    const input = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0]?.data;
    const original = JSON.parse(Buffer.from(input as Uint8Array).toString()) as Parameters<
      typeof campaignWorkflow
    >[0];
    const replayed = await rawStart(id, original);
    expect(replayed.state).toBe('refused');
    expect(replayed.reason).toMatch(/started before, as another run/);
  });
});

describe('decisions sent straight to Temporal', () => {
  let handle: WorkflowHandle<typeof campaignWorkflow>;
  const control = (fields: Record<string, unknown>, signature?: Signature) => ({
    identity: BENCH_OPERATOR,
    reason: 'maintenance',
    ...fields,
    ...(signature ? { signature } : {}),
  });

  beforeAll(async () => {
    const id = await startCampaign(env.client, TASK_QUEUE, store, fleetFile(), BENCH_OPERATOR, {
      signing: { signer, role: 'operator' },
      artifacts: artifact.policy,
    });
    handle = env.client.workflow.getHandle<typeof campaignWorkflow>(id);
    for (let i = 0; i < 100 && (await handle.query(campaignStatusQuery)).state !== 'soaking'; i++)
      await new Promise((r) => setTimeout(r, 100));
    const now = await handle.query(campaignStatusQuery);
    expect(now.state, now.reason).toBe('soaking');
  });

  it('unsigned: refused before it reaches history', async () => {
    const refused = handle.executeUpdate(pauseUpdate, { args: [control({})], updateId: 'unsigned-pause' });
    expect(await refusedUpdate(refused)).toBe('Unsigned');
    expect(await updateInHistory(handle, 'unsigned-pause')).toBe(false);
  });

  it('signed by an unknown key, altered after signing, or signed for another action: refused and audited', async () => {
    // Abort is allowed while soaking, so each refusal below is the signature's, not the campaign's.
    const fields = { identity: BENCH_OPERATOR, reason: 'maintenance' };
    const send = (args: Record<string, unknown>) =>
      handle.executeUpdate(abortUpdate, { args: [control(args)] });
    const unknown = handle.executeUpdate(abortUpdate, {
      args: [control({ signature: forge('abort', handle.workflowId, fields) })],
      updateId: 'forged-abort',
    });
    expect(await refusedUpdate(unknown)).toBe('UnknownSigningKey');
    // Signed updates reach the handler (the worker's refusal is recorded): the history check above sees them.
    expect(await updateInHistory(handle, 'forged-abort')).toBe(true);
    const genuine = signer.sign('abort', handle.workflowId, fields, 'operator');
    expect(await refusedUpdate(send({ reason: 'something else', signature: genuine }))).toBe('BadSignature');
    const forPause = signer.sign('pause', handle.workflowId, fields, 'operator');
    expect(await refusedUpdate(send({ signature: forPause }))).toBe('BadSignature');
    const audit = await rollout.store.auditEntries({ campaignId: handle.workflowId });
    expect(
      audit.filter((e) => e.via === 'worker' && e.outcome === 'refused').map((e) => e.detail.split(':')[0]),
    ).toEqual(['BadSignature', 'BadSignature', 'UnknownSigningKey']);
    const status = await handle.query(campaignStatusQuery);
    expect(status.aborting).toBe(false);
    expect(status.forgedDecisions).toBe(3);
  });

  it('a genuine, signed decision is acted on and kept as evidence', async () => {
    const fields = { identity: BENCH_OPERATOR, reason: 'maintenance' };
    const abort = signer.sign('abort', handle.workflowId, fields, 'operator');
    await handle.executeUpdate(abortUpdate, { args: [control({}, abort)] });
    expect((await handle.result()).state).toBe('aborted');
    const decisions = await rollout.store.decisions(handle.workflowId);
    expect(decisions.map((d) => `${d.action}:${d.identity}:${d.keyKind}`)).toEqual([
      `start:${BENCH_OPERATOR}:service`,
      `abort:${BENCH_OPERATOR}:service`,
    ]);
    expect(decisions.every((d) => d.payload.startsWith('pacs-rollout decision v1\n'))).toBe(true);
  });
});

describe('a flood of forged decisions', () => {
  it('is refused before history once 20 failed verification', async () => {
    const id = await startCampaign(env.client, TASK_QUEUE, store, fleetFile(), BENCH_OPERATOR, {
      signing: { signer, role: 'operator' },
      artifacts: artifact.policy,
    });
    const handle = env.client.workflow.getHandle<typeof campaignWorkflow>(id);
    for (let i = 0; i < 100 && (await handle.query(campaignStatusQuery)).state !== 'soaking'; i++)
      await new Promise((r) => setTimeout(r, 100));
    const fields = { identity: BENCH_OPERATOR, reason: 'flood' };
    const send = () =>
      handle.executeUpdate(abortUpdate, { args: [{ ...fields, signature: forge('abort', id, fields) }] });
    for (let i = 0; i < 20; i++) expect(await refusedUpdate(send())).toBe('UnknownSigningKey');
    const capped = handle.executeUpdate(abortUpdate, {
      args: [{ ...fields, signature: forge('abort', id, fields) }],
      updateId: 'over-the-cap',
    });
    expect(await refusedUpdate(capped)).toBe('TooManyForgedDecisions');
    expect(await updateInHistory(handle, 'over-the-cap')).toBe(false);
    await handle.terminate('test over');
    for await (const wf of env.client.workflow.list({ query: `WorkflowType = 'hostPatchWorkflow'` }))
      await env.client.workflow
        .getHandle(wf.workflowId)
        .terminate('test over')
        .catch(() => undefined);
  });
});

describe("the worker's verification itself", () => {
  const trust = () =>
    createTrustActivities({ store: rollout.store, campaigns: store, logger: pino({ level: 'silent' }) });
  const fields = { identity: BENCH_VENDOR, stage: 'production', comment: '' };

  /** Signs with the real service key but a chosen time: a signature from the past. */
  function signedAt(at: Date): Signature {
    const key = createPrivateKey(readFileSync(`${dir}/keys/service.pem`));
    const meta = {
      keyId: signer.keyId,
      at: at.toISOString(),
      nonce: 'b'.repeat(32),
      role: 'vendor' as const,
      via: 'api' as const,
    };
    const value = signBytes(null, Buffer.from(decisionMessage('approve', 'c-verify', fields, meta)), key);
    return { ...meta, value: value.toString('base64') };
  }

  async function refusal(promise: Promise<unknown>): Promise<string> {
    try {
      await promise;
    } catch (err) {
      return (err as { type?: string }).type ?? 'untyped';
    }
    throw new Error('verified');
  }

  it("accepts a person's own key for that person, in that person's role, and no one else", async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const raw = rawPublicKey(publicKey);
    const engineer = 'engineer@vendor.example';
    await rollout.store.addUser(engineer, 'vendor');
    await rollout.store.registerKey({
      keyId: keyIdOf(raw),
      owner: engineer,
      kind: 'personal',
      publicKey: raw.toString('base64'),
    });
    const own = signerFromKey(privateKey);
    const mine = { identity: engineer, stage: 'production', comment: '' };
    const sign = (f: Record<string, unknown>, role: 'vendor' | 'operator') =>
      own.sign('approve', 'c-personal', f, { role, via: 'cli' });
    await trust().verifyDecision({
      campaignId: 'c-personal',
      useId: 'p1',
      action: 'approve',
      fields: mine,
      signature: sign(mine, 'vendor'),
    });
    const theirs = { ...mine, identity: BENCH_VENDOR };
    expect(
      await refusal(
        trust().verifyDecision({
          campaignId: 'c-personal',
          useId: 'p2',
          action: 'approve',
          fields: theirs,
          signature: sign(theirs, 'vendor'),
        }),
      ),
    ).toBe('IdentityMismatch');
    expect(
      await refusal(
        trust().verifyDecision({
          campaignId: 'c-personal',
          useId: 'p3',
          action: 'approve',
          fields: mine,
          signature: sign(mine, 'operator'),
        }),
      ),
    ).toBe('IdentityMismatch');
    expect((await rollout.store.decisions('c-personal')).map((d) => `${d.identity}:${d.keyKind}`)).toEqual([
      `${engineer}:personal`,
    ]);
  });

  it('refuses a replayed signature, a stale one, a wrong role and a revoked key', async () => {
    const signature = signer.sign('approve', 'c-verify', fields, 'vendor');
    const request = { campaignId: 'c-verify', action: 'approve' as const, fields, signature };
    await trust().verifyDecision({ ...request, useId: 'run-1/update-1' });
    // The same update verified again (a retried activity) is fine; another update with it is a replay.
    await trust().verifyDecision({ ...request, useId: 'run-1/update-1' });
    expect(await refusal(trust().verifyDecision({ ...request, useId: 'run-1/update-2' }))).toBe(
      'ReplayedDecision',
    );
    expect(
      await refusal(
        trust().verifyDecision({
          ...request,
          useId: 'u3',
          signature: signedAt(new Date(Date.now() - 10 * 60_000)),
        }),
      ),
    ).toBe('StaleDecision');
    const asAuditor = signer.sign('approve', 'c-verify', fields, 'auditor');
    expect(await refusal(trust().verifyDecision({ ...request, useId: 'u4', signature: asAuditor }))).toBe(
      'NotPermitted',
    );
    // Last in the file: the service key stays revoked.
    await rollout.store.revokeKey(signer.keyId);
    const later = signer.sign('approve', 'c-verify', fields, 'vendor');
    expect(await refusal(trust().verifyDecision({ ...request, useId: 'u5', signature: later }))).toBe(
      'RevokedSigningKey',
    );
  });
});
