import { EXIT, requireFlag, stringFlag, type CommandInput } from '../common.js';
import { print } from '../output.js';
import { withActing } from '../session.js';

export async function run({ command, rest, flags }: CommandInput): Promise<number> {
  const id = requireFlag(rest[0], 'campaign ID');
  const action = command as 'pause' | 'resume' | 'abort';
  const record = await withActing((acting) => acting.control(id, action, stringFlag(flags, 'reason') ?? ''));
  print(flags.json ? `${JSON.stringify(record)}\n` : `${record.action} recorded at ${record.at}\n`);
  return EXIT.ok;
}
