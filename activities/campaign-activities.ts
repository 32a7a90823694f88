/**
 * Activities that give the campaign and host workflows what they need from the campaign store: the
 * plan summary, one wave's members, one host's records; plus soak probes and notifications.
 */
import { ApplicationFailure, WorkflowNotFoundError } from '@temporalio/common';
import { hostWorkflowId } from '../domain/ids.js';
import type { Logger } from 'pino';
import type { CampaignStore } from '../adapters/campaign-store.js';
import { hostPatchInput, PlanInfeasible } from '../domain/planner.js';
import { planCache, type PlanCache } from './plan-cache.js';
import type {
  HealthReport,
  HostOutcome,
  HostPatchInput,
  Notification,
  SoakProbe,
  WaveHost,
} from '../domain/schema.js';
import { verifySourceArtifact, type ArtifactPolicy } from '../adapters/artifacts.js';
import type { NotificationSink } from '../adapters/webhooks.js';
import { activityContext, beat, typed, withHeartbeat } from './support.js';
import { createLedgerActivities, type LedgerWriter } from './ledger-activities.js';

export interface CampaignActivityDeps {
  store: CampaignStore;
  logger: Logger;
  checkHealth: (input: HostPatchInput) => Promise<HealthReport>;
  /** Where host workflows record their state changes (the rollout store's ledger). */
  ledger: LedgerWriter;
  /** Webhooks notifications go to, besides the log. */
  notifications?: NotificationSink;
  /** Where artifacts may be read from (the worker's artifact directories and limits). */
  artifacts: ArtifactPolicy;
  /** Plans by file checksum, shared with the trust activities (default: a cache of its own). */
  plans?: PlanCache;
}

export function createCampaignActivities({
  store,
  logger,
  checkHealth,
  ledger,
  notifications,
  artifacts,
  plans = planCache(),
}: CampaignActivityDeps) {
  const plan = (fileSha256: string) =>
    typed(async () => {
      try {
        return { plan: await plans(fileSha256, () => store.get(fileSha256)) };
      } catch (err) {
        if (err instanceof PlanInfeasible)
          throw ApplicationFailure.create({
            type: 'PlanInfeasible',
            message: err.message,
            nonRetryable: true,
          });
        throw err;
      }
    });

  return {
    ...createLedgerActivities({ ledger, logger }),

    /**
     * Checks the orchestrator's copy of the artifact against the file's checksum; heartbeats while it
     * hashes. Read-only. Throws SourceArtifactInvalid (it differs), SourceArtifactUnreadable (retried).
     */
    async verifyArtifact(fileSha256: string): Promise<void> {
      await withHeartbeat(() =>
        typed(async () =>
          verifySourceArtifact((await store.get(fileSha256)).patch, artifacts, {
            onChunk: beat,
            signal: activityContext()?.cancellationSignal,
          }),
        ),
      );
    },

    /** One wave's members with their redundancy group and window. Read-only. */
    async loadWave(fileSha256: string, index: number): Promise<WaveHost[]> {
      const { plan: p } = await plan(fileSha256);
      return p.waves[index]?.hosts ?? [];
    },

    /** One host's records (host, controllers, checks, patch). Read-only. Throws UnknownHost. */
    async loadHostInput(campaignId: string, fileSha256: string, hostId: string): Promise<HostPatchInput> {
      return typed(async () => {
        const file = await store.get(fileSha256);
        if (!file.fleet.hosts.some((h) => h.id === hostId))
          throw ApplicationFailure.create({
            type: 'UnknownHost',
            message: `no host ${hostId}`,
            nonRetryable: true,
          });
        return hostPatchInput(file, campaignId, hostId);
      });
    },

    /**
     * One soak probe across the test systems: "failed" when a health check fails, "error" when a probe
     * could not be run at all (no key, store unreadable). Never throws for an unhealthy host.
     */
    async probeTestHosts(campaignId: string, fileSha256: string, hostIds: string[]): Promise<SoakProbe> {
      return withHeartbeat(async () => {
        const failed: string[] = [];
        let error = false;
        for (const hostId of hostIds) {
          try {
            const report = await checkHealth(hostPatchInput(await store.get(fileSha256), campaignId, hostId));
            failed.push(...report.checks.filter((c) => !c.ok).map((c) => `${hostId}/${c.name}`));
          } catch (err) {
            error = true;
            failed.push(`${hostId}/probe-error: ${(err as Error).message.slice(0, 200)}`);
          }
        }
        const result = error ? 'error' : failed.length ? 'failed' : 'ok';
        logger.info({ campaignId, result, failed: failed.length }, 'soak probe');
        return { at: new Date().toISOString(), result, failed };
      });
    },

    /**
     * Of host runs this campaign started in an earlier run (it continued as new without waiting for
     * them), those that have ended, each with its outcome or why it has none. One short look at each
     * (describe; the result only of a run that has closed): the campaign asks again every few seconds,
     * so no activity slot is held while a host runs. Read-only.
     */
    async hostRunsEnded(runs: Array<{ hostId: string; runId: string }>): Promise<HostRunEnd[]> {
      const context = activityContext();
      if (!context)
        throw ApplicationFailure.create({
          type: 'NotAnActivity',
          message: 'hostRunsEnded runs only as an activity',
          nonRetryable: true,
        });
      const ended: HostRunEnd[] = [];
      const look = async (i: number) =>
        Promise.all(
          runs.slice(i, i + LOOKS_AT_ONCE).map(async ({ hostId, runId }) => {
            const handle = context.client.workflow.getHandle(hostWorkflowId(hostId), runId);
            try {
              if ((await handle.describe()).status.name === 'RUNNING') return;
              ended.push({ hostId, state: 'ended', outcome: (await handle.result()) as HostOutcome });
            } catch (err) {
              // The client's error, by name: activities do not import the client.
              if (err instanceof Error && err.name === 'WorkflowFailedError')
                ended.push({
                  hostId,
                  state: 'failed',
                  message: `the host's workflow failed: ${failureCause(err)}`,
                });
              else if (err instanceof WorkflowNotFoundError)
                ended.push({
                  hostId,
                  state: 'failed',
                  message: `the host's workflow ${runId} is not known to the server`,
                });
              else throw err;
            }
          }),
        );
      await withHeartbeat(async () => {
        for (let i = 0; i < runs.length; i += LOOKS_AT_ONCE) await look(i);
      });
      return ended;
    },

    /**
     * Logs a notification and delivers it to the configured webhooks (retried, bounded in time). Never
     * throws for a webhook that is down: the campaign must not wait on a chat server. A retried activity
     * may deliver a notification twice; receivers can tell by `at` and `kind`.
     */
    async notify(campaignId: string, notification: Notification): Promise<void> {
      logger.info({ campaignId, notification: { ...notification } }, `notify: ${notification.kind}`);
      await notifications?.deliver(campaignId, notification);
    },
  };
}

/** A host run the campaign waited for that has ended: with its outcome, or failed without one. */
export type HostRunEnd = { hostId: string } & (
  { state: 'ended'; outcome: HostOutcome } | { state: 'failed'; message: string }
);

/** Host runs looked at in parallel by one hostRunsEnded. */
const LOOKS_AT_ONCE = 50;

/** The reason a workflow failed, without the wrapping. */
function failureCause(err: Error): string {
  return err.cause instanceof Error ? err.cause.message : err.message;
}

export type CampaignActivities = ReturnType<typeof createCampaignActivities>;
