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
import { approveStage, campaignStatus, startCampaign } from '../client/campaigns.js';
import { CampaignFileError, parseCampaignFile } from '../client/campaign-file.js';
import { connectClient, temporalConfigFromEnv } from '../client/connection.js';
import { planCampaign } from '../domain/planner.js';
import { labDown, labStatus, labUp, readInventory } from '../lab/lab.js';
import { labCampaign } from '../lab/lab-campaign.js';
import { startDevServer } from '../runtime/dev-server.js';
import { dataDir } from '../runtime/paths.js';
import { runSetup } from '../runtime/setup.js';
import { createLogger } from '../workers/logger.js';
import { createWorker } from '../workers/worker.js';
import { printDemo, runDemo } from './demo.js';
import { formatStatus } from './format.js';

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
  plan -f FILE [--json]                dry run: test systems, waves, excluded hosts
  start -f FILE --as IDENTITY          validate FILE and start a campaign; prints its ID
  status ID [--json]                   stage, waves and per-host states
  approve ID --stage NAME --as IDENTITY [--checksum SHA256] [--comment TEXT]
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
      comment: { type: 'string' },
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
      const { worker, connection } = await createWorker({ config, keyDir, logger });
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

    case 'plan': {
      const file = readCampaign(requireFlag(flags.file, '-f FILE'));
      const plan = planCampaign(file);
      if (flags.json) process.stdout.write(`${JSON.stringify(plan, null, 2)}\n`);
      else {
        process.stdout.write(`test systems: ${plan.testHosts.join(', ')}\n`);
        plan.waves.forEach((w, i) =>
          process.stdout.write(`wave ${i + 1} "${w.name}" (${w.hosts.length}): ${w.hosts.join(', ')}\n`),
        );
        for (const e of plan.excluded) process.stdout.write(`excluded ${e.hostId}: ${e.reason}\n`);
      }
      return EXIT.ok;
    }

    case 'start': {
      const file = readCampaign(requireFlag(flags.file, '-f FILE'));
      const startedBy = requireFlag(flags.as, '--as IDENTITY');
      const config = temporalConfigFromEnv();
      const client = await connectClient(config);
      const id = await startCampaign(client, config.taskQueue, file, startedBy);
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

    case 'approve': {
      const id = requireFlag(rest[0], 'campaign ID');
      const client = await connectClient(temporalConfigFromEnv());
      // The approver approves what they were shown: by default, the checksum the campaign reports now.
      const checksum = flags.checksum ?? (await campaignStatus(client, id)).patch.sha256;
      const record = await approveStage(client, id, {
        stage: requireFlag(flags.stage, '--stage NAME'),
        identity: requireFlag(flags.as, '--as IDENTITY'),
        artifactSha256: checksum,
        comment: flags.comment ?? '',
      });
      process.stdout.write(
        flags.json
          ? `${JSON.stringify(record)}\n`
          : `approved stage ${record.stage} as ${record.identity} at ${record.at}\n`,
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
    if (err instanceof CampaignFileError) return fail(EXIT.usage, err.message);
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
