/** pino for everything outside workflows; JSON on stderr so `--json` output on stdout stays clean. */
import { pino, type DestinationStream, type Logger } from 'pino';
import { activityContext } from '../activities/support.js';

/** Paths that could carry secrets; pino replaces their values before anything is written. */
export const REDACTED_PATHS = [
  'key',
  'privateKey',
  'passphrase',
  'password',
  'token',
  'apiKey',
  'secret',
  'authorization',
  // The SDK's activity logs carry task tokens: whoever holds one can complete the activity.
  'taskToken',
  '*.key',
  '*.privateKey',
  '*.passphrase',
  '*.password',
  '*.token',
  '*.apiKey',
  '*.secret',
  '*.authorization',
  '*.taskToken',
];

/**
 * Inside an activity every line also says which: workflow ID, run ID, activity type and attempt (from
 * the SDK's activity context at the time of the call), so a host's lines can be followed across retries.
 */
function activityFields(): Record<string, unknown> {
  const info = activityContext()?.info;
  if (!info) return {};
  return {
    workflowId: info.workflowExecution?.workflowId,
    runId: info.workflowExecution?.runId,
    activity: info.activityType,
    attempt: info.attempt,
  };
}

/** `destination` is a file descriptor (default stderr) or a stream (tests). */
export function createLogger(level: string, destination: number | DestinationStream = 2): Logger {
  return pino(
    { level, redact: { paths: REDACTED_PATHS, censor: '[redacted]' }, mixin: activityFields },
    typeof destination === 'number' ? pino.destination(destination) : destination,
  );
}
