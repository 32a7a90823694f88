import { stringify } from 'yaml';
import { CampaignFileError, parseCampaignFile } from '../../client/campaign-file.js';

/** The problems `rollout` would report for a campaign file (YAML text or an object), none when valid. */
export function problemsOf(file: unknown): string[] {
  try {
    parseCampaignFile(typeof file === 'string' ? file : stringify(file), 'test.yaml');
  } catch (err) {
    if (err instanceof CampaignFileError) return err.problems;
    throw err;
  }
  return [];
}
