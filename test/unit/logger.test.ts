import { MockActivityEnvironment } from '@temporalio/testing';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../workers/logger.js';

describe('worker logger', () => {
  it('redacts secrets at the top level and one level down, and keeps campaign and host IDs', () => {
    const lines: string[] = [];
    const logger = createLogger('info', { write: (line: string) => void lines.push(line) });
    logger.info(
      {
        campaignId: 'campaign-1',
        hostId: 'archive-01',
        passphrase: 'correct horse',
        auth: { password: 'bmc-pass-123', authorization: 'Basic cm9sbG91dDpwdw==' },
        ssh: { privateKey: '-----BEGIN OPENSSH PRIVATE KEY-----' },
        secret: 'user:pw',
        taskToken: 'CiQwMWEy-activity-task-token',
      },
      'step',
    );
    expect(lines).toHaveLength(1);
    const line = lines[0]!;
    for (const secret of [
      'correct horse',
      'bmc-pass-123',
      'cm9sbG91dDpwdw==',
      'BEGIN OPENSSH',
      'user:pw',
      'activity-task-token',
    ])
      expect(line).not.toContain(secret);
    expect(JSON.parse(line)).toMatchObject({
      campaignId: 'campaign-1',
      hostId: 'archive-01',
      passphrase: '[redacted]',
      auth: { password: '[redacted]', authorization: '[redacted]' },
      ssh: { privateKey: '[redacted]' },
      secret: '[redacted]',
    });
  });

  it('inside an activity, every line names the workflow, the activity and the attempt', async () => {
    const lines: string[] = [];
    const logger = createLogger('info', { write: (line: string) => void lines.push(line) });
    const env = new MockActivityEnvironment({
      activityType: 'installPatch',
      attempt: 3,
      workflowExecution: { workflowId: 'patch-host/archive-01', runId: 'run-7' },
    });
    await env.run(async () => logger.info({ hostId: 'archive-01' }, 'install started'));
    logger.info('outside');
    expect(JSON.parse(lines[0]!)).toMatchObject({
      workflowId: 'patch-host/archive-01',
      runId: 'run-7',
      activity: 'installPatch',
      attempt: 3,
      hostId: 'archive-01',
    });
    expect(JSON.parse(lines[1]!)).not.toHaveProperty('workflowId');
  });
});
