/**
 * What the commands that read or act share: the rollout store, a Temporal client, the audited action
 * service, and who is acting. Loaded only by the commands that need them.
 */
import { auditWriter } from '../adapters/audit-writer.js';
import { openRolloutStore, type RolloutStore } from '../adapters/rollout-store.js';
import type { Client } from '@temporalio/client';
import { actingAs, type Acting, type Reading } from '../client/acting.js';
import { rolloutActions, type Actor, type RolloutActions } from '../client/actions.js';
import { campaignStatus, Refused } from '../client/campaigns.js';
import { ledgerRows } from '../client/ledger-report.js';
import { connectClient } from '../client/connection.js';
import { decisionSigner, personalSigner, serviceSigner, type DecisionSigner } from '../client/signing.js';
import { cliToken, settings, type Settings } from '../runtime/config.js';
import { UsageError } from './common.js';

/**
 * Who runs this command: the user whose token is in ROLLOUT_TOKEN (or the file ROLLOUT_TOKEN_FILE),
 * with that user's role. There is no unauthenticated way to act: every decision is signed for a user.
 */
async function actorFrom(store: RolloutStore): Promise<Actor> {
  const token = cliToken();
  if (!token)
    throw new UsageError('set ROLLOUT_TOKEN (or ROLLOUT_TOKEN_FILE) to your token from `rollout users add`');
  const user = await store.userByToken(token);
  if (!user) {
    await auditWriter(store).refusedSignIn('cli', 'Unauthenticated: unknown token');
    throw new Refused('Unauthenticated', 'unknown token (ROLLOUT_TOKEN or ROLLOUT_TOKEN_FILE)');
  }
  return { identity: user.name, role: user.role, via: 'cli' };
}

/** What signs the user's decisions: their own key (ROLLOUT_SIGNING_KEY), else the service key. */
async function cliSigner(store: RolloutStore, actor: Actor): Promise<DecisionSigner> {
  const { signingKeyFile, serviceKeyFile } = settings();
  const signer = signingKeyFile
    ? await personalSigner(store, signingKeyFile, actor.identity)
    : await serviceSigner(store, serviceKeyFile);
  return decisionSigner(signer, 'cli');
}

/** Reads sign nothing. */
const READ_ONLY: DecisionSigner = {
  keyId: '0'.repeat(64),
  sign: () => {
    throw new Error('a read-only command tried to sign a decision');
  },
};

/** The action service as this installation's settings compose it (the CLI's and the API's). */
export function serviceActions(
  config: Settings,
  client: Client,
  store: RolloutStore,
  signer: DecisionSigner,
): RolloutActions {
  return rolloutActions({
    client,
    taskQueue: config.temporal.taskQueue,
    campaigns: store.campaignFiles,
    store,
    signer,
    artifacts: config.artifacts,
  });
}

export async function withStore<T>(fn: (store: RolloutStore) => Promise<T>): Promise<T> {
  const store = await openRolloutStore(settings().database);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

async function withClient<T>(
  store: RolloutStore,
  signer: DecisionSigner,
  fn: (actions: RolloutActions) => Promise<T>,
): Promise<T> {
  const config = settings();
  const client = await connectClient(config.temporal);
  try {
    return await fn(serviceActions(config, client, store, signer));
  } finally {
    await client.connection.close();
  }
}

/**
 * The person's reads: through the rollout API with their token when ROLLOUT_API_URL is set; else from
 * here, each opening only what it needs (a status asks Temporal; the ledger and the audit log read the
 * store).
 */
export async function withReading<T>(fn: (reading: Reading) => Promise<T>): Promise<T> {
  const api = await remoteApi();
  if (api) return fn(api);
  return fn({
    status: (id) => withTemporal((client) => campaignStatus(client, id)),
    report: (id) => withReader((actions) => actions.report(id)),
    hosts: (id, state) => withReader((actions) => actions.hosts(id, state)),
    ledger: (filter) =>
      withStore((store) =>
        ledgerRows(store, {
          ...(filter.patchId ? { patchId: filter.patchId } : {}),
          missing: filter.missing,
        }),
      ),
    audit: (filter) =>
      withStore((store) =>
        store.auditEntries({
          ...(filter.campaignId ? { campaignId: filter.campaignId } : {}),
          limit: filter.limit,
        }),
      ),
    verifyAudit: () => withStore((store) => store.verifyAudit()),
  });
}

/**
 * The person's actions: through the rollout API with their token when ROLLOUT_API_URL is set (this
 * process then holds no Temporal identity and opens no database), else the action service here, as the
 * user the token names in the local store.
 */
export async function withActing<T>(fn: (acting: Acting) => Promise<T>): Promise<T> {
  const api = await remoteApi();
  if (api) return fn(api);
  return withActions((actions, actor) => fn(actingAs(actions, actor)));
}

/** The rollout API as this person's service, when ROLLOUT_API_URL is set. */
async function remoteApi(): Promise<(Acting & Reading) | undefined> {
  const { remoteApi } = settings();
  if (!remoteApi) return undefined;
  const token = cliToken();
  if (!token)
    throw new UsageError(
      'set ROLLOUT_TOKEN (or ROLLOUT_TOKEN_FILE) to your token: ROLLOUT_API_URL sends it with every request',
    );
  const { remoteService } = await import('../client/remote-api.js');
  return remoteService(remoteApi, token);
}

async function withTemporal<T>(fn: (client: Client) => Promise<T>): Promise<T> {
  const client = await connectClient(settings().temporal);
  try {
    return await fn(client);
  } finally {
    await client.connection.close();
  }
}

async function withReader<T>(fn: (actions: RolloutActions, store: RolloutStore) => Promise<T>): Promise<T> {
  return withStore((store) => withClient(store, READ_ONLY, (actions) => fn(actions, store)));
}

async function withActions<T>(fn: (actions: RolloutActions, actor: Actor) => Promise<T>): Promise<T> {
  return withStore(async (store) => {
    const actor = await actorFrom(store);
    return withClient(store, await cliSigner(store, actor), (actions) => fn(actions, actor));
  });
}
