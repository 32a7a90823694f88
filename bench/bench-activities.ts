/**
 * Every activity a bench worker registers: the simulated hosts, the real trust and campaign activities
 * over the bench's own stores, and the source-artifact check (accepts by default).
 */
import type { Logger } from 'pino';
import { createCampaignActivities } from '../activities/campaign-activities.js';
import type { HostActivities } from '../activities/host-activities.js';
import { createTrustActivities } from '../activities/trust-activities.js';
import type { ArtifactPolicy } from '../adapters/artifacts.js';
import type { CampaignStore } from '../adapters/campaign-store.js';
import type { RolloutStore } from '../adapters/rollout-store.js';

export function benchActivities(deps: {
  host: HostActivities;
  store: CampaignStore;
  ledger: RolloutStore;
  logger: Logger;
  artifacts: ArtifactPolicy;
  verifyArtifact?: () => Promise<void>;
}) {
  const { host, store, ledger, logger, artifacts } = deps;
  return {
    ...host,
    ...createTrustActivities({ store: ledger, campaigns: store, logger }),
    ...createCampaignActivities({ store, logger, checkHealth: host.checkHealth, ledger, artifacts }),
    verifyArtifact: deps.verifyArtifact ?? (async () => {}),
  };
}
