/**
 * The `rollout` command. One top-level handler tells a user's error (clear message, exit code) from a
 * bug (stack trace). Exit codes: 0 ok, 1 demo/campaign did not end as expected, 2 bad input,
 * 3 refused by the workflow, 4 not found, 5 Temporal unreachable, 70 internal error.
 */
import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { LogLevel } from '@temporalio/worker';
import { stringify as toYaml } from 'yaml';
import { fileCampaignStore } from '../adapters/campaign-store.js';
import {
  KeyExists,
  openRolloutStore,
  TOKEN_DAYS,
  UserExists,
  type RolloutStore,
} from '../adapters/rollout-store.js';
import { keyIdOf, readPublicKeyPem } from '../adapters/signing.js';
import { apiConfigFromEnv, createApi } from '../api/server.js';
import { webhooksFromEnv } from '../adapters/webhooks.js';
import { rolloutActions, type Actor, type RolloutActions } from '../client/actions.js';
import { ledgerCsv, ledgerRows } from '../client/ledger-report.js';
import { renderReportHtml } from '../client/report-html.js';
import { BadInput, campaignStatus, Refused } from '../client/campaigns.js';
import { CampaignFileError, parseCampaignFile } from '../client/campaign-file.js';
import { connectClient, temporalConfigFromEnv } from '../client/connection.js';
import { decisionSigner, personalSigner, serviceSigner, type DecisionSigner } from '../client/signing.js';
import { artifactPolicyFromEnv, cliToken, personalKeyFile, serviceKeyFile } from '../runtime/config.js';
import { PlanInfeasible, planCampaign } from '../domain/planner.js';
import {
  campaignFileJsonSchema,
  HostAction,
  TERMINAL_CAMPAIGN_STATES,
  UserName,
  UserRole,
} from '../domain/schema.js';
import { labDown, labStatus, labUp, readInventory } from '../lab/lab.js';
import { labCampaign } from '../lab/lab-campaign.js';
import { PortUnavailable, startDevServer } from '../runtime/dev-server.js';
import { dataDir, storeDir, storeLocation } from '../runtime/paths.js';
import { runSetup } from '../runtime/setup.js';
import { createLogger } from '../workers/logger.js';
import { createWorker } from '../workers/worker.js';
import { printDemo, runDemo } from './demo.js';
import { planLines } from './plan-text.js';
import { clearScreen, print, printError } from './output.js';
import { columns, formatAudit, formatHosts, formatLedger, formatReport, formatStatus } from './format.js';

export const EXIT = {
  ok: 0,
  notAsExpected: 1,
  usage: 2,
  refused: 3,
  notFound: 4,
  unreachable: 5,
  internal: 70,
} as const;

class UsageError extends Error {}

