import { EXIT, stringFlag, UsageError, type CommandInput } from '../common.js';
import { formatAudit } from '../format.js';
import { print } from '../output.js';
import { withReading } from '../session.js';

export async function run({ rest, flags }: CommandInput): Promise<number> {
  const [sub] = rest;
  if (sub === 'verify') {
    const verdict = await withReading((reading) => reading.verifyAudit());
    print(
      flags.json
        ? `${JSON.stringify(verdict)}\n`
        : verdict.ok
          ? `audit chain verified: ${verdict.entries} entries, head ${verdict.head}\n`
          : `AUDIT CHAIN BROKEN at entry ${verdict.firstBad?.seq}: ${verdict.firstBad?.problem} (${verdict.entries} entries verify before it)\n`,
    );
    return verdict.ok ? EXIT.ok : EXIT.notAsExpected;
  }
  if (sub === 'list' || sub === undefined) {
    const given = stringFlag(flags, 'limit');
    const limit = given ? Number(given) : 50;
    if (!Number.isInteger(limit) || limit < 1 || limit > 999_999)
      throw new UsageError('--limit must be a whole number from 1 to 999999');
    const campaign = stringFlag(flags, 'campaign');
    const entries = await withReading((reading) =>
      reading.audit({ ...(campaign ? { campaignId: campaign } : {}), limit }),
    );
    print(flags.json ? `${JSON.stringify(entries, null, 2)}\n` : formatAudit(entries));
    return EXIT.ok;
  }
  throw new UsageError('usage: rollout audit verify|list [--campaign ID] [--limit N]');
}
