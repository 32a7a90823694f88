/**
 * The `rollout` command. One top-level handler tells a user's error (clear message, exit code) from a
 * bug (stack trace). Exit codes: 0 ok, 1 demo/campaign did not end as expected, 2 bad input,
 * 3 refused by the workflow, 4 not found, 5 Temporal unreachable, 70 internal error.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { stringify as toYaml } from 'yaml';
import { fileCampaignStore } from '../adapters/campaign-store.js';
import {
  actOnHost,
  approveStage,
  BadInput,
  campaignStatus,
  controlCampaign,
  hostOutcomes,
  Refused,
  rejectStage,
  reviewSoak,
  startCampaign,
} from '../client/campaigns.js';
import { CampaignFileError, parseCampaignFile } from '../client/campaign-file.js';
import { connectClient, temporalConfigFromEnv } from '../client/connection.js';
import { formatDuration } from '../domain/duration.js';
import { PlanInfeasible, planCampaign } from '../domain/planner.js';
import { campaignFileJsonSchema, HostAction } from '../domain/schema.js';
import { windowState } from '../domain/windows.js';
import { labDown, labStatus, labUp, readInventory } from '../lab/lab.js';
import { labCampaign } from '../lab/lab-campaign.js';
import { startDevServer } from '../runtime/dev-server.js';
import { dataDir, storeDir } from '../runtime/paths.js';
import { runSetup } from '../runtime/setup.js';
import { createLogger } from '../workers/logger.js';
import { createWorker } from '../workers/worker.js';
import { printDemo, runDemo } from './demo.js';
import { buildReport, formatReport, formatStatus } from './format.js';

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

const USAGE = `usage: rollout <command> [options]

  demo [--json] [--hosts N]            full demo campaign on embedded defaults, then tear down
  setup [--quiet]                      install what is missing (Debian packages, Temporal binaries)
  server [--port 7233]                 run the embedded Temporal dev server (foreground)
  worker                               run a worker (TEMPORAL_ADDRESS etc., ROLLOUT_KEY_DIR)
  lab up [--hosts N] [--net 127.0.10]  start the lab fleet;   lab status [--json];   lab down
  lab campaign                         print a campaign file (YAML) for the running lab
  schema                               print the campaign file's JSON Schema
  plan -f FILE [--json]                dry run: test systems, waves, gates, windows, budgets, exclusions
  start -f FILE --as IDENTITY          validate FILE and start a campaign; prints its ID
  status ID [--json]                   phase, gates, budget, current wave and failed hosts
  report ID [--json]                   every host's outcome (version, image, failure) and every decision
  approve ID --stage NAME --as IDENTITY [--checksum SHA256] [--host-set SHA256] [--comment TEXT]
  reject ID --stage NAME --as IDENTITY --reason TEXT
  review-soak ID accept|fail --as IDENTITY --reason TEXT     decide an inconclusive soak
  pause|resume|abort ID --as IDENTITY [--reason TEXT]        operator controls
  host ID HOST retry|rollback|mark-fixed|skip --as IDENTITY [--note TEXT]   on-call actions
`;

const say = (quiet: boolean) => (line: string) => {
  if (!quiet) process.stderr.write(`${line}\n`);
};

function labDir(): string {
  return process.env.ROLLOUT_LAB_DIR ?? `${dataDir()}/lab`;
}

function requireFlag(value: string | undefined, flag: string): string {
  if (!value) throw new UsageError(`missing ${flag}`);
  return value;
}

function readCampaign(path: string) {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read campaign file ${path}: ${(err as Error).message}`);
  }
  return parseCampaignFile(text, path);
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
      as: { type: 'string' },
      stage: { type: 'string' },
      checksum: { type: 'string' },
      'host-set': { type: 'string' },
      comment: { type: 'string' },
      reason: { type: 'string' },
      note: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [command, ...rest] = positionals;
  if (flags.help || !command) {
    process.stdout.write(USAGE);
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
        { json: flags.json, hosts: hostCount, net: flags.net ?? '127.0.20' },
        say(false),
      );
      printDemo(result, flags.json);
      for (const problem of result.problems) process.stderr.write(`demo: ${problem}\n`);
      return result.asExpected ? EXIT.ok : EXIT.notAsExpected;
    }

    case 'server': {
      const port = Number(flags.port ?? 7233);
      const server = await startDevServer({
        port,
        dbFile: `${dataDir()}/temporal/dev.sqlite`,
        logFile: `${dataDir()}/temporal/dev.log`,
      });
      process.stderr.write(
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
      const { worker, connection } = await createWorker({ config, keyDir, storeDir: storeDir(), logger });
      logger.info(
        { address: config.address, namespace: config.namespace, taskQueue: config.taskQueue },
        'worker started',
      );
      const stop = () => worker.shutdown();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      await worker.run();
      await connection.close();
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
        process.stdout.write(
          `lab up: ${inventory.hosts.length} hosts, controller ${inventory.controller.address}; state in ${labDir()}\n`,
        );
        return EXIT.ok;
      }
      if (sub === 'down') {
        await labDown(labDir());
        process.stdout.write('lab down\n');
        return EXIT.ok;
      }
      if (sub === 'status') {
        const status = labStatus(labDir());
        if (flags.json) process.stdout.write(`${JSON.stringify(status, null, 2)}\n`);
        else {
          process.stdout.write(`lab ${status.running ? 'running' : 'not running'} in ${labDir()}\n`);
          for (const h of status.hosts)
            process.stdout.write(
              `  ${h.id.padEnd(12)} ${h.address.padEnd(14)} ${h.role.padEnd(24)} power ${h.power.padEnd(4)} ${h.booted ? 'booted' : 'down  '} version ${h.version}\n`,
            );
        }
        return EXIT.ok;
      }
      if (sub === 'campaign') {
        const inventory = readInventory(labDir());
        if (!inventory) throw new UsageError('no lab: run `rollout lab up` first');
        process.stdout.write(toYaml(labCampaign(inventory)));
        return EXIT.ok;
      }
      throw new UsageError('usage: rollout lab up|down|status|campaign');
    }

    case 'schema':
      process.stdout.write(`${JSON.stringify(campaignFileJsonSchema(), null, 2)}\n`);
      return EXIT.ok;

    case 'plan': {
      const file = readCampaign(requireFlag(flags.file, '-f FILE'));
      const plan = planCampaign(file);
      if (flags.json) {
        process.stdout.write(`${JSON.stringify(plan, null, 2)}\n`);
        return EXIT.ok;
      }
      const out = (line: string) => process.stdout.write(`${line}\n`);
      out(`test systems: ${plan.testHosts.join(', ')}`);
      out(
        `soak: ${formatDuration(file.campaign.soak.duration)}, a probe every ${formatDuration(file.campaign.soak.probeInterval)}`,
      );
      plan.waves.forEach((w, i) => {
        for (const gate of plan.gates.filter((g) => g.beforeWave === i))
          out(
            `gate "${gate.stage}": ${gate.required} approval(s) by ${[...gate.roles.map((r) => `role ${r}`), ...gate.identities].join(', ')}; expires after ${formatDuration(gate.expiresAfterMs)}; releases ${gate.hosts.length} hosts`,
          );
        out(`wave ${i + 1} "${w.name}" (${w.hosts.length}): ${w.hosts.map((h) => h.id).join(', ')}`);
      });
      out(
        `concurrency ${file.campaign.concurrency}; failure budget ${plan.failuresAllowed} host(s), then pause for a decision`,
      );
      for (const [group, budget] of Object.entries(plan.groupBudgets))
        out(`redundancy group ${group}: at most ${budget} unavailable at once`);
      for (const w of file.campaign.maintenanceWindows) {
        const state = windowState(w, Date.now());
        out(
          `window ${w.name}: ${w.days.join(',')} ${w.start}-${w.end} ${w.timeZone}; ${state.open ? 'open now' : `next opens ${state.nextOpen}`}`,
        );
      }
      for (const e of plan.excluded) out(`excluded ${e.hostId}: ${e.reason}`);
      return EXIT.ok;
    }

    case 'start': {
      const file = readCampaign(requireFlag(flags.file, '-f FILE'));
      const startedBy = requireFlag(flags.as, '--as IDENTITY');
      planCampaign(file);
      const config = temporalConfigFromEnv();
      const client = await connectClient(config);
      const id = await startCampaign(
        client,
        config.taskQueue,
        fileCampaignStore(storeDir()),
        file,
        startedBy,
      );
      process.stdout.write(flags.json ? `${JSON.stringify({ campaignId: id })}\n` : `${id}\n`);
      return EXIT.ok;
    }

    case 'status': {
      const id = requireFlag(rest[0], 'campaign ID');
      const client = await connectClient(temporalConfigFromEnv());
      const status = await campaignStatus(client, id);
      process.stdout.write(flags.json ? `${JSON.stringify(status, null, 2)}\n` : `${formatStatus(status)}\n`);
      return EXIT.ok;
    }

    case 'report': {
      const id = requireFlag(rest[0], 'campaign ID');
      const client = await connectClient(temporalConfigFromEnv());
      const status = await campaignStatus(client, id);
      const file = fileCampaignStore(storeDir()).get(status.fileSha256);
      const plan = planCampaign(file);
      const hostIds = [...plan.testHosts, ...plan.waves.flatMap((w) => w.hosts.map((h) => h.id))];
      const roles = Object.fromEntries(file.fleet.hosts.map((h) => [h.id, h.role]));
      const report = buildReport(status, hostIds, await hostOutcomes(client, id, hostIds), roles);
      process.stdout.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatReport(report)}\n`);
      return EXIT.ok;
    }

    case 'approve': {
      const id = requireFlag(rest[0], 'campaign ID');
      const client = await connectClient(temporalConfigFromEnv());
      const record = await approveStage(client, id, {
        stage: requireFlag(flags.stage, '--stage NAME'),
        identity: requireFlag(flags.as, '--as IDENTITY'),
        ...(flags.checksum ? { artifactSha256: flags.checksum } : {}),
        ...(flags['host-set'] ? { hostSetDigest: flags['host-set'] } : {}),
        comment: flags.comment ?? '',
      });
      process.stdout.write(
        flags.json
          ? `${JSON.stringify(record)}\n`
          : `approved stage ${record.stage} as ${record.identity} at ${record.at} (${record.hostCount} hosts)\n`,
      );
      return EXIT.ok;
    }

    case 'reject': {
      const id = requireFlag(rest[0], 'campaign ID');
      const client = await connectClient(temporalConfigFromEnv());
      const record = await rejectStage(client, id, {
        stage: requireFlag(flags.stage, '--stage NAME'),
        identity: requireFlag(flags.as, '--as IDENTITY'),
        reason: requireFlag(flags.reason, '--reason TEXT'),
      });
      process.stdout.write(
        flags.json ? `${JSON.stringify(record)}\n` : `rejected stage ${record.stage} as ${record.identity}\n`,
      );
      return EXIT.ok;
    }

    case 'review-soak': {
      const [id, decision] = rest;
      if (decision !== 'accept' && decision !== 'fail')
        throw new UsageError('usage: rollout review-soak ID accept|fail');
      const client = await connectClient(temporalConfigFromEnv());
      const record = await reviewSoak(client, requireFlag(id, 'campaign ID'), {
        decision,
        identity: requireFlag(flags.as, '--as IDENTITY'),
        reason: requireFlag(flags.reason, '--reason TEXT'),
      });
      process.stdout.write(
        flags.json ? `${JSON.stringify(record)}\n` : `soak ${record.action} recorded at ${record.at}\n`,
      );
      return EXIT.ok;
    }

    case 'pause':
    case 'resume':
    case 'abort': {
      const id = requireFlag(rest[0], 'campaign ID');
      const client = await connectClient(temporalConfigFromEnv());
      const record = await controlCampaign(client, id, command, {
        identity: requireFlag(flags.as, '--as IDENTITY'),
        reason: flags.reason ?? '',
      });
      process.stdout.write(
        flags.json ? `${JSON.stringify(record)}\n` : `${record.action} recorded at ${record.at}\n`,
      );
      return EXIT.ok;
    }

    case 'host': {
      const [id, hostId, action] = rest;
      const parsed = HostAction.shape.action.safeParse(action);
      if (!parsed.success)
        throw new UsageError('usage: rollout host ID HOST retry|rollback|mark-fixed|skip --as IDENTITY');
      const client = await connectClient(temporalConfigFromEnv());
      const record = await actOnHost(client, requireFlag(id, 'campaign ID'), {
        hostId: requireFlag(hostId, 'HOST'),
        action: parsed.data,
        identity: requireFlag(flags.as, '--as IDENTITY'),
        note: flags.note ?? '',
      });
      process.stdout.write(
        flags.json
          ? `${JSON.stringify(record)}\n`
          : `${record.action} ${record.hostId} recorded at ${record.at}\n`,
      );
      return EXIT.ok;
    }

    default:
      throw new UsageError(`unknown command "${command}"\n${USAGE}`);
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
      process.stderr.write(`rollout: ${message}\n`);
      return code;
    };
    if (err instanceof CampaignFileError || err instanceof PlanInfeasible || err instanceof BadInput)
      return fail(EXIT.usage, err.message);
    if (err instanceof Refused) return fail(EXIT.refused, `refused (${err.type}): ${err.message}`);
    if (err instanceof UsageError || (err as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION')
      return fail(EXIT.usage, (err as Error).message);
    if (err instanceof WorkflowUpdateFailedError) {
      const cause = err.cause instanceof ApplicationFailure ? err.cause : undefined;
      return fail(EXIT.refused, `refused (${cause?.type ?? 'error'}): ${cause?.message ?? err.message}`);
    }
    if (err instanceof WorkflowNotFoundError) return fail(EXIT.notFound, `no such campaign: ${err.message}`);
    if (isUnreachable(err))
      return fail(
        EXIT.unreachable,
        `cannot reach Temporal or no worker answered in time (${(err as Error).message})`,
      );
    process.stderr.write(`rollout: internal error\n${(err as Error)?.stack ?? String(err)}\n`);
    return EXIT.internal;
  }
}