export const USAGE = `usage: rollout <command> [options]        (every command takes --json; -h, --help prints this)

Run and try it
  demo [--json] [--hosts N] [--net 127.0.20] [--stay]
                                       full demo campaign on embedded defaults, then tear down
                                       (--stay keeps the dashboard up until Ctrl-C)
  setup [--quiet]                      install what is missing (Debian packages, Temporal binaries)
  server [--port 7233]                 the embedded Temporal dev server, in the foreground
  worker                               a worker (TEMPORAL_ADDRESS, ROLLOUT_KEY_DIR, ...; see README)
  api                                  the HTTP API and dashboard (ROLLOUT_API_HOST, ROLLOUT_API_PORT)
  lab up [--hosts N] [--net 127.0.10]  start the lab fleet (root)
  lab status [--json] | lab down       the lab's hosts / stop every lab process
  lab campaign                         print a campaign file (YAML) for the running lab

Plan and start
  schema                               the campaign file's JSON Schema
  plan -f FILE [--json]                dry run: test systems, waves, gates, windows, budgets, exclusions
  start -f FILE                        validate, plan, check the artifact and start; prints the campaign ID

Watch and report
  status ID [--json] [--watch]         state, gates, budget, wave, failed hosts; --watch redraws every 2 s
                                       and rides out a short outage ("reconnecting…")
  hosts ID [--state S] [--json]        every host of the campaign with its state, step, image, failure
  report ID [--json | --html]          every host's outcome, approvals with their evidence, decisions, times
  ledger [--patch P] [--missing] [--format table|json|csv]
                                       hosts x patches; --missing: who lacks the patch
  audit verify [--json]                check the audit log's hash chain (exit 1 if broken)
  audit list [--campaign ID] [--limit N] [--json]
                                       read the audit log

Act (as the user whose token is in ROLLOUT_TOKEN or the file ROLLOUT_TOKEN_FILE; every decision is
signed: with your own key if ROLLOUT_SIGNING_KEY names it, else with this installation's service key)
  approve ID --stage NAME [--checksum SHA256 --host-set SHA256] [--comment TEXT]
                                       without both values, a terminal shows the evidence and asks
  reject ID --stage NAME --reason TEXT
  review-soak ID accept|fail --reason TEXT           decide an inconclusive soak
  pause|resume|abort ID [--reason TEXT]              operator controls
  host ID HOST retry|rollback|mark-fixed|skip [--note TEXT]   on-call actions

Users and keys
  users add NAME --role operator|vendor|oncall|auditor [--days 90]   prints the token once
  users rotate NAME [--days 90]        a new token; the old one stops working
  users list | users remove NAME
  keys register USER --public-key FILE a person's own Ed25519 key (PEM): their decisions may be signed with it
  keys list | keys revoke KEY_ID       decisions signed with a revoked key are refused

Exit codes: 0 ok, 1 not as expected (demo, broken audit chain), 2 bad input, 3 refused,
4 not found, 5 Temporal unreachable or no worker answered, 70 internal error.
`;

const say = (quiet: boolean) => (line: string) => {
  if (!quiet) printError(`${line}\n`);
};

function labDir(): string {
  return process.env.ROLLOUT_LAB_DIR ?? `${dataDir()}/lab`;
}

function requireFlag(value: string | undefined, flag: string): string {
  if (!value) throw new UsageError(`missing ${flag}`);
  return value;
}

