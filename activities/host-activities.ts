/**
 * Thin Temporal activities over the adapters. Every error leaves as an ApplicationFailure whose `type`
 * comes from domain/errors.ts, which also decides whether it is retried.
 */
import type { Logger } from 'pino';
import { RolloutError } from '../domain/errors.js';
import { bootIdCommandOf } from '../domain/platform.js';
import type {
  HealthReport,
  HostPatchInput,
  ImageRecord,
  IntegrityReport,
  Patch,
  PreflightReport,
} from '../domain/schema.js';
import type { ControllerClient, OutOfBand } from '../adapters/controller.js';
import { runHealthChecks } from '../adapters/health.js';
import {
  compareAfterInstall,
  readPreflight,
  watchBoot,
  profileBeforeInstall,
  readVersion,
  runInstall,
  triggerReboot,
  uploadArtifact,
  type IntegrityProfile,
} from '../adapters/host-ops.js';
import { verifySourceArtifact, type ArtifactPolicy } from '../adapters/artifacts.js';
import { sshTarget, type SshSession, type SshTarget } from '../adapters/ssh.js';
import type { SshConnector } from '../adapters/ssh-pool.js';
import { activityContext, beat, typed, withHeartbeat } from './support.js';

export interface ActivityDeps {
  /** How host sessions are had: the worker's pool (adapters/ssh-pool.ts), or one per use. */
  ssh: SshConnector;
  controllers: ControllerClient;
  logger: Logger;
  /** Where artifacts may be read from (the worker's artifact directories and limits). */
  artifacts: ArtifactPolicy;
}

export interface PreflightResult extends PreflightReport {
  alreadyPatched: boolean;
}

/** What one look at a host before anything changes finds: preflight, and the protected-path profile. */
export interface Inspection {
  preflight: PreflightResult;
  /**
   * Taken only when the host will go on to be patched (not patched already, nothing unmet or pending);
   * missing also when taking it failed (the workflow then takes it as a step of its own).
   */
  profile?: IntegrityProfile;
}

/** What one look at a host after its install (and reboot) finds. */
export interface AfterInstall {
  version: string;
  /** Checked only when the version is right. */
  health?: HealthReport;
  /** Compared only when the version is right and the health checks passed (and it did not fail). */
  integrity?: IntegrityReport;
}

/** Whether a preflight lets the host go on to its image and install without another look. */
export function preflightProceeds(preflight: PreflightResult): boolean {
  return !preflight.alreadyPatched && !preflight.unmet && !preflight.pendingReboot?.length;
}

/** The reads the folded steps are made of (the real ones, or a benchmark's simulated ones). */
export interface ReadSteps {
  preflight(input: HostPatchInput): Promise<PreflightResult>;
  profileProtectedPaths(input: HostPatchInput): Promise<IntegrityProfile>;
  readVersion(input: HostPatchInput): Promise<string>;
  checkHealth(input: HostPatchInput): Promise<HealthReport>;
  compareProtectedPaths(input: HostPatchInput): Promise<IntegrityReport>;
}

/**
 * Reads that always run together, as one step each (one activity, one workflow-task round trip):
 * `inspectHost` is preflight, then the protected-path profile when the host will go on to be patched;
 * `checkAfterInstall` is the version, the health checks, then the protected-path comparison when the
 * version is right and the checks passed. Nothing here decides a host's fate: the workflow does, from
 * what they return.
 */
export function foldedReads(steps: ReadSteps) {
  const protects = (input: HostPatchInput) => input.patch.integrity.protectedPaths.length > 0;
  return {
    async inspectHost(input: HostPatchInput): Promise<Inspection> {
      const preflight = await steps.preflight(input);
      if (!preflightProceeds(preflight) || !protects(input)) return { preflight };
      // A profile that fails here is taken again as its own step, which retries it and names it.
      const profile = await steps.profileProtectedPaths(input).catch(() => undefined);
      return profile ? { preflight, profile } : { preflight };
    },
    async checkAfterInstall(input: HostPatchInput): Promise<AfterInstall> {
      const version = await steps.readVersion(input);
      // A wrong version fails the host at once: no health checks to wait for first.
      if (version !== input.patch.version) return { version };
      const health = await steps.checkHealth(input);
      if (!health.ok || !protects(input)) return { version, health };
      // A comparison that fails here is made again as its own step (integrity-after).
      const integrity = await steps.compareProtectedPaths(input).catch(() => undefined);
      return integrity ? { version, health, integrity } : { version, health };
    },
  };
}

export interface InstallOutcome {
  exitCode: number;
  outputTail: string;
  reattached: boolean;
}

