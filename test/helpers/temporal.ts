/** Temporal test environments from the installed binaries: never the SDK's download. */
import { bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { loopbackTestServer, requireBinary } from '../../runtime/temporal-binaries.js';
import { WORKFLOWS_PATH } from '../../workers/worker.js';

/** The Java time-skipping server, held to loopback by the bind shim. */
export function timeSkippingEnv(): Promise<TestWorkflowEnvironment> {
  return TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: loopbackTestServer() } },
  });
}

/** The real dev server (the Temporal CLI) on 127.0.0.1, in memory. */
export function devServerEnv(): Promise<TestWorkflowEnvironment> {
  return TestWorkflowEnvironment.createLocal({
    server: { executable: { type: 'existing-path', path: requireBinary('cli') }, ip: '127.0.0.1', ui: false },
  });
}

export function bundleWorkflows(): Promise<WorkflowBundleWithSourceMap> {
  return bundleWorkflowCode({
    workflowsPath: WORKFLOWS_PATH,
    logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} },
  });
}
