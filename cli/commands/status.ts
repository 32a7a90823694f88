import type { Client } from '@temporalio/client';
import { campaignStatus } from '../../client/campaigns.js';
import { connectClient } from '../../client/connection.js';
import { settings } from '../../runtime/config.js';
import { TERMINAL_CAMPAIGN_STATES } from '../../domain/schema.js';
import { EXIT, requireFlag, type CommandInput } from '../common.js';
import { isUnreachable } from '../errors.js';
import { formatStatus } from '../format.js';
import { clearScreen, print } from '../output.js';

export async function run({ rest, flags }: CommandInput): Promise<number> {
  const id = requireFlag(rest[0], 'campaign ID');
  if (flags.watch) return watchStatus(id, flags.json);
  const client = await connectClient(settings().temporal);
  try {
    const status = await campaignStatus(client, id);
    print(flags.json ? `${JSON.stringify(status, null, 2)}\n` : `${formatStatus(status)}\n`);
    return EXIT.ok;
  } finally {
    await client.connection.close();
  }
}

/** How long `status --watch` keeps reconnecting before it gives up on an unreachable server. */
const WATCH_OUTAGE_LIMIT_MS = 10 * 60_000;
const WATCH_EVERY_MS = 2_000;
/** Each look gets this long, so an outage shows as "reconnecting…" within seconds, not a frozen screen. */
const WATCH_DEADLINE_MS = 4_000;

/**
 * Redraws the campaign's status every 2 s until it ends. A server or worker that is briefly away (a
 * restart, a network blip) is ridden out: "reconnecting…" is shown and the watch goes on, for up to
 * 10 minutes of continuous outage.
 */
async function watchStatus(id: string, json: boolean): Promise<number> {
  const config = settings().temporal;
  let client: Client | undefined;
  let outageSince: number | undefined;
  try {
    for (;;) {
      try {
        client ??= await connectClient(config);
        const status = await campaignStatus(client, id, WATCH_DEADLINE_MS);
        outageSince = undefined;
        if (json) print(`${JSON.stringify(status)}\n`);
        else {
          clearScreen();
          print(`${formatStatus(status, { bars: true })}\n`);
        }
        if (TERMINAL_CAMPAIGN_STATES.includes(status.state)) return EXIT.ok;
      } catch (err) {
        if (!isUnreachable(err)) throw err;
        outageSince ??= Date.now();
        const away = Math.round((Date.now() - outageSince) / 1000);
        if (Date.now() - outageSince > WATCH_OUTAGE_LIMIT_MS) throw err;
        const line = `reconnecting… (Temporal or the worker has not answered for ${away} s)`;
        print(json ? `${JSON.stringify({ reconnecting: true, unreachableForSec: away })}\n` : `${line}\n`);
      }
      await new Promise((r) => setTimeout(r, WATCH_EVERY_MS));
    }
  } finally {
    await client?.connection.close();
  }
}
