import { EXIT, hostCount, stringFlag, say, type CommandInput } from '../common.js';
import { printDemo, runDemo } from '../demo.js';
import { printError } from '../output.js';

export async function run({ flags }: CommandInput): Promise<number> {
  const result = await runDemo(
    {
      json: flags.json,
      hosts: hostCount(flags),
      net: stringFlag(flags, 'net') ?? '127.0.20',
      stay: flags.stay === true,
    },
    say(false),
  );
  printDemo(result, flags.json);
  for (const problem of result.problems) printError(`demo: ${problem}\n`);
  return result.asExpected ? EXIT.ok : EXIT.notAsExpected;
}
