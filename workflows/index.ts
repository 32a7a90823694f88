/** The workflow bundle's entry point: every workflow type the worker registers. */
export { campaignWorkflow } from './campaign.js';
export { hostPatchWorkflow } from './host-patch.js';
