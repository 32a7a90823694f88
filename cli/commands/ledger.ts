import { ledgerCsv } from '../../client/ledger-report.js';
import { EXIT, stringFlag, UsageError, type CommandInput } from '../common.js';
import { formatLedger } from '../format.js';
import { print, printCsv } from '../output.js';
import { withReading } from '../session.js';

export async function run({ flags }: CommandInput): Promise<number> {
  const format = stringFlag(flags, 'format') ?? (flags.json ? 'json' : 'table');
  if (!['table', 'json', 'csv'].includes(format)) throw new UsageError('--format table|json|csv');
  const patch = stringFlag(flags, 'patch');
  const rows = await withReading((reading) =>
    reading.ledger({ ...(patch ? { patchId: patch } : {}), missing: flags.missing === true }),
  );
  if (format === 'csv') printCsv(ledgerCsv(rows));
  else print(format === 'json' ? `${JSON.stringify(rows, null, 2)}\n` : formatLedger(rows));
  return EXIT.ok;
}
