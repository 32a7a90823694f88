/** Named timeout and retry presets for every activity call; no literals at call sites. */
import type { ActivityOptions } from '@temporalio/workflow';
import { NON_RETRYABLE_ERROR_TYPES } from '../domain/errors.js';
import type { Patch } from '../domain/schema.js';

const nonRetryableErrorTypes = [...NON_RETRYABLE_ERROR_TYPES];

/** Short SSH reads and writes: a few seconds each, a few attempts. */
export const QUICK: ActivityOptions = {
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumAttempts: 4, nonRetryableErrorTypes },
};

/** Out-of-band image and power commands on a controller: can take minutes on real disks. */
export const CONTROLLER: ActivityOptions = {
  startToCloseTimeout: '15 minutes',
  retry: { initialInterval: '5s', backoffCoefficient: 2, maximumAttempts: 3, nonRetryableErrorTypes },
};

/** The install: heartbeats while it waits, so a dead worker is noticed and the retry re-attaches. */
export function installOptions(patch: Patch): ActivityOptions {
  return {
    startToCloseTimeout: patch.installTimeout + 60_000,
    heartbeatTimeout: '30s',
    retry: { initialInterval: '2s', backoffCoefficient: 2, maximumAttempts: 5, nonRetryableErrorTypes },
  };
}

/** Polls for a host coming back: each attempt is short; the boot timeout bounds them all. */
export function bootWaitOptions(patch: Patch): ActivityOptions {
  return {
    startToCloseTimeout: '30s',
    scheduleToCloseTimeout: patch.bootTimeout,
    retry: { initialInterval: '1s', backoffCoefficient: 1, maximumInterval: '1s', nonRetryableErrorTypes },
  };
}

/** Profiles of the protected paths: hashing a clinical store can take long; heartbeats show it is alive. */
export function integrityOptions(patch: Patch): ActivityOptions {
  return {
    startToCloseTimeout: patch.integrity.timeout + 60_000,
    heartbeatTimeout: '1 minute',
    retry: { initialInterval: '5s', backoffCoefficient: 2, maximumAttempts: 3, nonRetryableErrorTypes },
  };
}

/** Read-model writes (ledger) and notifications: retried for a while, then given up; never a host's failure. */
export const BOOKKEEPING: ActivityOptions = {
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 8 },
};
