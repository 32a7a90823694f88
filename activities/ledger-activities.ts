/** The ledger's writer: host workflows call it on every state change. */
import type { Logger } from 'pino';
import type { LedgerEntry } from '../domain/schema.js';

export interface LedgerWriter {
  recordHostState(entry: LedgerEntry): Promise<void>;
}

export function createLedgerActivities({ ledger, logger }: { ledger: LedgerWriter; logger: Logger }) {
  return {
    /**
     * Upserts one host's ledger entry for its campaign. Idempotent (keyed by campaign and host; an
     * older update never overwrites a newer one), so retries are safe.
     */
    async recordHostState(entry: LedgerEntry): Promise<void> {
      await ledger.recordHostState(entry);
      logger.debug(
        { campaignId: entry.campaignId, hostId: entry.hostId, state: entry.state },
        'ledger entry recorded',
      );
    },
  };
}

export type LedgerActivities = ReturnType<typeof createLedgerActivities>;