function readDocument(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read campaign file ${path}: ${(err as Error).message}`);
  }
}

function readCampaign(path: string) {
  return parseCampaignFile(readDocument(path), path);
}

class NotFound extends Error {}

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
    await store.appendAudit({
      at: new Date().toISOString(),
      actor: 'anonymous',
      role: 'none',
      via: 'cli',
      action: 'sign-in',
      outcome: 'refused',
      detail: 'Unauthenticated: unknown token',
    });
    throw new Refused('Unauthenticated', 'unknown token (ROLLOUT_TOKEN or ROLLOUT_TOKEN_FILE)');
  }
  return { identity: user.name, role: user.role, via: 'cli' };
}

/** What signs the user's decisions: their own key (ROLLOUT_SIGNING_KEY), else the service key. */
async function cliSigner(store: RolloutStore, actor: Actor): Promise<DecisionSigner> {
  const personal = personalKeyFile();
  const signer = personal
    ? await personalSigner(store, personal, actor.identity)
    : await serviceSigner(store, serviceKeyFile());
  return decisionSigner(signer, 'cli');
}

/** Reads sign nothing. */
const READ_ONLY: DecisionSigner = {
  keyId: '0'.repeat(64),
  sign: () => {
    throw new Error('a read-only command tried to sign a decision');
  },
};

async function withStore<T>(fn: (store: RolloutStore) => Promise<T>): Promise<T> {
  const store = await openRolloutStore(storeLocation());
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
  const config = temporalConfigFromEnv();
  const client = await connectClient(config);
  try {
    return await fn(
      rolloutActions({
        client,
        taskQueue: config.taskQueue,
        campaigns: fileCampaignStore(storeDir()),
        store,
        signer,
        artifacts: artifactPolicyFromEnv(),
      }),
    );
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

async function main(argv: string[]): Promise<number> {
  const { values: flags, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      json: { type: 'boolean', default: false },
      quiet: { type: 'boolean', default: false },
      hosts: { type: 'string' },
      net: { type: 'string' },
      port: { type: 'string' },
      file: { type: 'string', short: 'f' },
      stage: { type: 'string' },
      checksum: { type: 'string' },
      'host-set': { type: 'string' },
      comment: { type: 'string' },
      reason: { type: 'string' },
      note: { type: 'string' },
      watch: { type: 'boolean', default: false },
      html: { type: 'boolean', default: false },
      state: { type: 'string' },
      patch: { type: 'string' },
      missing: { type: 'boolean', default: false },
      format: { type: 'string' },
      campaign: { type: 'string' },
      limit: { type: 'string' },
      role: { type: 'string' },
      days: { type: 'string' },
      'public-key': { type: 'string' },
      stay: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [command, ...rest] = positionals;
  if (flags.help || !command) {
    print(USAGE);
    return command || flags.help ? EXIT.ok : EXIT.usage;
  }
  const hostCount = flags.hosts === undefined ? 8 : Number(flags.hosts);
  if (!Number.isInteger(hostCount) || hostCount < 2 || hostCount > 200)
    throw new UsageError('--hosts must be 2..200');

  switch (command) {
    case 'setup':
      runSetup(say(flags.quiet));
      return EXIT.ok;

    case 'demo': {
      const result = await runDemo(
        { json: flags.json, hosts: hostCount, net: flags.net ?? '127.0.20', stay: flags.stay },
        say(false),
      );
      printDemo(result, flags.json);
      for (const problem of result.problems) printError(`demo: ${problem}\n`);
      return result.asExpected ? EXIT.ok : EXIT.notAsExpected;
    }

    case 'server': {
      const port = Number(flags.port ?? 7233);
      const server = await startDevServer({
        port,
        dbFile: `${dataDir()}/temporal/dev.sqlite`,
        logFile: `${dataDir()}/temporal/dev.log`,
      });
      printError(
        `Temporal dev server on ${server.address}; state in ${dataDir()}/temporal/dev.sqlite. Ctrl-C stops it.\n`,
      );
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await server.stop();
      return EXIT.ok;
    }

    case 'worker': {
      const config = temporalConfigFromEnv();
      const logger = createLogger();
      const keyDir = process.env.ROLLOUT_KEY_DIR ?? `${labDir()}/keys`;
      const ledger = await openRolloutStore(storeLocation());
      const { worker, connection } = await createWorker({
        config,
        keyDir,
        storeDir: storeDir(),
        ledger,
        webhooks: webhooksFromEnv(process.env.ROLLOUT_WEBHOOKS),
        metricsAddress: process.env.ROLLOUT_METRICS_ADDRESS ?? '127.0.0.1:9464',
        sdkLogLevel: sdkLogLevelFromEnv(process.env.ROLLOUT_SDK_LOG_LEVEL),
        logger,
      });
      logger.info(
        { address: config.address, namespace: config.namespace, taskQueue: config.taskQueue },
        'worker started',
      );
      const stop = () => worker.shutdown();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      await worker.run();
      await connection.close();
      await ledger.close();
      return EXIT.ok;
    }

    case 'lab': {
      const [sub] = rest;
      if (sub === 'up') {
        const inventory = await labUp({
          dir: labDir(),
          hosts: hostCount,
          net: flags.net ?? '127.0.10',
          sshPort: 2222,
          bootDelayMs: 1500,
        });
        print(
          `lab up: ${inventory.hosts.length} hosts, controller ${inventory.controller.address}; state in ${labDir()}\n`,
        );
        return EXIT.ok;
      }
      if (sub === 'down') {
        await labDown(labDir());
        print('lab down\n');
        return EXIT.ok;
      }
      if (sub === 'status') {
        const status = labStatus(labDir());
        if (flags.json) print(`${JSON.stringify(status, null, 2)}\n`);
        else {
          print(`lab ${status.running ? 'running' : 'not running'} in ${labDir()}\n`);
          for (const h of status.hosts)
            print(
              `  ${h.id.padEnd(12)} ${h.address.padEnd(14)} ${h.role.padEnd(24)} power ${h.power.padEnd(4)} ${h.booted ? 'booted' : 'down  '} version ${h.version}\n`,
            );
        }
        return EXIT.ok;
      }
      if (sub === 'campaign') {
        const inventory = readInventory(labDir());
        if (!inventory) throw new UsageError('no lab: run `rollout lab up` first');
        print(toYaml(labCampaign(inventory)));
        return EXIT.ok;
      }
      throw new UsageError('usage: rollout lab up|down|status|campaign');
    }

    case 'schema':
      print(`${JSON.stringify(campaignFileJsonSchema(), null, 2)}\n`);
      return EXIT.ok;

    case 'plan': {
      const file = readCampaign(requireFlag(flags.file, '-f FILE'));
      const plan = planCampaign(file);
      if (flags.json) {
        print(`${JSON.stringify(plan, null, 2)}\n`);
        return EXIT.ok;
      }
      for (const line of planLines(file, plan)) print(`${line}\n`);
      return EXIT.ok;
    }

    case 'start': {
      const path = requireFlag(flags.file, '-f FILE');
      const document = readDocument(path);
      const id = await withActions((actions, actor) => actions.start(actor, document, path));
      print(flags.json ? `${JSON.stringify({ campaignId: id })}\n` : `${id}\n`);
      return EXIT.ok;
    }

    case 'status': {
      const id = requireFlag(rest[0], 'campaign ID');
      if (flags.watch) return watchStatus(id, flags.json);
      const client = await connectClient(temporalConfigFromEnv());
      try {
        const status = await campaignStatus(client, id);
        print(flags.json ? `${JSON.stringify(status, null, 2)}\n` : `${formatStatus(status)}\n`);
        return EXIT.ok;
      } finally {
        await client.connection.close();
      }
    }

    case 'report': {
      const id = requireFlag(rest[0], 'campaign ID');
      const report = await withReader((actions) => actions.report(id));
      if (flags.html) print(renderReportHtml(report));
      else if (flags.json) print(`${JSON.stringify(report, null, 2)}\n`);
      else print(`${formatReport(report)}\n`);
      return EXIT.ok;
    }

    case 'hosts': {
      const id = requireFlag(rest[0], 'campaign ID');
      const hosts = await withReader((actions) => actions.hosts(id, flags.state));
      print(flags.json ? `${JSON.stringify(hosts, null, 2)}\n` : formatHosts(hosts));
      return EXIT.ok;
    }

    case 'approve': {
      const id = requireFlag(rest[0], 'campaign ID');
      const stage = requireFlag(flags.stage, '--stage NAME');
      const shown = await evidenceSeen(id, stage, 'approve', flags);
      const record = await withActions((actions, actor) =>
        actions.approve(actor, id, {
          stage,
          artifactSha256: shown.artifactSha256,
          hostSetDigest: shown.hostSetDigest,
          comment: flags.comment ?? '',
        }),
      );
      print(
        flags.json
          ? `${JSON.stringify(record)}\n`
          : `approved stage ${record.stage} as ${record.identity} at ${record.at} (${record.hostCount} hosts)\n`,
      );
      return EXIT.ok;
    }

    case 'reject': {
      const id = requireFlag(rest[0], 'campaign ID');
      const stage = requireFlag(flags.stage, '--stage NAME');
      const reason = requireFlag(flags.reason, '--reason TEXT');
      await evidenceSeen(id, stage, 'reject', flags);
      const record = await withActions((actions, actor) => actions.reject(actor, id, stage, reason));
      print(
        flags.json ? `${JSON.stringify(record)}\n` : `rejected stage ${record.stage} as ${record.identity}\n`,
      );
      return EXIT.ok;
    }

    case 'review-soak': {
      const [id, decision] = rest;
      if (decision !== 'accept' && decision !== 'fail')
        throw new UsageError('usage: rollout review-soak ID accept|fail');
      const reason = requireFlag(flags.reason, '--reason TEXT');
      const campaignId = requireFlag(id, 'campaign ID');
      await evidenceSeen(campaignId, undefined, `${decision} the soak of`, flags);
      const record = await withActions((actions, actor) =>
        actions.reviewSoak(actor, campaignId, decision, reason),
      );
      print(flags.json ? `${JSON.stringify(record)}\n` : `soak ${record.action} recorded at ${record.at}\n`);
      return EXIT.ok;
    }

    case 'pause':
    case 'resume':
    case 'abort': {
      const id = requireFlag(rest[0], 'campaign ID');
      const record = await withActions((actions, actor) =>
        actions.control(actor, id, command, flags.reason ?? ''),
      );
      print(flags.json ? `${JSON.stringify(record)}\n` : `${record.action} recorded at ${record.at}\n`);
      return EXIT.ok;
    }

    case 'host': {
      const [id, hostId, action] = rest;
      const parsed = HostAction.shape.action.safeParse(action);
      if (!parsed.success)
        throw new UsageError('usage: rollout host ID HOST retry|rollback|mark-fixed|skip --note TEXT');
      const record = await withActions((actions, actor) =>
        actions.actOnHost(
          actor,
          requireFlag(id, 'campaign ID'),
          requireFlag(hostId, 'HOST'),
          parsed.data,
          flags.note ?? '',
        ),
      );
      print(
        flags.json
          ? `${JSON.stringify(record)}\n`
          : `${record.action} ${record.hostId} recorded at ${record.at}\n`,
      );
      return EXIT.ok;
    }

    case 'ledger': {
      const format = flags.format ?? (flags.json ? 'json' : 'table');
      if (!['table', 'json', 'csv'].includes(format)) throw new UsageError('--format table|json|csv');
      const rows = await withStore((store) =>
        ledgerRows(store, { ...(flags.patch ? { patchId: flags.patch } : {}), missing: flags.missing }),
      );
      print(
        format === 'csv'
          ? ledgerCsv(rows)
          : format === 'json'
            ? `${JSON.stringify(rows, null, 2)}\n`
            : formatLedger(rows),
      );
      return EXIT.ok;
    }

    case 'audit': {
      const [sub] = rest;
      if (sub === 'verify') {
        const verdict = await withStore((store) => store.verifyAudit());
        print(
          flags.json
            ? `${JSON.stringify(verdict)}\n`
            : verdict.ok
              ? `audit chain verified: ${verdict.entries} entries, head ${verdict.head}\n`
              : `AUDIT CHAIN BROKEN at entry ${verdict.firstBad?.seq}: ${verdict.firstBad?.problem} (${verdict.entries} entries verify before it)\n`,
        );
        return verdict.ok ? EXIT.ok : EXIT.notAsExpected;
      }
      if (sub === 'list' || sub === undefined) {
        const limit = flags.limit ? Number(flags.limit) : 50;
        if (!Number.isInteger(limit) || limit < 1) throw new UsageError('--limit must be a positive number');
        const entries = await withStore((store) =>
          store.auditEntries({ ...(flags.campaign ? { campaignId: flags.campaign } : {}), limit }),
        );
        print(flags.json ? `${JSON.stringify(entries, null, 2)}\n` : formatAudit(entries));
        return EXIT.ok;
      }
      throw new UsageError('usage: rollout audit verify|list [--campaign ID] [--limit N]');
    }

    case 'users': {
      const [sub, name] = rest;
      const admin = `${userInfo().username}@${process.env.HOSTNAME ?? 'localhost'}`;
      return withStore(async (store) => {
        /** User management is an administrator's act on this machine: audited as the OS user. */
        const auditAdmin = (
          action: 'user-add' | 'user-remove' | 'user-rotate',
          outcome: 'accepted' | 'refused',
          detail: string,
        ) =>
          store.appendAudit({
            at: new Date().toISOString(),
            actor: admin,
            role: 'admin',
            via: 'cli',
            action,
            outcome,
            detail,
          });
        if (sub === 'add') {
          const userName = UserName.safeParse(name);
          if (!userName.success)
            throw new UsageError(
              `usage: rollout users add NAME --role ROLE (${userName.error.issues[0]?.message})`,
            );
          const role = UserRole.safeParse(flags.role);
          if (!role.success) throw new UsageError(`--role must be one of ${UserRole.options.join(', ')}`);
          const audit = (outcome: 'accepted' | 'refused', detail: string) =>
            auditAdmin('user-add', outcome, detail);
          try {
            const { token, user } = await store.addUser(userName.data, role.data, tokenDays(flags.days));
            await audit('accepted', `${userName.data} as ${role.data}, token until ${user.expiresAt}`);
            print(
              flags.json
                ? `${JSON.stringify({ name: userName.data, role: role.data, token, expiresAt: user.expiresAt })}\n`
                : `user ${userName.data} (${role.data}) added. Token (shown once, only its hash is kept; valid until ${user.expiresAt}):\n${token}\n`,
            );
            return EXIT.ok;
          } catch (err) {
            if (err instanceof UserExists) {
              await audit('refused', `UserExists: ${err.message}`);
              throw new Refused('UserExists', err.message);
            }
            throw err;
          }
        }
        if (sub === 'remove') {
          const removed = await store.removeUser(requireFlag(name, 'NAME'));
          await auditAdmin(
            'user-remove',
            removed ? 'accepted' : 'refused',
            removed ? `${name}` : `NotFound: no user ${name}`,
          );
          if (!removed) throw new NotFound(`no user ${name}`);
          print(flags.json ? `${JSON.stringify({ removed: name })}\n` : `user ${name} removed\n`);
          return EXIT.ok;
        }
        if (sub === 'rotate') {
          const rotated = await store.rotateToken(requireFlag(name, 'NAME'), tokenDays(flags.days));
          await auditAdmin(
            'user-rotate',
            rotated ? 'accepted' : 'refused',
            rotated ? `${name}: new token until ${rotated.user.expiresAt}` : `NotFound: no user ${name}`,
          );
          if (!rotated) throw new NotFound(`no user ${name}`);
          print(
            flags.json
              ? `${JSON.stringify({ name, token: rotated.token, expiresAt: rotated.user.expiresAt })}\n`
              : `new token for ${name} (the old one no longer works; valid until ${rotated.user.expiresAt}):\n${rotated.token}\n`,
          );
          return EXIT.ok;
        }
        if (sub === 'list' || sub === undefined) {
          const users = await store.users();
          print(
            flags.json
              ? `${JSON.stringify(users, null, 2)}\n`
              : columns(
                  users.map((u) => [
                    u.name,
                    u.role,
                    `since ${u.createdAt}`,
                    u.expiresAt ? `until ${u.expiresAt}` : '',
                  ]),
                )
                  .map((l) => `${l}\n`)
                  .join(''),
          );
          return EXIT.ok;
        }
        throw new UsageError(
          'usage: rollout users add NAME --role ROLE [--days N] | rotate NAME [--days N] | list | remove NAME',
        );
      });
    }

    case 'keys': {
      const [sub, arg] = rest;
      const admin = `${userInfo().username}@${process.env.HOSTNAME ?? 'localhost'}`;
      return withStore(async (store) => {
        const audit = (
          action: 'key-register' | 'key-revoke',
          outcome: 'accepted' | 'refused',
          detail: string,
        ) =>
          store.appendAudit({
            at: new Date().toISOString(),
            actor: admin,
            role: 'admin',
            via: 'cli',
            action,
            outcome,
            detail,
          });
        if (sub === 'register') {
          const owner = requireFlag(arg, 'USER');
          if (!(await store.userRole(owner)))
            throw new NotFound(`no user ${owner} (rollout users add first)`);
          const file = requireFlag(flags['public-key'], '--public-key FILE');
          let raw: Buffer;
          try {
            raw = readPublicKeyPem(readFileSync(file, 'utf8'));
          } catch (err) {
            throw new UsageError(
              `--public-key ${file}: ${(err as Error).message} (an Ed25519 public key in PEM)`,
            );
          }
          const keyId = keyIdOf(raw);
          try {
            await store.registerKey({ keyId, owner, kind: 'personal', publicKey: raw.toString('base64') });
          } catch (err) {
            if (err instanceof KeyExists) {
              await audit('key-register', 'refused', `KeyExists: ${keyId}`);
              throw new Refused('KeyExists', err.message);
            }
            throw err;
          }
          await audit('key-register', 'accepted', `${owner}: personal key ${keyId}`);
          print(
            flags.json
              ? `${JSON.stringify({ owner, keyId })}\n`
              : `personal key ${keyId} registered for ${owner}\n`,
          );
          return EXIT.ok;
        }
        if (sub === 'revoke') {
          const keyId = requireFlag(arg, 'KEY_ID');
          const revoked = await store.revokeKey(keyId);
          await audit(
            'key-revoke',
            revoked ? 'accepted' : 'refused',
            revoked ? keyId : `NotFound: no key ${keyId}`,
          );
          if (!revoked) throw new NotFound(`no key ${keyId}`);
          print(flags.json ? `${JSON.stringify({ revoked: keyId })}\n` : `key ${keyId} revoked\n`);
          return EXIT.ok;
        }
        if (sub === 'list' || sub === undefined) {
          const keys = await store.signingKeys();
          print(
            flags.json
              ? `${JSON.stringify(keys, null, 2)}\n`
              : columns(
                  keys.map((k) => [
                    k.keyId,
                    k.kind,
                    k.owner,
                    `since ${k.createdAt}`,
                    k.revokedAt ? `REVOKED ${k.revokedAt}` : '',
                  ]),
                )
                  .map((l) => `${l}\n`)
                  .join(''),
          );
          return EXIT.ok;
        }
        throw new UsageError('usage: rollout keys register USER --public-key FILE | list | revoke KEY_ID');
      });
    }

    case 'api': {
      const config = apiConfigFromEnv();
      const temporal = temporalConfigFromEnv();
      const store = await openRolloutStore(storeLocation());
      const client = await connectClient(temporal);
      const actions = rolloutActions({
        client,
        taskQueue: temporal.taskQueue,
        campaigns: fileCampaignStore(storeDir()),
        store,
        signer: decisionSigner(await serviceSigner(store, serviceKeyFile()), 'api'),
        artifacts: artifactPolicyFromEnv(),
      });
      const tls =
        config.tlsCertFile && config.tlsKeyFile
          ? { certFile: config.tlsCertFile, keyFile: config.tlsKeyFile }
          : undefined;
      const app = await createApi({ actions, store, ...(tls ? { tls } : {}) });
      await app.listen({ host: config.host, port: config.port });
      const url = `${tls ? 'https' : 'http'}://${config.host.includes(':') ? `[${config.host}]` : config.host}:${config.port}/`;
      printError(`API and dashboard on ${url} (OpenAPI: ${url}api/openapi.json). Ctrl-C stops it.\n`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await app.close();
      await client.connection.close();
      await store.close();
      return EXIT.ok;
    }

    default:
      throw new UsageError(`unknown command "${command}"\n${USAGE}`);
  }
}

