import { HostAction } from '../../domain/schema.js';
import { EXIT, requireFlag, stringFlag, UsageError, type CommandInput } from '../common.js';
import { print } from '../output.js';
import { withActing } from '../session.js';

export async function run({ rest, flags }: CommandInput): Promise<number> {
  const [id, hostId, action] = rest;
  const parsed = HostAction.shape.action.safeParse(action);
  if (!parsed.success)
    throw new UsageError('usage: rollout host ID HOST retry|rollback|mark-fixed|skip --note TEXT');
  const record = await withActing((acting) =>
    acting.actOnHost(
      requireFlag(id, 'campaign ID'),
      requireFlag(hostId, 'HOST'),
      parsed.data,
      stringFlag(flags, 'note') ?? '',
    ),
  );
  print(
    flags.json
      ? `${JSON.stringify(record)}\n`
      : `${record.action} ${record.hostId} recorded at ${record.at}\n`,
  );
  return EXIT.ok;
}
