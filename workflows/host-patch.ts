import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  metricMeter,
  TimeoutFailure,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  sleep,
} from '@temporalio/workflow';
import type { CampaignActivities } from '../activities/campaign-activities.js';
import type { HostActivities } from '../activities/host-activities.js';
import type { LedgerActivities } from '../activities/ledger-activities.js';
import type {
  HealthReport,
  HostOutcome,
  HostPatchInput,
  HostRun,
  HostState,
  ImageRecord,
  IntegrityReport,
  LedgerEntry,
  StepFailure,
  StepTiming,
} from '../domain/schema.js';
import {
  afterInstallOptions,
  BOOKKEEPING,
  bootWaitOptions,
  CONTROLLER,
  HEARTBEATING,
  inspectOptions,
  installOptions,
  integrityOptions,
  LOCAL_BOOKKEEPING,
  LOCAL_QUICK,
  QUICK,
} from './activity-options.js';
import { hostProgressQuery } from './contract.js';
import { describeExitCode, installVerdict } from '../domain/install-verdict.js';

type Failure = StepFailure;

/** How a timed-out attempt reads to a person (Temporal's own words are for engineers). */
const TIMEOUT_WORDS: Record<string, string> = {
  START_TO_CLOSE: 'took longer than its time limit',
  SCHEDULE_TO_CLOSE: 'did not finish within its time limit (all attempts)',
  SCHEDULE_TO_START: 'was not picked up by any worker in time',
  HEARTBEAT: 'lost its worker (no heartbeat) and ran out of time to retry',
};

/**
 * Reads the typed failure out of whatever an activity threw; workflows branch on `type`, never
 * `instanceof`. The message is for people: what went wrong in their words, then the last error.
 */
function describeFailure(step: string, err: unknown): Failure {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  // A polling activity whose next retry would pass its deadline fails with its last error, retry state
  // TIMEOUT. A host that kept answering on its old boot never rebooted: that is not a broken host.
  if (err instanceof ActivityFailure && err.retryState === 'TIMEOUT') {
    const last = cause instanceof Error ? `; last attempt: ${cause.message}` : '';
    if (cause instanceof ApplicationFailure && cause.type === 'RebootPending')
      return {
        step,
        type: 'RebootNotObserved',
        message: `the host kept answering on the boot it had before the reboot until the boot timeout: it did not reboot${last}`,
      };
    return { step, type: 'Timeout', message: `${step} did not succeed before its deadline${last}` };
  }
  if (cause instanceof TimeoutFailure) {
    const last = cause.cause instanceof ApplicationFailure ? `; last attempt: ${cause.cause.message}` : '';
    const words = TIMEOUT_WORDS[cause.timeoutType ?? ''] ?? 'timed out';
    return { step, type: 'Timeout', message: `${step} ${words}${last}` };
  }
  if (cause instanceof ApplicationFailure)
    return { step, type: cause.type ?? 'Error', message: cause.message };
  if (cause instanceof Error) return { step, type: cause.name, message: cause.message };
  return { step, type: 'Error', message: String(err) };
}

/**
 * Failures after which nobody can tell what state the host is in: its install's outcome cannot be read,
 * or it never rebooted. Restoring on a guess would take a possibly working host down; a person looks.
 */
const UNSURE: readonly string[] = ['InstallOutcomeUnknown', 'RebootNotObserved'];

class StepFailed extends Error {
  constructor(readonly failure: Failure) {
    super(failure.message);
  }
}

/**
 * Patches one host: preflight (version; prerequisites measured on the host: short of one, the host ends
 * "prerequisite-failed" untouched) → protected-path profile → disk image → upload + checksum → install
 * → reboot → wait for boot → version + health checks (retried while services start) → protected-path
 * comparison. A failure before the install starts changed nothing: the host is not restored or
 * rebooted, its unused image is deleted, and it ends "needs-attention" marked `unchanged`. On a failure
 * once the install has started it restores the image out-of-band, power-cycles and health-checks the
 * host ("rolled-back"); if that fails too, or the campaign's rollback policy is manual, or nobody can
 * tell what state the host is in (UNSURE), the host ends "needs-attention" for on-call. In "rollback" mode it only restores
 * the given image (an on-call action, or the test system after a failed soak). Runs under the
 * deterministic ID `patch-host/<host>`, so a host is in one campaign at a time. Never throws for a host
 * failure: the outcome says what happened. Every state change, and the outcome, is written to the
 * patch ledger (a read model: a ledger that cannot be written never stops the host).
 */
