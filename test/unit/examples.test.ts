import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseCampaignFile } from '../../client/campaign-file.js';
import { planCampaign } from '../../domain/planner.js';
import { PROJECT_ROOT } from '../../runtime/paths.js';

describe('examples/campaign.yaml', () => {
  it('is a valid campaign file whose plan is a canary then the rest', () => {
    const file = parseCampaignFile(readFileSync(`${PROJECT_ROOT}/examples/campaign.yaml`, 'utf8'));
    expect(planCampaign(file)).toEqual({
      testHosts: ['pacs-test'],
      waves: [
        { name: 'canary', hosts: ['archive-01'] },
        { name: 'rest', hosts: ['archive-02', 'nas-01', 'dws-reading-1'] },
      ],
      excluded: [],
    });
  });
});
