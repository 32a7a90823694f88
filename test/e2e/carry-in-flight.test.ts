/**
 * A campaign that continues as new in the middle of a wave does not wait for its hosts first: the real
 * dev server is told to suggest continue-as-new after 60 history events, so a 24-host wave runs over
 * several runs; the hosts in flight at each new run are carried into it (waited for by their run ID),
 * none is started twice, and the wave never empties its lanes to let a new run begin. The host steps are
 * the SIMULATED executor (no lab); the workflows, store and server are real.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { afterAll, describe, expect, it } from 'vitest';
import { approveOpenGate, BENCH_OPERATOR, benchCampaign, benchSigners } from '../../bench/fleet-file.js';
import { startSimulatedCampaign } from '../helpers/simulated-campaign.js';
import { campaignResult, campaignStatus, startCampaign } from '../../client/campaigns.js';
import { campaignWorkflowId } from '../../domain/ids.js';
import { TERMINAL_CAMPAIGN_STATES, type CampaignInput } from '../../domain/schema.js';

const TASK_QUEUE = 'e2e-carry-in-flight';
const HOSTS = 24;
const dir = mkdtempSync(`${tmpdir()}/rollout-carry-`);
const cleanups: Array<() => Promise<unknown>> = [];

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('continue-as-new in the middle of a wave', () => {
  it('carries the hosts in flight into the new run: each installed once, the lanes never drained', async () => {
    const installs = new Map<string, number>();
    let installing = 0;
    let mostInstallsAtOnce = 0;
    let carriedLooks = 0;
    const { client, ledger, artifact } = await startSimulatedCampaign({
      dir,
      taskQueue: TASK_QUEUE,
      cleanups,
      stepMs: 150,
      dynamicConfig: { 'limit.historyCount.suggestContinueAsNew': 60 },
      activities: ({ host, campaign }) => ({
        async installPatch(...args: Parameters<typeof host.installPatch>) {
          const [input] = args;
          installs.set(input.host.id, (installs.get(input.host.id) ?? 0) + 1);
          installing += 1;
          mostInstallsAtOnce = Math.max(mostInstallsAtOnce, installing);
          try {
            return await host.installPatch(...args);
          } finally {
            installing -= 1;
          }
        },
        async hostRunsEnded(...args: Parameters<typeof campaign.hostRunsEnded>) {
          carriedLooks += 1;
          return campaign.hostRunsEnded(...args);
        },
      }),
    });
    const store = ledger.campaignFiles;

    const file = benchCampaign(HOSTS, {
      soak: '1s',
      probe: '1s',
      concurrency: 6,
      artifactPath: artifact.path,
    });
    file.campaign.waves = [{ name: 'all', size: '100%' }];
    const signers = await benchSigners(ledger, dir);
    const id = await startCampaign(client, TASK_QUEUE, store, file, BENCH_OPERATOR, {
      artifacts: artifact.policy,
      signing: signers.operator,
    });
    let status = await campaignStatus(client, id);
    for (let i = 0; i < 300 && status.state !== 'awaiting-approval'; i++) {
      await wait(100);
      status = await campaignStatus(client, id);
    }
    expect(status.state).toBe('awaiting-approval');
    await approveOpenGate(client, id, signers.vendor);
    // While the wave runs, every look finds it rolling out, never waiting for its hosts to drain.
    const waiting = new Set<string>();
    let looks = 0;
    while (!TERMINAL_CAMPAIGN_STATES.includes(status.state)) {
      status = await campaignStatus(client, id).catch(() => status);
      if (status.state === 'rolling-out') looks += 1;
      if (status.waitingFor) waiting.add(status.waitingFor);
      await wait(50);
    }
    expect(looks).toBeGreaterThan(20);
    const final = await campaignResult(client, id);
    expect(final.state).toBe('completed');
    expect(final.counts.patched).toBe(HOSTS + 1);
    expect(final.runs).toBeGreaterThan(3);
    expect([...waiting].filter((w) => w.includes('draining'))).toEqual([]);
    // Every host, the test system included, installed exactly once.
    expect(installs.size).toBe(HOSTS + 1);
    expect(
      [...installs.values()].every((n) => n === 1),
      JSON.stringify([...installs]),
    ).toBe(true);
    // Carried hosts hold their lanes: never more than the concurrency at once.
    expect(mostInstallsAtOnce).toBeLessThanOrEqual(6);

    // Some run began with hosts carried in its input, and waited for them by their run IDs.
    let carriedRuns = 0;
    for await (const execution of client.workflow.list({
      query: `WorkflowId = '${campaignWorkflowId(id)}'`,
    })) {
      const history = await client.workflow.getHandle(execution.workflowId, execution.runId).fetchHistory();
      const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
      const payload = started?.input?.payloads?.[0]?.data;
      if (!payload) continue;
      const input = JSON.parse(Buffer.from(payload).toString()) as CampaignInput;
      if (input.carry?.inFlight?.length) {
        carriedRuns += 1;
        expect(input.carry.inFlight.every((h) => typeof h.runId === 'string' && h.runId.length > 0)).toBe(
          true,
        );
      }
    }
    expect(carriedRuns).toBeGreaterThan(0);
    expect(carriedLooks).toBeGreaterThan(0);
  });
});
