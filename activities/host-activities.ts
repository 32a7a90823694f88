/**
 * Thin Temporal activities over the adapters. Every error leaves as an ApplicationFailure whose `type`
 * comes from domain/errors.ts, which also decides whether it is retried.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { Logger } from 'pino';
import { ERROR_TYPES, RolloutError } from '../domain/errors.js';
import type { HealthReport, HostPatchInput, ImageRecord, Patch } from '../domain/schema.js';
import type { ControllerClient } from '../adapters/controller.js';
import { runHealthChecks } from '../adapters/health.js';
import {
  readBootId,
  readVersion,
  runInstall,
  triggerReboot,
  uploadArtifact,
  verifySourceArtifact,
} from '../adapters/host-ops.js';
import { SshSession, withSsh, type KeyStore, type SshTarget } from '../adapters/ssh.js';

export interface ActivityDeps {
  keys: KeyStore;
  controllers: ControllerClient;
  logger: Logger;
}

export interface PreflightResult {
  version: string;
  alreadyPatched: boolean;
  bootId: string;
}

export interface InstallOutcome {
  exitCode: number;
  outputTail: string;
  reattached: boolean;
}

function hostTarget(input: HostPatchInput): SshTarget {
  return { ...input.host, name: input.host.id };
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

    /** Reads the installed version and boot ID. Read-only. Throws HostKeyMismatch, AuthenticationFailed, HostUnreachable. */
    async preflight(input: HostPatchInput): Promise<PreflightResult> {
      return ssh(input, async (s) => {
        const version = await readVersion(s, input.patch);
        const bootId = await readBootId(s, input.host.bootIdCommand);
        logger.info({ campaignId: input.campaignId, hostId: input.host.id, version }, 'preflight done');
        return { version, alreadyPatched: version === input.patch.version, bootId };
      });
    },

    /** Saves the host's disk image through its controller, out-of-band. A retry saves a fresh image (harmless). Throws ImageFailed. */
    async snapshotImage(input: HostPatchInput): Promise<ImageRecord> {
      const image = await typed(() => controllers.snapshot(input.imageProvider, input.host.id));
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
      const runKey = `${input.campaignId}-${input.patch.id}-${input.patch.version}`.replace(
        /[^A-Za-z0-9._-]/g,
        '_',
      );
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

    /** Restores the saved image out-of-band (works on a host that does not boot). Idempotent. Throws ImageFailed. */
    async restoreImage(input: HostPatchInput, imageId: string): Promise<void> {
      await typed(async () => {
        const verified = await controllers.verify(input.imageProvider, input.host.id, imageId);
        if (!verified.ok) throw new RolloutError('ImageFailed', `image ${imageId} fails its checksum`);
        await controllers.restore(input.imageProvider, input.host.id, imageId);
      });
      logger.warn({ campaignId: input.campaignId, hostId: input.host.id, imageId }, 'image restored');
    },

    /** Power-cycles the host out-of-band. Throws PowerFailed. */
    async powerCycle(input: HostPatchInput): Promise<void> {
      await typed(() => controllers.powerCycle(input.powerController, input.host.id));
    },
  };
}

export type HostActivities = ReturnType<typeof createHostActivities>;
