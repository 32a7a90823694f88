/**
 * Replays histories recorded on the real dev server (`npm run record:replay`) against the current
 * workflow code: a change that would break campaigns already running fails here, not in a hospital.
 */
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import { bundleWorkflowCode, Worker } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../runtime/paths.js';
import { bundleWorkflows } from '../helpers/temporal.js';

const DIR = `${PROJECT_ROOT}/test/replay`;
const files = readdirSync(DIR)
  .filter((f) => f.endsWith('.json'))
  .sort();

describe('recorded histories replay on the current workflow code', () => {
  it('has histories for the main paths', () => {
    for (const path of [
      'completed',
      'soak-failed',
      'rejected',
      'aborted',
      'host-patched',
      'host-rolled-back',
      'host-steps',
      'host-steps-slow-health',
      'current',
      'host-unchanged',
      'artifact-changed',
      'signed',
      'signed-on-call',
      // Host workflows with fewer round trips (patched 'lean-host-steps'): local ledger writes, folded reads.
      'lean-host-patched',
      'lean-host-rolled-back',
      'lean-host-steps-slow-health',
      'lean-host-unchanged',
      // Continue-as-new mid-wave with host runs carried into the next run (patched 'carry-in-flight').
      'carried-hosts',
    ])
      expect(files.some((f) => f.startsWith(`${path}-run`))).toBe(true);
    expect(files.filter((f) => f.startsWith('completed-run')).length).toBeGreaterThan(1);
  });

  it('replays every recorded run without a determinism error', async () => {
    const workflowBundle = await bundleWorkflows();
    const histories = files.map((f) => ({
      workflowId: f,
      history: historyFromJSON(JSON.parse(readFileSync(`${DIR}/${f}`, 'utf8'))),
    }));
    const results = [];
    for await (const result of Worker.runReplayHistories(
      { workflowBundle, replayName: 'recorded' },
      histories,
    ))
      results.push(result);
    expect(results.map((r) => [r.workflowId, r.error?.message])).toEqual(files.map((f) => [f, undefined]));
  });

  it('replays an on-call decision signed with the old spelling "oncall", as recorded before there was one', async () => {
    // The recorded on-call skip, its signature's role written as older code wrote it. The update
    // handler checks its argument again on replay, so this fails if "oncall" is no longer read.
    const recorded = JSON.parse(readFileSync(`${DIR}/signed-on-call-run1.json`, 'utf8')) as {
      events: Array<{ workflowExecutionUpdateAcceptedEventAttributes?: { acceptedRequest: Request } }>;
    };
    type Request = { input: { name: string; args: { payloads: Array<{ data: string }> } } };
    let rewritten = 0;
    for (const event of recorded.events) {
      const input = event.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest.input;
      if (input?.name !== 'hostAction') continue;
      for (const payload of input.args.payloads) {
        const decision = JSON.parse(Buffer.from(payload.data, 'base64').toString('utf8'));
        expect(decision.signature.role).toBe('on-call');
        decision.signature.role = 'oncall';
        payload.data = Buffer.from(JSON.stringify(decision)).toString('base64');
        rewritten++;
      }
    }
    expect(rewritten).toBe(1);
    const workflowBundle = await bundleWorkflows();
    await Worker.runReplayHistory(
      { workflowBundle, replayName: 'legacy-oncall' },
      historyFromJSON(recorded),
      'signed-on-call-legacy',
    );
  });

  it('is not vacuous: a workflow whose commands changed without patched() fails replay', async () => {
    // A copy of the workflow code whose host workflow starts with a timer it did not have.
    const copy = mkdtempSync(join(tmpdir(), 'rollout-replay-control-'));
    try {
      for (const folder of ['workflows', 'domain', 'activities'])
        cpSync(`${PROJECT_ROOT}/${folder}`, `${copy}/${folder}`, { recursive: true });
      symlinkSync(`${PROJECT_ROOT}/node_modules`, `${copy}/node_modules`);
      const source = `${copy}/workflows/host-patch.ts`;
      const text = readFileSync(source, 'utf8');
      const entry = 'export async function hostPatchWorkflow(run: HostRun): Promise<HostOutcome> {\n';
      expect(text).toContain(entry);
      writeFileSync(source, text.replace(entry, `${entry}  await sleep(1);\n`));
      const workflowBundle = await bundleWorkflowCode({
        workflowsPath: `${copy}/workflows/index.ts`,
        logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} },
      });
      const history = historyFromJSON(JSON.parse(readFileSync(`${DIR}/host-patched-run1.json`, 'utf8')));
      const replay = Worker.runReplayHistory(
        { workflowBundle, replayName: 'changed' },
        history,
        'host-patched-run1',
      );
      await expect(replay).rejects.toThrow(DeterminismViolationError);
      // The timer the copy added, where the history has the first activity.
      await expect(replay).rejects.toThrow(
        /Nondeterminism error: Timer machine does not handle this event: HistoryEvent\(id: 5, ActivityTaskScheduled\)/,
      );
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });
});
