import { EXIT, readDocument, requireFlag, type CommandInput } from '../common.js';
import { print } from '../output.js';
import { withActing } from '../session.js';

export async function run({ flags }: CommandInput): Promise<number> {
  const path = requireFlag(flags.file, '-f FILE');
  const document = readDocument(path);
  const id = await withActing((acting) => acting.start(document, path));
  print(flags.json ? `${JSON.stringify({ campaignId: id })}\n` : `${id}\n`);
  return EXIT.ok;
}
