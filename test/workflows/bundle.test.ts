/** The sandbox guard: the workflow bundle builds, so no workflow imports Node built-ins or I/O libraries. */
import { describe, expect, it } from 'vitest';
import { bundleWorkflows } from '../helpers/temporal.js';

describe('workflow bundle', () => {
  it('builds without disallowed modules', async () => {
    const bundle = await bundleWorkflows();
    expect(bundle.code).toContain('campaignWorkflow');
    expect(bundle.code).toContain('hostPatchWorkflow');
  });
});
