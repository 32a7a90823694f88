import { renderReportHtml } from '../../client/report-html.js';
import { EXIT, requireFlag, type CommandInput } from '../common.js';
import { formatReport } from '../format.js';
import { print } from '../output.js';
import { withReading } from '../session.js';

export async function run({ rest, flags }: CommandInput): Promise<number> {
  const id = requireFlag(rest[0], 'campaign ID');
  const report = await withReading((reading) => reading.report(id));
  if (flags.html) print(renderReportHtml(report));
  else if (flags.json) print(`${JSON.stringify(report, null, 2)}\n`);
  else print(`${formatReport(report)}\n`);
  return EXIT.ok;
}
