/**
 * What every activity module shares: typed failures (adapter errors become ApplicationFailures whose
 * `type` comes from domain/errors.ts, which also decides retries) and heartbeats for long steps.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { ERROR_TYPES, RolloutError } from '../domain/errors.js';

/** How often long activities heartbeat; their heartbeat timeout (activity-options.ts) is a few times this. */
export const HEARTBEAT_EVERY_MS = 5_000;

/** The activity context, or undefined when an adapter is called outside an activity (bench, tests). */
export function activityContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}

/** Heartbeats now (for progress callbacks; the SDK throttles). */
export function beat(details?: unknown): void {
  activityContext()?.heartbeat(details);
}

/**
 * Heartbeats on a timer while `fn` runs, so a worker that dies is noticed within the heartbeat timeout
 * (tens of seconds) and the step is retried on another worker, instead of at its start-to-close timeout.
 */
export async function withHeartbeat<T>(fn: () => Promise<T>): Promise<T> {
  const context = activityContext();
  const timer = context ? setInterval(() => context.heartbeat(), HEARTBEAT_EVERY_MS) : undefined;
  try {
    return await fn();
  } finally {
    clearInterval(timer);
  }
}

/** Runs `fn`, turning adapter errors into typed ApplicationFailures the workflow can branch on. */
export async function typed<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof RolloutError)
      throw ApplicationFailure.create({
        type: err.type,
        message: err.message,
        nonRetryable: !ERROR_TYPES[err.type].retryable,
        details: [err.details],
      });
    throw err;
  }
}
