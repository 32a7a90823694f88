import { runSetup } from '../../runtime/setup.js';
import { EXIT, say, type CommandInput } from '../common.js';

export async function run({ flags }: CommandInput): Promise<number> {
  runSetup(say(flags.quiet === true));
  return EXIT.ok;
}