function hostTarget(input: HostPatchInput): SshTarget {
  return sshTarget(input.host.id, input.host, input.jumpHosts);
}

/** The host as its image provider or power controller knows it. */
function outOfBand(input: HostPatchInput, via: 'imageProvider' | 'powerController'): OutOfBand {
  return {
    controller: input[via],
    machine: input.host.machine ?? input.host.id,
    vmPath: input.host.vmPath,
    jumpHosts: input.jumpHosts,
  };
}

/** The key of one (campaign, patch) run on a host: names its install marker and integrity profiles. */
function runKeyOf(input: HostPatchInput): string {
  return `${input.campaignId}-${input.patch.id}-${input.patch.version}`.replace(/[^A-Za-z0-9._-]/g, '_');
}

/** The host workflow run this activity belongs to: the owner of the install it starts. */
function workflowRunOf(input: HostPatchInput): string {
  return activityContext()?.info.workflowExecution?.runId ?? `${input.campaignId}-local`;
}

/**
 * Until when one wait-for-boot attempt keeps looking: 10 s before its own time limit and before the
 * boot timeout (so the failure at the timeout is this attempt's own, saying "down" or "old boot").
 */
function bootWatchUntil(
  info:
    | { startToCloseTimeoutMs: number; scheduledTimestampMs: number; scheduleToCloseTimeoutMs: number }
    | undefined,
): number {
  const now = Date.now();
  if (!info) return now + 20_000;
  const margin = 10_000;
  const attemptEnd = now + info.startToCloseTimeoutMs - margin;
  const allEnd =
    info.scheduleToCloseTimeoutMs > 0
      ? info.scheduledTimestampMs + info.scheduleToCloseTimeoutMs - margin
      : attemptEnd;
  return Math.min(attemptEnd, allEnd, now + 20_000);
}

