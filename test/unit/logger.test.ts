import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../workers/logger.js';

describe('worker logger', () => {
  it('redacts secrets at the top level and one level down, and keeps campaign and host IDs', () => {
    const dir = mkdtempSync(`${tmpdir()}/rollout-log-`);
    const fd = openSync(`${dir}/log.jsonl`, 'w');
    try {
      const logger = createLogger('info', fd);
      logger.info(
        {
          campaignId: 'campaign-1',
          hostId: 'archive-01',
          passphrase: 'correct horse',
          auth: { password: 'bmc-pass-123', authorization: 'Basic cm9sbG91dDpwdw==' },
          ssh: { privateKey: '-----BEGIN OPENSSH PRIVATE KEY-----' },
          secret: 'user:pw',
        },
        'step',
      );
      logger.flush();
    } finally {
      closeSync(fd);
    }
    const line = readFileSync(`${dir}/log.jsonl`, 'utf8');
    rmSync(dir, { recursive: true, force: true });
    for (const secret of ['correct horse', 'bmc-pass-123', 'cm9sbG91dDpwdw==', 'BEGIN OPENSSH', 'user:pw'])
      expect(line).not.toContain(secret);
    expect(JSON.parse(line)).toMatchObject({
      campaignId: 'campaign-1',
      hostId: 'archive-01',
      passphrase: '[redacted]',
      auth: { password: '[redacted]', authorization: '[redacted]' },
    });
  });
});
