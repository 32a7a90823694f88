/**
 * Named timeout and retry presets for every activity call; no literals at call sites. Every activity
 * that can run longer than a few seconds heartbeats (activities/host-activities.ts, every 5 s) and has a
 * heartbeat timeout of tens of seconds here: a worker that dies mid-step is noticed within that time and
 * the step is retried on another worker, instead of when its start-to-close timeout runs out.
 */
import type { ActivityOptions, LocalActivityOptions } from '@temporalio/workflow';
import { NON_RETRYABLE_ERROR_TYPES } from '../domain/errors.js';
import type { Patch } from '../domain/schema.js';

const nonRetryableErrorTypes = [...NON_RETRYABLE_ERROR_TYPES];

/** A dead worker is noticed this long after its last heartbeat. */
const HEARTBEAT_TIMEOUT = '20s';

/** Short SSH reads and writes: a few seconds each, a few attempts. */
export const QUICK: ActivityOptions = {
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumAttempts: 4, nonRetryableErrorTypes },
};

/**
 * Short steps whose loss must be noticed within seconds, not at their start-to-close timeout: a step
 * dispatched or finishing while the server restarts is otherwise waited for for the full 2 minutes
 * (a soak probe stalled the soak that long). The step heartbeats (`withHeartbeat`).
 */
export const QUICK_WATCHED: ActivityOptions = { ...QUICK, heartbeatTimeout: HEARTBEAT_TIMEOUT };

/** Steps that may take a while on a big artifact or a slow host: upload, health checks, source checksum. */
export const HEARTBEATING: ActivityOptions = {
  ...QUICK,
  startToCloseTimeout: '15 minutes',
  heartbeatTimeout: HEARTBEAT_TIMEOUT,
};

/**
 * Out-of-band image and power commands on a controller: can take minutes on real disks. Each remote
 * side is idempotent (a restore over a restored disk, a power-on of a host that is on), so a retry on
 * another worker after a heartbeat timeout is safe.
 */
export const CONTROLLER: ActivityOptions = {
  startToCloseTimeout: '15 minutes',
  heartbeatTimeout: HEARTBEAT_TIMEOUT,
  retry: { initialInterval: '5s', backoffCoefficient: 2, maximumAttempts: 3, nonRetryableErrorTypes },
};

/**
 * The install: heartbeats while it waits, so a dead worker is noticed and the retry re-attaches.
 * `installTimeout` itself is enforced on the host (the install is stopped there); the schedule-to-close
 * timeout is only the backstop for when no worker is left to watch, so the host fails within the
 * timeout plus this margin whatever happens.
 */
export function installOptions(patch: Patch): ActivityOptions {
  return {
    startToCloseTimeout: patch.installTimeout + 60_000,
    scheduleToCloseTimeout: patch.installTimeout + 120_000,
    heartbeatTimeout: '30s',
    retry: { initialInterval: '2s', backoffCoefficient: 2, maximumAttempts: 5, nonRetryableErrorTypes },
  };
}

/**
 * Polls for a host coming back: each attempt looks many times for up to 20 s and heartbeats; the boot
 * timeout bounds them all.
 */
export function bootWaitOptions(patch: Patch): ActivityOptions {
  return {
    startToCloseTimeout: '30s',
    heartbeatTimeout: HEARTBEAT_TIMEOUT,
    scheduleToCloseTimeout: patch.bootTimeout,
    retry: { initialInterval: '1s', backoffCoefficient: 1, maximumInterval: '1s', nonRetryableErrorTypes },
  };
}

/** Profiles of the protected paths: hashing a clinical store can take long; heartbeats show it is alive. */
export function integrityOptions(patch: Patch): ActivityOptions {
  return {
    startToCloseTimeout: patch.integrity.timeout + 60_000,
    heartbeatTimeout: HEARTBEAT_TIMEOUT,
    retry: { initialInterval: '5s', backoffCoefficient: 2, maximumAttempts: 3, nonRetryableErrorTypes },
  };
}

/**
 * Preflight with the protected-path profile in one step (`inspectHost`): as long as the profile may
 * take, heartbeating; a plain preflight when the patch protects no paths.
 */
export function inspectOptions(patch: Patch): ActivityOptions {
  return patch.integrity.protectedPaths.length > 0 ? integrityOptions(patch) : QUICK_WATCHED;
}

/** Version, health checks and protected-path comparison in one step (`checkAfterInstall`). */
export function afterInstallOptions(patch: Patch): ActivityOptions {
  const integrity = patch.integrity.protectedPaths.length > 0 ? patch.integrity.timeout + 60_000 : 0;
  return { ...HEARTBEATING, startToCloseTimeout: Math.max(15 * 60_000, integrity) };
}

/**
 * Short steps run inside the workflow task as local activities (loading the host's records, the reboot
 * trigger): no workflow-task round trip of their own. Same retries as QUICK.
 */
export const LOCAL_QUICK: LocalActivityOptions = {
  // As long as QUICK: the trigger may connect (10 s), read the boot ID and wait on `reboot` (30 s each).
  startToCloseTimeout: '2 minutes',
  retry: QUICK.retry,
};

/** Read-model writes (ledger) and notifications: retried for a while, then given up; never a host's failure. */
export const BOOKKEEPING: ActivityOptions = {
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 8 },
};

/** Ledger writes as local activities: retried like BOOKKEEPING, without a round trip each. */
export const LOCAL_BOOKKEEPING: LocalActivityOptions = {
  startToCloseTimeout: '10s',
  retry: BOOKKEEPING.retry,
};