export function createHostActivities({ ssh: connector, controllers, logger, artifacts }: ActivityDeps) {
  const ssh = <T>(input: HostPatchInput, fn: (s: SshSession) => Promise<T>) =>
    typed(() => connector.use(hostTarget(input), fn, { signal: activityContext()?.cancellationSignal }));

  const preflight = (input: HostPatchInput): Promise<PreflightResult> =>
    ssh(input, async (s) => {
      const { version, bootId, ...measured } = await readPreflight(
        s,
        input.patch,
        bootIdCommandOf(input.host),
      );
      logger.info(
        { campaignId: input.campaignId, hostId: input.host.id, version, ...measured },
        'preflight done',
      );
      return { version, bootId, alreadyPatched: version === input.patch.version, ...measured };
    });
  const profile = (input: HostPatchInput) =>
    ssh(input, (s) => profileBeforeInstall(s, input.patch, runKeyOf(input)));
  const compare = async (input: HostPatchInput): Promise<IntegrityReport> => {
    const report = await ssh(input, (s) => compareAfterInstall(s, input.patch, runKeyOf(input)));
    logger.info(
      {
        campaignId: input.campaignId,
        hostId: input.host.id,
        files: report.files,
        changed: report.changes.length + report.moreChanges,
      },
      'protected paths compared',
    );
    return report;
  };
  const health = (input: HostPatchInput): Promise<HealthReport> =>
    typed(() =>
      runHealthChecks(input.host, input.healthChecks, (fn) =>
        // A new login every time: "ssh-login" must prove that logging in works now, after the install.
        connector.use(hostTarget(input), fn, {
          fresh: true,
          readyTimeoutMs: 5_000,
          signal: activityContext()?.cancellationSignal,
        }),
      ),
    );
  /** The host's connections end with this step (reboot, power, restore): none is reused after it. */
  const evictHost = (input: HostPatchInput) => connector.evict(hostTarget(input));
  const folded = foldedReads({
    preflight,
    profileProtectedPaths: profile,
    readVersion: (input) => ssh(input, (s) => readVersion(s, input.patch)),
    checkHealth: health,
    compareProtectedPaths: compare,
  });

  return {
    /**
     * Checks the orchestrator's copy of the artifact against the campaign's checksum; heartbeats while it
     * hashes. Read-only. Throws SourceArtifactInvalid (it differs), SourceArtifactUnreadable (retried),
     * SourceArtifactRefused (outside the artifact directories, not a regular file, too large).
     */
    async verifySourceArtifact(patch: Patch): Promise<void> {
      await withHeartbeat(() =>
        typed(() =>
          verifySourceArtifact(patch, artifacts, {
            onChunk: beat,
            signal: activityContext()?.cancellationSignal,
          }),
        ),
      );
    },

    /**
     * Reads the installed version and boot ID, and measures the prerequisites that have a command or a
     * threshold (service pack, OS, free disk); `unmet` says which one falls short, with the value.
     * Read-only. Throws HostKeyMismatch, AuthenticationFailed, CredentialUnusable, HostUnreachable.
     */
    async preflight(input: HostPatchInput): Promise<PreflightResult> {
      return preflight(input);
    },

    /**
     * Preflight, then (when the host goes on to be patched and the patch protects paths) the
     * protected-path profile, in one step (`foldedReads`). Heartbeats while it hashes. Read-only on
     * protected data. Throws what `preflight` and `profileProtectedPaths` throw.
     */
    async inspectHost(input: HostPatchInput): Promise<Inspection> {
      return withHeartbeat(() => folded.inspectHost(input));
    },

    /**
     * Takes the checksum profile of the patch's protected paths before install, kept on the host; a
     * retry reuses the first one. Read-only on protected data. Throws IntegrityViolation (a path is missing).
     */
    async profileProtectedPaths(input: HostPatchInput): Promise<IntegrityProfile> {
      return withHeartbeat(() => profile(input));
    },

    /** Profiles the protected paths again and lists what changed since the before-install profile. Read-only. */
    async compareProtectedPaths(input: HostPatchInput): Promise<IntegrityReport> {
      return withHeartbeat(() => compare(input));
    },

    /**
     * Saves the host's disk image through its controller, out-of-band; heartbeats while the controller
     * works. A retry (a worker died) saves a fresh image and returns that one: the earlier, interrupted
     * one is never used. Throws ImageFailed.
     */
    async snapshotImage(input: HostPatchInput): Promise<ImageRecord> {
      const image = await withHeartbeat(() =>
        typed(() => controllers.snapshot(outOfBand(input, 'imageProvider'))),
      );
      logger.info(
        { campaignId: input.campaignId, hostId: input.host.id, imageId: image.imageId },
        'image saved',
      );
      return image;
    },

    /**
     * Uploads the artifact over SFTP to a temporary name, verifies its SHA-256 on the host, then renames
     * it into place; heartbeats while it sends. Idempotent. Changes nothing but the artifact directory.
     * Throws ArtifactChecksumMismatch, SourceArtifactInvalid (the orchestrator's copy changed).
     */
    async uploadArtifact(input: HostPatchInput): Promise<string> {
      return withHeartbeat(() => ssh(input, (s) => uploadArtifact(s, input.patch, artifacts, beat)));
    },

    /**
     * Runs the install command detached under a (campaign, patch, version) run directory owned by this
     * host workflow run; a retry re-attaches to a running or finished install instead of starting it
     * again. Heartbeats while it waits. `installTimeout` is enforced on the host, from when the install
     * started, whichever attempt is watching. Throws InstallTimedOut (stopped on the host) and
     * InstallOutcomeUnknown (its outcome cannot be read: a person must look).
     */
    async installPatch(input: HostPatchInput, artifactPath: string): Promise<InstallOutcome> {
      const run = {
        runKey: runKeyOf(input),
        owner: workflowRunOf(input),
        timeoutMs: input.patch.installTimeout,
        bootIdCommand: bootIdCommandOf(input.host),
      };
      const result = await ssh(input, (s) =>
        runInstall(s, input.patch, run, artifactPath, (progress) => activityContext()?.heartbeat(progress)),
      );
      logger.info(
        {
          campaignId: input.campaignId,
          hostId: input.host.id,
          exitCode: result.exitCode,
          reattached: result.reattached,
        },
        'install finished',
      );
      return result;
    },

    /**
     * Asks the host to reboot; losing the connection is the expected result. Idempotent when given the
     * boot ID preflight saw: a host already on another boot is not rebooted again (histories recorded
     * before that pass no boot ID: one call, one reboot). Throws CommandFailed (the command refused).
     */
    async triggerReboot(input: HostPatchInput, previousBootId?: string): Promise<void> {
      const done = await ssh(input, (s) =>
        triggerReboot(s, {
          bootIdCommand: bootIdCommandOf(input.host),
          ...(previousBootId ? { previousBootId } : {}),
        }),
      );
      evictHost(input);
      if (done === 'already-rebooted')
        logger.info({ campaignId: input.campaignId, hostId: input.host.id }, 'host already rebooted');
    },

    /**
     * Succeeds once the host answers SSH with a boot ID other than `previousBootId` (empty: any), looking
     * every 250 ms (a TCP probe first) for up to 20 s per attempt and heartbeating. Until then throws
     * HostNotUp (no answer) or RebootPending (it answers on the old boot), both retried by the workflow's
     * polling policy; every attempt ends before the boot timeout, so at the timeout the last one says
     * which. Read-only.
     */
    async waitForBoot(input: HostPatchInput, previousBootId: string): Promise<string> {
      return withHeartbeat(() =>
        typed(async () => {
          const context = activityContext();
          const seen = await watchBoot(
            connector,
            hostTarget(input),
            bootIdCommandOf(input.host),
            previousBootId,
            {
              until: bootWatchUntil(context?.info),
              signal: context?.cancellationSignal,
              onLook: (look) => context?.heartbeat(look.state),
            },
          );
          if (seen.state === 'down')
            throw new RolloutError('HostNotUp', `${input.host.id} is not up yet (${seen.reason})`);
          if (seen.state === 'same-boot')
            throw new RolloutError(
              'RebootPending',
              `${input.host.id} answers, still on the boot it had before the reboot`,
            );
          return seen.bootId;
        }),
      );
    },

    /** Reads the installed version after install. Read-only. */
    async readVersion(input: HostPatchInput): Promise<string> {
      return ssh(input, (s) => readVersion(s, input.patch));
    },

    /**
     * Runs the host's health checks; the report says which failed. Heartbeats while the checks run.
     * Read-only; never throws for a failed check (the workflow re-checks while services come up).
     */
    async checkHealth(input: HostPatchInput): Promise<HealthReport> {
      return withHeartbeat(() => health(input));
    },

    /**
     * The version, the health checks, then (version right, checks passed, paths protected) the
     * protected-path comparison, in one step (`foldedReads`). Heartbeats while it works. Read-only; a
     * failed check is in the report, not thrown.
     */
    async checkAfterInstall(input: HostPatchInput): Promise<AfterInstall> {
      return withHeartbeat(() => folded.checkAfterInstall(input));
    },

    /**
     * Verifies the saved image (its provider's check, and its checksum when the record has one), then
     * restores it out-of-band (works on a host that does not boot); heartbeats while the controller
     * works. Idempotent: a retry after a worker died verifies again and restores the same image over a
     * disk that may already be restored, which is harmless. Throws ImageFailed.
     */
    async restoreImage(input: HostPatchInput, image: ImageRecord | string): Promise<void> {
      // Histories recorded before images carried their record pass the ID alone.
      const record = typeof image === 'string' ? { imageId: image } : image;
      const target = outOfBand(input, 'imageProvider');
      // Whatever happened, the host's connections may lead to a disk that is no longer there.
      await withHeartbeat(() =>
        typed(async () => {
          const verified = await controllers.verify(target, record.imageId);
          if (!verified.ok)
            throw new RolloutError('ImageFailed', `image ${record.imageId} fails its provider's check`);
          if ('sha256' in record && record.sha256 && verified.sha256 && verified.sha256 !== record.sha256)
            throw new RolloutError(
              'ImageFailed',
              `image ${record.imageId} has SHA-256 ${verified.sha256}, recorded ${record.sha256} at snapshot`,
            );
          await controllers.restore(target, record.imageId);
        }),
      ).finally(() => evictHost(input));
      logger.warn(
        { campaignId: input.campaignId, hostId: input.host.id, imageId: record.imageId },
        'image restored',
      );
    },

    /**
     * Power-cycles the host out-of-band (on, if it was off); heartbeats while the controller works. A
     * retry cycles once more, harmless for a host that is being restored. Throws PowerFailed.
     */
    async powerCycle(input: HostPatchInput): Promise<void> {
      await withHeartbeat(() =>
        typed(() => controllers.powerCycle(outOfBand(input, 'powerController'))),
      ).finally(() => evictHost(input));
    },

    /**
     * Deletes an image that is no longer needed (a host that failed before anything on it changed).
     * Idempotent (deleting a deleted image is fine). Throws ImageFailed.
     */
    async deleteImage(input: HostPatchInput, image: ImageRecord): Promise<void> {
      await withHeartbeat(() =>
        typed(() => controllers.remove(outOfBand(input, 'imageProvider'), image.imageId)),
      );
      logger.info(
        { campaignId: input.campaignId, hostId: input.host.id, imageId: image.imageId },
        'unused image deleted',
      );
    },
  };
}

export type HostActivities = ReturnType<typeof createHostActivities>;

/** The host activities but the folded reads, which `foldedReads` makes from these. */
export type HostSteps = Omit<HostActivities, 'inspectHost' | 'checkAfterInstall'>;
