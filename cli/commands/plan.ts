import { parseCampaignFile } from '../../client/campaign-file.js';
import { planCampaign } from '../../domain/planner.js';
import { EXIT, readDocument, requireFlag, type CommandInput } from '../common.js';
import { print } from '../output.js';
import { planLines } from '../plan-text.js';

export async function run({ flags }: CommandInput): Promise<number> {
  const path = requireFlag(flags.file, '-f FILE');
  const file = parseCampaignFile(readDocument(path), path);
  const plan = planCampaign(file);
  if (flags.json) print(`${JSON.stringify(plan, null, 2)}\n`);
  else for (const line of planLines(file, plan)) print(`${line}\n`);
  return EXIT.ok;
}