export async function hostPatchWorkflow(run: HostRun): Promise<HostOutcome> {
  // Fewer round trips per host: the host's records, its ledger writes and the reboot trigger as local
  // activities (inside the workflow task), the reads that always run together folded into one step
  // each. Runs recorded before that replay on the steps they had, one activity each.
  const lean = patched('lean-host-steps');
  // Runs recorded before the ledger existed replay without its writes.
  const ledgerOn = lean || patched('ledger-entries');
  const { recordHostState } = lean
    ? proxyLocalActivities<LedgerActivities>(LOCAL_BOOKKEEPING)
    : proxyActivities<LedgerActivities>(BOOKKEEPING);
  let loaded: HostPatchInput | undefined;
  const startedAt = new Date().toISOString();
  const record = async (state: HostState, outcome?: HostOutcome) => {
    if (!ledgerOn || !loaded) return;
    try {
      await recordHostState(ledgerEntry(run, loaded, startedAt, state, outcome));
    } catch {
      // The ledger is a read model; the host's work and its outcome never wait on it.
    }
  };
  const outcome = await hostSteps(
    run,
    lean,
    startedAt,
    (input) => (loaded = input),
    (state) => record(state),
  );
  await record(outcome.state, outcome);
  const stepDuration = metricMeter.createHistogram(
    'rollout_host_step_duration',
    'int',
    'ms',
    'host step durations',
  );
  for (const t of outcome.timings) stepDuration.record(t.durationMs, { step: t.step });
  metricMeter
    .createCounter('rollout_host_outcomes', '', 'host workflow outcomes by state')
    .add(1, { state: outcome.state, mode: run.mode });
  if (outcome.state === 'rolled-back')
    metricMeter.createCounter('rollout_rollbacks', '', 'hosts restored from their image').add(1);
  return outcome;
}

/** The ledger's view of a host now (`outcome` once it finished). */
function ledgerEntry(
  run: HostRun,
  input: HostPatchInput,
  startedAt: string,
  state: HostState,
  outcome?: HostOutcome,
): LedgerEntry {
  const failure = outcome?.rollbackFailure ?? outcome?.failure;
  return {
    hostId: run.hostId,
    hostRole: input.host.role,
    campaignId: run.campaignId,
    patchId: input.patch.id,
    patchVersion: input.patch.version,
    artifactSha256: input.patch.artifact.sha256,
    state,
    ...(outcome?.fromVersion ? { fromVersion: outcome.fromVersion } : {}),
    ...(outcome?.toVersion ? { toVersion: outcome.toVersion } : {}),
    ...(outcome?.image
      ? {
          imageId: outcome.image.imageId,
          imageLocation: outcome.image.location,
          ...(outcome.image.sha256 ? { imageSha256: outcome.image.sha256 } : {}),
        }
      : {}),
    ...(failure ? { failure: `${failure.step}: ${failure.type}: ${failure.message}`.slice(0, 1000) } : {}),
    startedAt,
    updatedAt: new Date().toISOString(),
    ...(outcome ? { finishedAt: outcome.finishedAt } : {}),
  };
}

