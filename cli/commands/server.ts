import { startDevServer } from '../../runtime/dev-server.js';
import { settings } from '../../runtime/config.js';
import { EXIT, stringFlag, untilStopped, type CommandInput } from '../common.js';
import { printError } from '../output.js';

export async function run({ flags }: CommandInput): Promise<number> {
  const port = Number(stringFlag(flags, 'port') ?? 7233);
  const { dataDir } = settings();
  const server = await startDevServer({
    port,
    dbFile: `${dataDir}/temporal/dev.sqlite`,
    logFile: `${dataDir}/temporal/dev.log`,
  });
  printError(
    `Temporal dev server on ${server.address}; state in ${dataDir}/temporal/dev.sqlite. Ctrl-C stops it.\n`,
  );
  await untilStopped();
  await server.stop();
  return EXIT.ok;
}
