import type { Client } from '@temporalio/client';
import { campaignStatus } from '../../client/campaigns.js';
import { connectClient } from '../../client/connection.js';
import { settings } from '../../runtime/config.js';
import { TERMINAL_CAMPAIGN_STATES, type CampaignStatus } from '../../domain/schema.js';
import { EXIT, requireFlag, type CommandInput } from '../common.js';
import { isUnreachable } from '../errors.js';
import { formatStatus } from '../format.js';
import { clearScreen, print } from '../output.js';
import { withReading } from '../session.js';

export async function run({ rest, flags }: CommandInput): Promise<number> {
  const id = requireFlag(rest[0], 'campaign ID');
  if (flags.watch) return watchStatus(id, flags.json);
  const status = await withReading((reading) => reading.status(id));
  print(flags.json ? `${JSON.stringify(status, null, 2)}\n` : `${formatStatus(status)}\n`);
  return EXIT.ok;
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
  if (settings().remoteApi)
    return withReading((reading) => watch(() => reading.status(id), json, 'the rollout API'));
  const config = settings().temporal;
  let client: Client | undefined;
  try {
    return await watch(
      async () => {
        client ??= await connectClient(config);
        return campaignStatus(client, id, WATCH_DEADLINE_MS);
      },
      json,
      'Temporal or the worker',
    );
  } finally {
    await client?.connection.close();
  }
}

async function watch(look: () => Promise<CampaignStatus>, json: boolean, away: string): Promise<number> {
  let outageSince: number | undefined;
  for (;;) {
    try {
      const status = await look();
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
      const seconds = Math.round((Date.now() - outageSince) / 1000);
      if (Date.now() - outageSince > WATCH_OUTAGE_LIMIT_MS) throw err;
      const line = `reconnecting… (${away} has not answered for ${seconds} s)`;
      print(json ? `${JSON.stringify({ reconnecting: true, unreachableForSec: seconds })}\n` : `${line}\n`);
    }
    await new Promise((r) => setTimeout(r, WATCH_EVERY_MS));
  }
}
