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
  measurePrerequisites,
  observeBoot,
  profileBeforeInstall,
  readBootId,
  readVersion,
  runInstall,
  triggerReboot,
  uploadArtifact,
  type IntegrityProfile,
} from '../adapters/host-ops.js';
import { verifySourceArtifact, type ArtifactPolicy } from '../adapters/artifacts.js';
import { sshTarget, SshSession, withSsh, type KeyStore, type SshTarget } from '../adapters/ssh.js';
import { activityContext, beat, typed, withHeartbeat } from './support.js';

export interface ActivityDeps {
  keys: KeyStore;
  controllers: ControllerClient;
  logger: Logger;
  /** Where artifacts may be read from (the worker's artifact directories and limits). */
  artifacts: ArtifactPolicy;
}

export interface PreflightResult extends PreflightReport {
  alreadyPatched: boolean;
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

export function createHostActivities({ keys, controllers, logger, artifacts }: ActivityDeps) {
  const ssh = <T>(input: HostPatchInput, fn: (s: SshSession) => Promise<T>) =>
    typed(() => withSsh(hostTarget(input), keys, fn, { signal: activityContext()?.cancellationSignal }));

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
      return ssh(input, async (s) => {
        const version = await readVersion(s, input.patch);
        const bootId = await readBootId(s, bootIdCommandOf(input.host));
        const measured = await measurePrerequisites(s, input.patch);
        logger.info(
          { campaignId: input.campaignId, hostId: input.host.id, version, ...measured },
          'preflight done',
        );
        return { version, bootId, alreadyPatched: version === input.patch.version, ...measured };
      });
    },

    /**
     * Takes the checksum profile of the patch's protected paths before install, kept on the host; a
     * retry reuses the first one. Read-only on protected data. Throws IntegrityViolation (a path is missing).
     */
    async profileProtectedPaths(input: HostPatchInput): Promise<IntegrityProfile> {
      return withHeartbeat(() => ssh(input, (s) => profileBeforeInstall(s, input.patch, runKeyOf(input))));
    },

    /** Profiles the protected paths again and lists what changed since the before-install profile. Read-only. */
    async compareProtectedPaths(input: HostPatchInput): Promise<IntegrityReport> {
      const report = await withHeartbeat(() =>
        ssh(input, (s) => compareAfterInstall(s, input.patch, runKeyOf(input))),
      );
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
      if (done === 'already-rebooted')
        logger.info({ campaignId: input.campaignId, hostId: input.host.id }, 'host already rebooted');
    },

    /**
     * Succeeds once the host answers SSH with a boot ID other than `previousBootId` (empty: any). Until
     * then throws HostNotUp (no answer) or RebootPending (it answers on the old boot), both retried by
     * the workflow's polling policy; at the boot timeout the last one says which. Read-only.
     */
    async waitForBoot(input: HostPatchInput, previousBootId: string): Promise<string> {
      return typed(async () => {
        const seen = await observeBoot(hostTarget(input), keys, bootIdCommandOf(input.host), previousBootId);
        if (seen.state === 'down')
          throw new RolloutError('HostNotUp', `${input.host.id} is not up yet (${seen.reason})`);
        if (seen.state === 'same-boot')
          throw new RolloutError(
            'RebootPending',
            `${input.host.id} answers, still on the boot it had before the reboot`,
          );
        return seen.bootId;
      });
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
      return withHeartbeat(() =>
        typed(() =>
          runHealthChecks(input.host, input.healthChecks, () =>
            SshSession.open(hostTarget(input), keys, { readyTimeoutMs: 5_000 }),
          ),
        ),
      );
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
      );
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
      await withHeartbeat(() => typed(() => controllers.powerCycle(outOfBand(input, 'powerController'))));
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
