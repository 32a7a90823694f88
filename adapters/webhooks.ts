/**
 * Webhook delivery of notifications: generic JSON or Slack-compatible `{ text }`, POSTed to each hook
 * that wants the kind, retried with backoff, each attempt bounded by a timeout. Delivery never throws:
 * a hook that stays down is logged (by name, never by URL, which may hold a secret) and given up.
 */
import type { Logger } from 'pino';
import { z } from 'zod';
import { Webhook, type Notification } from '../domain/schema.js';

export interface DeliveryPolicy {
  attempts: number;
  firstBackoffMs: number;
  timeoutMs: number;
}

export const DEFAULT_DELIVERY: DeliveryPolicy = { attempts: 4, firstBackoffMs: 500, timeoutMs: 5_000 };

/** Parses ROLLOUT_WEBHOOKS (a JSON array of hooks); throws naming the problem. */
export function webhooksFromEnv(text: string | undefined): Webhook[] {
  if (!text?.trim()) return [];
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(
      'ROLLOUT_WEBHOOKS is not JSON: expected [{"name": …, "url": …, "format": "json"|"slack"}]',
    );
  }
  const parsed = z.array(Webhook).safeParse(json);
  if (!parsed.success)
    throw new Error(
      `ROLLOUT_WEBHOOKS: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  return parsed.data;
}

function webhookBody(hook: Webhook, campaignId: string, n: Notification): string {
  if (hook.format === 'slack') {
    const where = [n.stage && `stage ${n.stage}`, n.hostId && `host ${n.hostId}`].filter(Boolean).join(', ');
    return JSON.stringify({ text: `[${n.kind}] ${campaignId}${where ? ` (${where})` : ''}: ${n.text}` });
  }
  return JSON.stringify({ campaignId, ...n });
}

export interface NotificationSink {
  deliver(
    campaignId: string,
    n: Notification,
  ): Promise<{ hook: string; delivered: boolean; attempts: number }[]>;
}

export function webhookSink(
  hooks: Webhook[],
  logger: Logger,
  policy: DeliveryPolicy = DEFAULT_DELIVERY,
): NotificationSink {
  const post = async (hook: Webhook, body: string) => {
    for (let attempt = 1; ; attempt++) {
      let problem: string;
      try {
        const res = await fetch(hook.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
          signal: AbortSignal.timeout(policy.timeoutMs),
          redirect: 'error',
        });
        await res.body?.cancel();
        if (res.ok) return { hook: hook.name, delivered: true, attempts: attempt };
        problem = `HTTP ${res.status}`;
      } catch (err) {
        problem = (err as Error).name === 'TimeoutError' ? 'timed out' : 'connection failed';
      }
      if (attempt >= policy.attempts) {
        logger.warn({ webhook: hook.name, attempts: attempt, problem }, 'webhook delivery given up');
        return { hook: hook.name, delivered: false, attempts: attempt };
      }
      await new Promise((r) => setTimeout(r, policy.firstBackoffMs * 2 ** (attempt - 1)));
    }
  };
  return {
    async deliver(campaignId, n) {
      const wanted = hooks.filter((h) => !h.events || h.events.includes(n.kind));
      return Promise.all(wanted.map((h) => post(h, webhookBody(h, campaignId, n))));
    },
  };
}