/** The Temporal SDK's own log threshold (its TypeScript side and its core), default WARN. */
function sdkLogLevelFromEnv(value: string | undefined): LogLevel {
  const levels: LogLevel[] = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'];
  if (value === undefined || value === '') return 'WARN';
  const level = value.toUpperCase() as LogLevel;
  if (!levels.includes(level))
    throw new UsageError(`ROLLOUT_SDK_LOG_LEVEL must be one of ${levels.join(', ')}`);
  return level;
}

/** The evidence a decision is bound to: the checksum and host set the person saw. */
interface Seen {
  artifactSha256: string;
  hostSetDigest: string;
}

/**
 * What the person deciding was shown. With --checksum and --host-set: those (the workflow refuses them
 * if they are stale). On a terminal without them: the evidence is printed (patch checksum, host count
 * and digest, soak verdict and probes) and the person confirms. Without a terminal, or with --json, an
 * approval needs both values: nothing is filled in on the person's behalf.
 */
async function evidenceSeen(
  campaignId: string,
  stage: string | undefined,
  verb: string,
  flags: { checksum?: string | undefined; 'host-set'?: string | undefined; json: boolean },
): Promise<Seen> {
  const given = flags.checksum && flags['host-set'];
  if (given) return { artifactSha256: flags.checksum!, hostSetDigest: flags['host-set']! };
  const interactive = process.stdin.isTTY === true && process.stdout.isTTY === true && !flags.json;
  if (!interactive) {
    if (verb !== 'approve') return { artifactSha256: '', hostSetDigest: '' };
    throw new UsageError(
      'an approval binds to what you were shown: give --checksum SHA256 and --host-set SHA256 (rollout status ID shows both)',
    );
  }
  const client = await connectClient(temporalConfigFromEnv());
  let status;
  try {
    status = await campaignStatus(client, campaignId);
  } finally {
    await client.connection.close();
  }
  const gate = status.gates.find((g) => g.stage === (stage ?? status.gates[0]?.stage));
  const probes = status.soak.probes;
  print(
    [
      `campaign:  ${status.campaignId} (${status.name}), ${status.state}`,
      `patch:     ${status.patch.id} ${status.patch.version}`,
      `checksum:  ${status.patch.sha256}`,
      ...(gate ? [`stage:     ${gate.stage}: ${gate.hostCount} hosts, host-set ${gate.hostSetDigest}`] : []),
      `soak:      ${status.soak.verdict ?? 'not decided'}${status.soak.reason ? ` (${status.soak.reason})` : ''}; ${probes.length} probes, ${probes.filter((p) => p.result !== 'ok').length} not ok`,
      '',
    ].join('\n'),
  );
  const answer = await ask(
    `${verb} ${stage ? `stage ${stage} of ` : ''}campaign ${campaignId} as shown? [y/N] `,
  );
  if (!/^y(es)?$/i.test(answer.trim())) throw new Refused('NotConfirmed', 'not confirmed; nothing was sent');
  return { artifactSha256: status.patch.sha256, hostSetDigest: gate?.hostSetDigest ?? '' };
}

