/**
 * Replays histories recorded on the real dev server (`npm run record:replay`) against the current
 * workflow code: a change that would break campaigns already running fails here, not in a hospital.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import { Worker } from '@temporalio/worker';
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
});
