import type { HostRow } from '../../client/actions.js';
import { toCsv } from '../../client/csv.js';
import { HostState } from '../../domain/schema.js';
import { EXIT, requireFlag, stringFlag, UsageError, type CommandInput } from '../common.js';
import { formatHosts } from '../format.js';
import { print, printCsv } from '../output.js';
import { withReading } from '../session.js';

const CSV_COLUMNS = ['hostId', 'role', 'wave', 'state', 'step', 'imageId', 'failure', 'updatedAt'] as const;

/** `--state` as a set: one or more host states, comma-separated; an unknown one is refused by name. */
export function statesOf(flag: string | undefined): Set<string> | undefined {
  if (flag === undefined) return undefined;
  const states = flag.split(',').map((s) => s.trim());
  const unknown = states.filter((s) => !HostState.safeParse(s).success);
  if (unknown.length)
    throw new UsageError(
      `--state: unknown host state ${unknown.map((s) => `'${s}'`).join(', ') || "''"}; one or more of ${HostState.options.join(', ')}`,
    );
  return new Set(states);
}

export async function run({ rest, flags }: CommandInput): Promise<number> {
  const id = requireFlag(rest[0], 'campaign ID');
  const format = stringFlag(flags, 'format') ?? (flags.json ? 'json' : 'table');
  if (!['table', 'json', 'csv'].includes(format)) throw new UsageError('--format table|json|csv');
  const states = statesOf(stringFlag(flags, 'state'));
  const all = await withReading((reading) => reading.hosts(id));
  const hosts: HostRow[] = states ? all.filter((h) => states.has(h.state)) : all;
  if (format === 'csv') printCsv(toCsv(CSV_COLUMNS, hosts));
  else print(format === 'json' ? `${JSON.stringify(hosts, null, 2)}\n` : formatHosts(hosts));
  return EXIT.ok;
}
