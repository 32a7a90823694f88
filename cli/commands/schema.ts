import { campaignFileJsonSchema } from '../../domain/schema.js';
import { EXIT } from '../common.js';
import { print } from '../output.js';

export async function run(): Promise<number> {
  print(`${JSON.stringify(campaignFileJsonSchema(), null, 2)}\n`);
  return EXIT.ok;
}
