/**
 * Webhook delivery against a real local HTTP receiver: retried until it answers 2xx, given up (without
 * throwing) when it stays down or hangs, JSON and Slack formats, event filters, bad configuration refused.
 */
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { webhookSink, webhooksFromEnv } from '../../adapters/webhooks.js';
import type { Notification } from '../../domain/schema.js';
import { startReceiver } from '../helpers/http-receiver.js';

const quiet = pino({ level: 'silent' });
const policy = { attempts: 3, firstBackoffMs: 50, timeoutMs: 500 };
const rolledBack: Notification = {
  at: '2026-11-23T10:00:00.000Z',
  kind: 'host-rolled-back',
  hostId: 'nas-01',
  to: ['oncall@hospital.example'],
  text: 'nas-01 was rolled back to its saved image: reboot did not succeed',
};
const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
});

async function receiver(respond?: Parameters<typeof startReceiver>[1]) {
  const r = await startReceiver('127.0.48.1', respond);
  stops.push(r.stop);
  return r;
}

describe('webhooks', () => {
  it('retries a failing receiver until it accepts, and posts the notification as JSON', async () => {
    const r = await receiver((_req, n) => (n < 3 ? 503 : 204));
    const sink = webhookSink(
      webhooksFromEnv(JSON.stringify([{ name: 'ops', url: r.url('/hook') }])),
      quiet,
      policy,
    );
    expect(await sink.deliver('c-1', rolledBack)).toEqual([{ hook: 'ops', delivered: true, attempts: 3 }]);
    expect(r.received).toHaveLength(3);
    expect(JSON.parse(r.received[2]!.body)).toEqual({ campaignId: 'c-1', ...rolledBack });
    // Backoff between attempts: 50 ms, then 100 ms.
    expect(r.received[2]!.at - r.received[0]!.at).toBeGreaterThanOrEqual(140);
  });

  it('gives up on a receiver that stays down or hangs, without throwing, in bounded time', async () => {
    const down = await receiver(() => 500);
    const hangs = await receiver(() => 'hang');
    const sink = webhookSink(
      [
        { name: 'down', url: down.url(), format: 'json' },
        { name: 'hangs', url: hangs.url(), format: 'json' },
        { name: 'closed', url: 'http://127.0.48.2:9/', format: 'json' },
      ],
      quiet,
      policy,
    );
    const started = Date.now();
    const results = await sink.deliver('c-1', rolledBack);
    expect(results.map((x) => [x.hook, x.delivered, x.attempts])).toEqual([
      ['down', false, 3],
      ['hangs', false, 3],
      ['closed', false, 3],
    ]);
    expect(down.received).toHaveLength(3);
    expect(Date.now() - started).toBeLessThan(3 * 500 + 150 + 1000);
  });

  it('speaks Slack-compatible text and honours event filters', async () => {
    const r = await receiver();
    const sink = webhookSink(
      [
        { name: 'slack', url: r.url('/slack'), format: 'slack', events: ['host-rolled-back', 'finished'] },
        { name: 'approvals', url: r.url('/approvals'), format: 'json', events: ['approval-requested'] },
      ],
      quiet,
      policy,
    );
    await sink.deliver('c-1', rolledBack);
    expect(r.received.map((x) => x.path)).toEqual(['/slack']);
    expect(JSON.parse(r.received[0]!.body)).toEqual({
      text: '[host-rolled-back] c-1 (host nas-01): nas-01 was rolled back to its saved image: reboot did not succeed',
    });
  });

  it('refuses a bad ROLLOUT_WEBHOOKS, naming the problem', () => {
    expect(() => webhooksFromEnv('not json')).toThrow(/not JSON/);
    expect(() => webhooksFromEnv('[{"name":"x","url":"ftp://h/"}]')).toThrow(/0\.url/);
    expect(() => webhooksFromEnv('[{"name":"x","url":"http://h/","format":"teams"}]')).toThrow(/0\.format/);
    expect(webhooksFromEnv(undefined)).toEqual([]);
  });
});
