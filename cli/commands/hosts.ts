import { EXIT, requireFlag, stringFlag, type CommandInput } from '../common.js';
import { formatHosts } from '../format.js';
import { print } from '../output.js';
import { withReading } from '../session.js';

export async function run({ rest, flags }: CommandInput): Promise<number> {
  const id = requireFlag(rest[0], 'campaign ID');
  const hosts = await withReading((reading) => reading.hosts(id, stringFlag(flags, 'state')));
  print(flags.json ? `${JSON.stringify(hosts, null, 2)}\n` : formatHosts(hosts));
  return EXIT.ok;
}
