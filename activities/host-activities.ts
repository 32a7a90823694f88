/**
 * Thin Temporal activities over the adapters. Every error leaves as an ApplicationFailure whose `type`
 * comes from domain/errors.ts, which also decides whether it is retried.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { Logger } from 'pino';
import { ERROR_TYPES, RolloutError } from '../domain/errors.js';
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
  profileBeforeInstall,
  readBootId,
  readVersion,
  runInstall,
  triggerReboot,
  uploadArtifact,
  verifySourceArtifact,
  type IntegrityProfile,
} from '../adapters/host-ops.js';
import { sshTarget, SshSession, withSsh, type KeyStore, type SshTarget } from '../adapters/ssh.js';

export interface ActivityDeps {
  keys: KeyStore;
  controllers: ControllerClient;
  logger: Logger;
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
  return { controller: input[via], machine: input.host.machine ?? input.host.id, jumpHosts: input.jumpHosts };
}

/** The key of one (campaign, patch) run on a host: names its install marker and integrity profiles. */
function runKeyOf(input: HostPatchInput): string {
  return `${input.campaignId}-${input.patch.id}-${input.patch.version}`.replace(/[^A-Za-z0-9._-]/g, '_');
}

/** Heartbeats every 10 s while `fn` runs, so a long remote command shows its worker is alive. */
async function withHeartbeat<T>(fn: () => Promise<T>): Promise<T> {
  const timer = setInterval(() => Context.current().heartbeat(), 10_000);
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

function signal(): AbortSignal | undefined {
  try {
    return Context.current().cancellationSignal;
  } catch {
    return undefined;
  }
}

export function createHostActivities({ keys, controllers, logger }: ActivityDeps) {
  const ssh = <T>(input: HostPatchInput, fn: (s: SshSession) => Promise<T>) =>
    typed(() => withSsh(hostTarget(input), keys, fn, { signal: signal() }));

  return {
    /** Checks the orchestrator's copy of the artifact against the campaign's checksum. Idempotent. Throws SourceArtifactInvalid. */
    async verifySourceArtifact(patch: Patch): Promise<void> {
      await typed(() => verifySourceArtifact(patch));
    },

    /**
     * Reads the installed version and boot ID, and measures the prerequisites that have a command or a
     * threshold (service pack, OS, free disk); `unmet` says which one falls short, with the value.
     * Read-only. Throws HostKeyMismatch, AuthenticationFailed, CredentialUnusable, HostUnreachable.
     */
    async preflight(input: HostPatchInput): Promise<PreflightResult> {
      return ssh(input, async (s) => {
        const version = await readVersion(s, input.patch);
        const bootId = await readBootId(s, input.host.bootIdCommand);
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

    /** Saves the host's disk image through its controller, out-of-band. A retry saves a fresh image (harmless). Throws ImageFailed. */
    async snapshotImage(input: HostPatchInput): Promise<ImageRecord> {
      const image = await typed(() => controllers.snapshot(outOfBand(input, 'imageProvider')));
      logger.info(
        { campaignId: input.campaignId, hostId: input.host.id, imageId: image.imageId },
        'image saved',
      );
      return image;
    },

    /** Uploads the artifact over SFTP and verifies its SHA-256 on the host. Idempotent. Throws ArtifactChecksumMismatch. */
    async uploadArtifact(input: HostPatchInput): Promise<string> {
      return ssh(input, (s) => uploadArtifact(s, input.patch));
    },

    /**
     * Runs the install command detached under a (campaign, patch, host) marker; a retry re-attaches to a
     * running or finished install instead of starting it again. Heartbeats while it waits.
     */
    async installPatch(input: HostPatchInput, artifactPath: string): Promise<InstallOutcome> {
      const runKey = runKeyOf(input);
      const result = await ssh(input, (s) =>
        runInstall(s, input.patch, runKey, artifactPath, (progress) => Context.current().heartbeat(progress)),
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

    /** Asks the host to reboot; losing the connection is the expected result. Not idempotent: one call, one reboot. */
    async triggerReboot(input: HostPatchInput): Promise<void> {
      await ssh(input, (s) => triggerReboot(s));
    },

    /**
     * Succeeds once the host answers SSH with a boot ID other than `previousBootId`; throws HostNotUp
     * (retried by the workflow's polling policy) until then. Read-only.
     */
    async waitForBoot(input: HostPatchInput, previousBootId: string): Promise<string> {
      return typed(async () => {
        let bootId: string;
        try {
          bootId = await withSsh(hostTarget(input), keys, (s) => readBootId(s, input.host.bootIdCommand), {
            readyTimeoutMs: 5_000,
          });
        } catch (err) {
          if (
            err instanceof RolloutError &&
            (err.type === 'HostUnreachable' || err.type === 'ConnectionLost')
          )
            throw new RolloutError('HostNotUp', `${input.host.id} is not up yet`);
          throw err;
        }
        if (bootId === previousBootId)
          throw new RolloutError('HostNotUp', `${input.host.id} has not rebooted yet`);
        return bootId;
      });
    },

    /** Reads the installed version after install. Read-only. */
    async readVersion(input: HostPatchInput): Promise<string> {
      return ssh(input, (s) => readVersion(s, input.patch));
    },

    /** Runs the host's health checks; the report says which failed. Read-only; never throws for a failed check. */
    async checkHealth(input: HostPatchInput): Promise<HealthReport> {
      return typed(() =>
        runHealthChecks(input.host, input.healthChecks, () =>
          SshSession.open(hostTarget(input), keys, { readyTimeoutMs: 5_000 }),
        ),
      );
    },

    /**
     * Verifies the saved image (its provider's check, and its checksum when the record has one), then
     * restores it out-of-band (works on a host that does not boot). Idempotent. Throws ImageFailed.
     */
    async restoreImage(input: HostPatchInput, image: ImageRecord | string): Promise<void> {
      // Histories recorded before images carried their record pass the ID alone.
      const record = typeof image === 'string' ? { imageId: image } : image;
      const target = outOfBand(input, 'imageProvider');
      await typed(async () => {
        const verified = await controllers.verify(target, record.imageId);
        if (!verified.ok)
          throw new RolloutError('ImageFailed', `image ${record.imageId} fails its provider's check`);
        if ('sha256' in record && record.sha256 && verified.sha256 && verified.sha256 !== record.sha256)
          throw new RolloutError(
            'ImageFailed',
            `image ${record.imageId} has SHA-256 ${verified.sha256}, recorded ${record.sha256} at snapshot`,
          );
        await controllers.restore(target, record.imageId);
      });
      logger.warn(
        { campaignId: input.campaignId, hostId: input.host.id, imageId: record.imageId },
        'image restored',
      );
    },

    /** Power-cycles the host out-of-band (on, if it was off). Throws PowerFailed. */
    async powerCycle(input: HostPatchInput): Promise<void> {
      await typed(() => controllers.powerCycle(outOfBand(input, 'powerController')));
    },
  };
}

export type HostActivities = ReturnType<typeof createHostActivities>;