function ask(question: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  return new Promise((resolve) =>
    rl.question(question, (answer) => {
      rl.close();
      resolve(answer);
    }),
  );
}

/** A token's validity in days from --days (default 90, at most 400). */
function tokenDays(value: string | undefined): number {
  if (value === undefined) return TOKEN_DAYS;
  const days = Number(value);
  if (!Number.isInteger(days) || days < 1 || days > 400) throw new UsageError('--days must be 1..400');
  return days;
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
  const config = temporalConfigFromEnv();
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

function isUnreachable(err: unknown): boolean {
  const text = `${(err as Error)?.name} ${(err as Error)?.message}`;
  return /ServiceError|TransportError|Failed to connect|UNAVAILABLE|DEADLINE_EXCEEDED|deadline|ECONNREFUSED/i.test(
    text,
  );
}

/** Runs the CLI and maps failures to exit codes; only bugs print a stack. */
export async function run(argv: string[]): Promise<number> {
  try {
    return await main(argv);
  } catch (err) {
    const fail = (code: number, message: string) => {
      printError(`rollout: ${message}\n`);
      return code;
    };
    if (
      err instanceof CampaignFileError ||
      err instanceof PlanInfeasible ||
      err instanceof BadInput ||
      err instanceof PortUnavailable
    )
      return fail(EXIT.usage, err.message);
    if (err instanceof Refused) return fail(EXIT.refused, `refused (${err.type}): ${err.message}`);
    if (err instanceof UsageError || (err as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION')
      return fail(EXIT.usage, (err as Error).message);
    if (err instanceof WorkflowUpdateFailedError) {
      const cause = err.cause instanceof ApplicationFailure ? err.cause : undefined;
      return fail(EXIT.refused, `refused (${cause?.type ?? 'error'}): ${cause?.message ?? err.message}`);
    }
    if (err instanceof WorkflowNotFoundError) return fail(EXIT.notFound, `no such campaign: ${err.message}`);
    if (err instanceof NotFound) return fail(EXIT.notFound, err.message);
    if (isUnreachable(err))
      return fail(
        EXIT.unreachable,
        `cannot reach Temporal or no worker answered in time (${(err as Error).message})`,
      );
    printError(`rollout: internal error\n${(err as Error)?.stack ?? String(err)}\n`);
    return EXIT.internal;
  }
}