async function hostSteps(
  run: HostRun,
  lean: boolean,
  startedAt: string,
  onInput: (input: HostPatchInput) => void,
  onState: (state: HostState) => Promise<void>,
): Promise<HostOutcome> {
  const quick = proxyActivities<HostActivities & CampaignActivities>(QUICK);
  const heartbeating = proxyActivities<HostActivities>(HEARTBEATING);
  const controller = proxyActivities<HostActivities>(CONTROLLER);
  const local = proxyLocalActivities<HostActivities & CampaignActivities>(LOCAL_QUICK);
  const load = lean ? local : quick;
  /** The reboot trigger: a short SSH command, local in lean runs (no round trip of its own). */
  const trigger = lean ? local : quick;

  const timings: StepTiming[] = [];
  let state: HostState = 'preflight';
  let step = 'load';
  setHandler(hostProgressQuery, () => ({ campaignId: run.campaignId, hostId: run.hostId, state, step }));

  async function timed<T>(name: string, next: HostState, fn: () => Promise<T>): Promise<T> {
    const changed = next !== state;
    state = next;
    step = name;
    if (changed) await onState(next);
    const began = Date.now();
    try {
      return await fn();
    } catch (err) {
      throw new StepFailed(describeFailure(name, err));
    } finally {
      timings.push({ step: name, startedAt: new Date(began).toISOString(), durationMs: Date.now() - began });
    }
  }

  const finish = (final: HostState, extra: Partial<HostOutcome> = {}): HostOutcome => {
    state = final;
    step = 'done';
    return {
      campaignId: run.campaignId,
      hostId: run.hostId,
      mode: run.mode,
      state: final,
      timings,
      startedAt,
      finishedAt: new Date().toISOString(),
      ...extra,
    };
  };

  let input: HostPatchInput;
  try {
    input = await timed('load', 'preflight', () =>
      load.loadHostInput(run.campaignId, run.fileSha256, run.hostId),
    );
  } catch (err) {
    return finish('needs-attention', { failure: (err as StepFailed).failure });
  }
  onInput(input);
  await onState(state);
  const { installPatch } = proxyActivities<HostActivities>(installOptions(input.patch));
  const { waitForBoot } = proxyActivities<HostActivities>(bootWaitOptions(input.patch));

  /** The wait after a reboot trigger; a grace of 0 costs no timer in lean runs (a timer of 0 still waits for the server). */
  const rebootGrace = async () => {
    if (!lean || input.patch.rebootGrace > 0) await sleep(input.patch.rebootGrace);
  };

  /**
   * Health checks until they pass or `patch.healthRetry.attempts` ran, `interval` apart (durable
   * sleeps). Runs recorded before retries existed replay with a single check.
   */
  async function settledHealth(first?: HealthReport): Promise<HealthReport> {
    const retry = (input.patch as Partial<typeof input.patch>).healthRetry ?? { attempts: 1, interval: 0 };
    let report = first ?? (await heartbeating.checkHealth(input));
    for (
      let attempt = 1;
      attempt < retry.attempts && !report.ok && (lean || patched('health-retry'));
      attempt++
    ) {
      await sleep(retry.interval);
      report = await heartbeating.checkHealth(input);
    }
    return report;
  }

  /** Restore → power-cycle → wait for boot → health. Runs even if the workflow is being cancelled. */
  const restore = (image: ImageRecord, context: Partial<HostOutcome>) =>
    CancellationScope.nonCancellable(async () => {
      try {
        await timed('restore-image', 'rolling-back', () => controller.restoreImage(input, image));
        await timed('power-cycle', 'rolling-back', () => controller.powerCycle(input));
        await timed('wait-for-boot', 'rolling-back', () => waitForBoot(input, ''));
        const after = await timed('health-after-rollback', 'rolling-back', settledHealth);
        if (!after.ok)
          return finish('needs-attention', {
            ...context,
            image,
            health: after,
            rollbackFailure: {
              step: 'health-after-rollback',
              type: 'HealthCheckFailed',
              message: 'unhealthy after restore',
            },
          });
        return finish('rolled-back', { ...context, toVersion: context.fromVersion, image, health: after });
      } catch (rollbackErr) {
        const rollbackFailure = (rollbackErr as StepFailed).failure ?? describeFailure(step, rollbackErr);
        return finish('needs-attention', { ...context, image, rollbackFailure });
      }
    });

  if (run.mode === 'rollback') {
    if (!run.image)
      return finish('needs-attention', {
        failure: { step: 'load', type: 'InvalidInput', message: 'rollback needs the image to restore' },
      });
    return restore(run.image, {});
  }

  const inspect = proxyActivities<HostActivities>(lean ? inspectOptions(input.patch) : QUICK);
  /** Preflight; in lean runs with the protected-path profile taken in the same step when it proceeds. */
  const lookAtHost = async () => {
    if (!lean) return { preflight: await quick.preflight(input), profiled: false };
    const found = await inspect.inspectHost(input);
    return { preflight: found.preflight, profiled: found.profile !== undefined };
  };

  let preflight;
  let profiled = false;
  try {
    ({ preflight, profiled } = await timed('preflight', 'preflight', lookAtHost));
  } catch (err) {
    // Nothing was changed on the host; a person must look (unreachable, wrong key, refused login).
    return finish('needs-attention', { failure: (err as StepFailed).failure, unchanged: true });
  }
  if (preflight.pendingReboot?.length && !preflight.alreadyPatched && !preflight.unmet) {
    // A Windows host with a reboot already pending, and a patch whose policy is reboot-first (a refusing
    // policy made it unmet): restart it, then look again. Nothing of ours was changed on it yet.
    const before = preflight;
    try {
      await timed('reboot-first', 'preflight', async () => {
        await trigger.triggerReboot(input, before.bootId);
        await rebootGrace();
        await waitForBoot(input, before.bootId);
      });
      ({ preflight, profiled } = await timed('preflight', 'preflight', lookAtHost));
    } catch (err) {
      // Restarted (or maybe down): not "not changed"; no image was taken, nothing to restore.
      return finish('needs-attention', { fromVersion: before.version, failure: (err as StepFailed).failure });
    }
    if (preflight.pendingReboot?.length)
      preflight = {
        ...preflight,
        unmet: `a reboot is still pending after a restart (${preflight.pendingReboot.join(', ')})`,
      };
  }
  const fromVersion = preflight.version;
  const { alreadyPatched, ...measured } = preflight;
  if (alreadyPatched) return finish('already-patched', { fromVersion, toVersion: fromVersion });
  const checked = { fromVersion, preflight: measured };
  if (measured.unmet)
    return finish('prerequisite-failed', {
      ...checked,
      failure: { step: 'preflight', type: 'PrerequisiteFailed', message: measured.unmet },
    });
  const bootBeforeInstall = preflight.bootId;

  // Workflows started before protected-path profiles existed replay without them (and their recorded
  // host input has no `integrity`).
  const protectedPaths = (input.patch as Partial<typeof input.patch>).integrity?.protectedPaths ?? [];
  const profiles = protectedPaths.length > 0 && (lean || patched('protected-path-profiles'));
  const integrity = proxyActivities<HostActivities>(profiles ? integrityOptions(input.patch) : QUICK);
  if (profiles && !profiled) {
    try {
      await timed('integrity-before', 'preflight', () => integrity.profileProtectedPaths(input));
    } catch (err) {
      return finish('needs-attention', { ...checked, failure: (err as StepFailed).failure, unchanged: true });
    }
  }

  let image: ImageRecord;
  try {
    image = await timed('image', 'imaging', () => controller.snapshotImage(input));
  } catch (err) {
    return finish('needs-attention', { ...checked, failure: (err as StepFailed).failure, unchanged: true });
  }

  // Runs recorded before "no change, no restore" rolled a host back after a failed upload too.
  const noChangeNoRestore = lean || patched('no-change-no-restore');
  let artifactPath: string;
  try {
    artifactPath = await timed('upload', 'uploading', () => heartbeating.uploadArtifact(input));
  } catch (err) {
    const failure = err instanceof StepFailed ? err.failure : describeFailure(step, err);
    if (!noChangeNoRestore) {
      if (run.onFailure === 'manual') return finish('needs-attention', { ...checked, failure, image });
      return restore(image, { ...checked, failure });
    }
    // Nothing on the host changed but its artifact directory: no restore, no reboot; the image is spare.
    let imageDeleteFailure: Failure | undefined;
    try {
      await timed('delete-image', 'uploading', () => controller.deleteImage(input, image));
    } catch (deleteErr) {
      imageDeleteFailure = (deleteErr as StepFailed).failure;
    }
    return finish('needs-attention', {
      ...checked,
      failure,
      unchanged: true,
      ...(imageDeleteFailure ? { image, rollbackFailure: imageDeleteFailure } : {}),
    });
  }

  /**
   * The installer changed nothing (the host already had the update, or it does not apply): like a host
   * that failed before the install, it is not restored or rebooted, and its image is spare.
   */
  async function unchangedByInstaller(
    verdict: 'already-installed' | 'not-applicable',
    exitCode: number,
    outputTail: string,
  ): Promise<HostOutcome> {
    let imageDeleteFailure: Failure | undefined;
    try {
      await timed('delete-image', 'installing', () => controller.deleteImage(input, image));
    } catch (deleteErr) {
      imageDeleteFailure = (deleteErr as StepFailed).failure;
    }
    const spare = imageDeleteFailure ? { image, rollbackFailure: imageDeleteFailure } : {};
    const said = `the installer exited ${describeExitCode(input.patch, exitCode)}`;
    if (verdict === 'already-installed')
      return finish('already-patched', {
        ...checked,
        toVersion: input.patch.version,
        installOutputTail: outputTail,
        unchanged: true,
        ...spare,
      });
    return finish('prerequisite-failed', {
      ...checked,
      installOutputTail: outputTail,
      unchanged: true,
      failure: {
        step: 'install',
        type: 'PrerequisiteFailed',
        message: `${said}: the update does not apply to this host`,
      },
      ...spare,
    });
  }

  let installOutputTail: string | undefined;
  let health: HealthReport | undefined;
  let protectedReport: IntegrityReport | undefined;
  try {
    const install = await timed('install', 'installing', () => installPatch(input, artifactPath));
    installOutputTail = install.outputTail;
    // POSIX: 0 or failed. Windows installers also say "reboot required", "reboot started", "already
    // installed" and "not applicable" (domain/install-verdict.ts).
    const verdict = installVerdict(input.patch, install.exitCode);
    if (verdict === 'failed')
      throw new StepFailed({
        step: 'install',
        type: 'InstallFailed',
        message: `install exited ${describeExitCode(input.patch, install.exitCode)}`,
      });
    if (verdict === 'already-installed' || verdict === 'not-applicable')
      return await unchangedByInstaller(verdict, install.exitCode, installOutputTail);
    if (input.patch.reboots || verdict === 'reboot-required' || verdict === 'reboot-started') {
      await timed('reboot', 'rebooting', async () => {
        // An installer that began the restart itself is not restarted a second time.
        if (verdict !== 'reboot-started') await trigger.triggerReboot(input, bootBeforeInstall);
        await rebootGrace();
        await waitForBoot(input, bootBeforeInstall);
      });
    }
    // Lean runs read the version, run the health checks and compare the protected paths in one step.
    const after = lean
      ? await timed('verify', 'health-check', () =>
          proxyActivities<HostActivities>(afterInstallOptions(input.patch)).checkAfterInstall(input),
        )
      : undefined;
    const version = after?.version ?? (await timed('verify', 'health-check', () => quick.readVersion(input)));
    if (version !== input.patch.version)
      throw new StepFailed({
        step: 'verify',
        type: 'VerifyFailed',
        message: `host reports version ${version}, expected ${input.patch.version}`,
      });
    health =
      after?.health?.ok === true
        ? after.health
        : await timed('health', 'health-check', () => settledHealth(after?.health));
    if (!health.ok)
      throw new StepFailed({
        step: 'health',
        type: 'HealthCheckFailed',
        message: health.checks
          .filter((c) => !c.ok)
          .map((c) => `${c.name}: ${c.detail}`)
          .join('; '),
      });
    if (profiles) {
      const report =
        after?.integrity ??
        (await timed('integrity-after', 'health-check', () => integrity.compareProtectedPaths(input)));
      protectedReport = report;
      const changed = report.changes.length + report.moreChanges;
      if (changed > 0)
        throw new StepFailed({
          step: 'integrity-after',
          type: 'IntegrityViolation',
          message: `${changed} protected file(s) changed: ${report.changes
            .slice(0, 5)
            .map((c) => `${c.change} ${c.path}`)
            .join(', ')}${changed > 5 ? ', ...' : ''}`,
        });
    }
    return finish('patched', {
      ...checked,
      toVersion: version,
      image,
      installOutputTail,
      health,
      ...(protectedReport ? { integrity: protectedReport } : {}),
    });
  } catch (err) {
    const failure = err instanceof StepFailed ? err.failure : describeFailure(step, err);
    const context = {
      ...checked,
      failure,
      ...(installOutputTail ? { installOutputTail } : {}),
      ...(protectedReport ? { integrity: protectedReport } : {}),
    };
    // Manual policy, or nobody can tell what state the host is in: keep the host as it is for on-call,
    // who may roll it back with one action.
    if (run.onFailure === 'manual' || UNSURE.includes(failure.type))
      return finish('needs-attention', { ...context, image, ...(health ? { health } : {}) });
    return restore(image, context);
  }
}
