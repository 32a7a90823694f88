/**
 * The `rollout` command: finds the command in the registry (cli/commands.ts), parses its flags, and
 * loads and runs its module. One top-level handler tells a user's error (clear message, exit code) from
 * a bug (stack trace). Exit codes: 0 ok, 1 demo/campaign did not end as expected, 2 bad input,
 * 3 refused, 4 not found, 5 Temporal unreachable, 6 accepted but a later write failed, 70 internal error.
 */
import { parseArgs } from 'node:util';
import { COMMANDS, commandNamed, GLOBAL_FLAGS, USAGE } from './commands.js';
import { EXIT, UsageError, type Flags } from './common.js';
import { classify } from './errors.js';
import { print, printError } from './output.js';

export { EXIT } from './common.js';
export { USAGE } from './commands.js';

async function main(argv: string[]): Promise<number> {
  // First a lenient pass that knows every command's flags, so a flag's value is never taken for the
  // command (`rollout -f c.yaml plan`); then the command's own strict parse.
  const everyFlag = Object.assign({}, GLOBAL_FLAGS, ...COMMANDS.map((c) => c.flags));
  const first = parseArgs({ args: argv, allowPositionals: true, strict: false, options: everyFlag });
  const name = first.positionals[0];
  const wantsHelp = first.values.help === true;
  if (wantsHelp || !name) {
    print(USAGE);
    return wantsHelp ? EXIT.ok : EXIT.usage;
  }
  const spec = commandNamed(name);
  if (!spec)
    throw new UsageError(
      `unknown command "${name}" (one of ${COMMANDS.flatMap((c) => c.names).join(', ')})\n${USAGE}`,
    );
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { ...GLOBAL_FLAGS, ...spec.flags },
  });
  const flags = { json: false, help: false, ...values } as Flags;
  const [command, ...rest] = positionals;
  const module = await spec.load();
  return module.run({ command: command!, rest, flags });
}

/** Runs the CLI and maps failures to exit codes; only bugs print a stack. */
export async function run(argv: string[]): Promise<number> {
  try {
    return await main(argv);
  } catch (err) {
    const { kind, code, message } = await classify(err);
    printError(
      kind === 'internal'
        ? `rollout: internal error\n${(err as Error)?.stack ?? String(err)}\n`
        : `rollout: ${message}\n`,
    );
    return code;
  }
}
