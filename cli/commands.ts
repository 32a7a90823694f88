/**
 * Every `rollout` command: its names, its help text, its flags and the module that runs it (loaded only
 * when the command runs). `USAGE` is built from this list, so help cannot miss a command or a flag
 * (test/unit/cli-help.test.ts checks each flag appears in its command's help).
 */
import type { CommandModule } from './common.js';

export type FlagSpec = { type: 'string' | 'boolean'; short?: string };

export interface CommandSpec {
  /** The words that run it (`pause`, `resume`, `abort` share one module). */
  names: string[];
  section: (typeof SECTIONS)[number];
  /** Help lines: the synopsis, then the description (a line starting with spaces continues it). */
  help: string[];
  flags: Record<string, FlagSpec>;
  load: () => Promise<CommandModule>;
}

const SECTIONS = [
  'Run and try it',
  'Plan and start',
  'Watch and report',
  "Act (as the user whose token is in ROLLOUT_TOKEN or the file ROLLOUT_TOKEN_FILE; every decision is\nsigned: with your own key if ROLLOUT_SIGNING_KEY names it, else with this installation's service key)",
  'Users and keys',
] as const;

/** Flags every command takes. */
export const GLOBAL_FLAGS: Record<string, FlagSpec> = {
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};

const s = (type: FlagSpec['type'] = 'string'): FlagSpec => ({ type });

export const COMMANDS: CommandSpec[] = [
  {
    names: ['demo'],
    section: 'Run and try it',
    help: [
      'demo [--json] [--hosts N] [--net 127.0.20] [--stay]',
      '  full demo campaign on embedded defaults, then tear down',
      '  (--stay keeps the dashboard up until Ctrl-C)',
    ],
    flags: { hosts: s(), net: s(), stay: s('boolean') },
    load: () => import('./commands/demo.js'),
  },
  {
    names: ['setup'],
    section: 'Run and try it',
    help: ['setup [--quiet]', '  install what is missing (Debian packages, Temporal binaries, govc)'],
    flags: { quiet: s('boolean') },
    load: () => import('./commands/setup.js'),
  },
  {
    names: ['server'],
    section: 'Run and try it',
    help: ['server [--port 7233]', '  the embedded Temporal dev server, in the foreground'],
    flags: { port: s() },
    load: () => import('./commands/server.js'),
  },
  {
    names: ['cluster'],
    section: 'Run and try it',
    help: [
      'cluster [--host 127.0.70.1]',
      '  a Temporal cluster as production runs it, in the foreground: PostgreSQL, each service its own',
      '  process, mTLS, JWT authorization; writes worker.env, api.env, operator.env (root; needs setup)',
    ],
    flags: { host: s() },
    load: () => import('./commands/cluster.js'),
  },
  {
    names: ['worker'],
    section: 'Run and try it',
    help: ['worker', '  a worker (TEMPORAL_ADDRESS, ROLLOUT_KEY_DIR, ...; see README)'],
    flags: {},
    load: () => import('./commands/worker.js'),
  },
  {
    names: ['api'],
    section: 'Run and try it',
    help: ['api', '  the HTTP API and dashboard (ROLLOUT_API_HOST, ROLLOUT_API_PORT)'],
    flags: {},
    load: () => import('./commands/api.js'),
  },
  {
    names: ['lab'],
    section: 'Run and try it',
    help: [
      'lab up [--hosts N] [--net 127.0.10]',
      '  start the lab fleet (root)',
      'lab status [--json] | lab down',
      "  the lab's hosts / stop every lab process",
      'lab campaign',
      '  print a campaign file (YAML) for the running lab',
    ],
    flags: { hosts: s(), net: s() },
    load: () => import('./commands/lab.js'),
  },
  {
    names: ['schema'],
    section: 'Plan and start',
    help: ['schema', "  the campaign file's JSON Schema"],
    flags: {},
    load: () => import('./commands/schema.js'),
  },
  {
    names: ['plan'],
    section: 'Plan and start',
    help: [
      'plan -f FILE [--json]',
      '  dry run: hosts (platform, controllers), waves, gates, windows, budgets',
    ],
    flags: { file: { type: 'string', short: 'f' } },
    load: () => import('./commands/plan.js'),
  },
  {
    names: ['start'],
    section: 'Plan and start',
    help: ['start -f FILE', '  validate, plan, check the artifact and start; prints the campaign ID'],
    flags: { file: { type: 'string', short: 'f' } },
    load: () => import('./commands/start.js'),
  },
  {
    names: ['status'],
    section: 'Watch and report',
    help: [
      'status ID [--json] [--watch]',
      '  state, gates, budget, wave, failed hosts; --watch redraws every 2 s',
      '  and rides out a short outage ("reconnecting…")',
    ],
    flags: { watch: s('boolean') },
    load: () => import('./commands/status.js'),
  },
  {
    names: ['hosts'],
    section: 'Watch and report',
    help: [
      'hosts ID [--state S[,S...]] [--format table|json|csv]',
      '  every host of the campaign with its state, step, image, failure;',
      '  --state rolled-back,needs-attention: the hosts to look at or re-run',
    ],
    flags: { state: s(), format: s() },
    load: () => import('./commands/hosts.js'),
  },
  {
    names: ['report'],
    section: 'Watch and report',
    help: [
      'report ID [--json | --html]',
      "  every host's outcome, approvals with their evidence, decisions, times",
    ],
    flags: { html: s('boolean') },
    load: () => import('./commands/report.js'),
  },
  {
    names: ['ledger'],
    section: 'Watch and report',
    help: [
      'ledger [--patch P] [--missing] [--format table|json|csv]',
      '  hosts x patches; --missing: who lacks the patch',
    ],
    flags: { patch: s(), missing: s('boolean'), format: s() },
    load: () => import('./commands/ledger.js'),
  },
  {
    names: ['audit'],
    section: 'Watch and report',
    help: [
      'audit verify [--json]',
      "  check the audit log's hash chain (exit 1 if broken)",
      'audit list [--campaign ID] [--limit N] [--json]',
      '  read the audit log',
    ],
    flags: { campaign: s(), limit: s() },
    load: () => import('./commands/audit.js'),
  },
  {
    names: ['approve', 'reject', 'review-soak'],
    section: SECTIONS[3],
    help: [
      'approve ID --stage NAME [--checksum SHA256 --host-set SHA256] [--comment TEXT]',
      '  without both values, a terminal shows the evidence and asks',
      'reject ID --stage NAME --reason TEXT',
      'review-soak ID accept|fail --reason TEXT',
      '  decide an inconclusive soak',
    ],
    flags: { stage: s(), checksum: s(), 'host-set': s(), comment: s(), reason: s() },
    load: () => import('./commands/decide.js'),
  },
  {
    names: ['pause', 'resume', 'abort'],
    section: SECTIONS[3],
    help: ['pause|resume|abort ID [--reason TEXT]', '  operator controls'],
    flags: { reason: s() },
    load: () => import('./commands/control.js'),
  },
  {
    names: ['host'],
    section: SECTIONS[3],
    help: ['host ID HOST retry|rollback|mark-fixed|skip [--note TEXT]', '  on-call actions'],
    flags: { note: s() },
    load: () => import('./commands/host.js'),
  },
  {
    names: ['users'],
    section: 'Users and keys',
    help: [
      'users add NAME --role operator|vendor|on-call|auditor [--days 90]',
      '  prints the token once',
      'users rotate NAME [--days 90]',
      '  a new token; the old one stops working',
      'users list | users remove NAME',
    ],
    flags: { role: s(), days: s() },
    load: () => import('./commands/users.js'),
  },
  {
    names: ['keys'],
    section: 'Users and keys',
    help: [
      'keys register USER --public-key FILE',
      "  a person's own Ed25519 key (PEM): their decisions may be signed with it",
      'keys list | keys revoke KEY_ID',
      '  decisions signed with a revoked key are refused',
    ],
    flags: { 'public-key': s() },
    load: () => import('./commands/keys.js'),
  },
];

export function commandNamed(name: string): CommandSpec | undefined {
  return COMMANDS.find((c) => c.names.includes(name));
}

const DESCRIPTION_COLUMN = 39;

function helpLines(help: string[]): string[] {
  const out: string[] = [];
  for (const line of help) {
    const description = line.startsWith('  ') ? line.trim() : undefined;
    const last = out.length - 1;
    if (description === undefined) out.push(`  ${line}`);
    else if (last >= 0 && out[last]!.length < DESCRIPTION_COLUMN && !out[last]!.includes('   '))
      out[last] = `${out[last]!.padEnd(DESCRIPTION_COLUMN)}${description}`;
    else out.push(`${' '.repeat(DESCRIPTION_COLUMN)}${description}`);
  }
  return out;
}

export const USAGE = [
  'usage: rollout <command> [options]        (every command takes --json; -h, --help prints this)',
  ...SECTIONS.flatMap((section) => [
    '',
    section,
    ...COMMANDS.filter((c) => c.section === section).flatMap((c) => helpLines(c.help)),
  ]),
  '',
  'Exit codes: 0 ok, 1 not as expected (demo, broken audit chain), 2 bad input, 3 refused,',
  '4 not found, 5 Temporal unreachable or no worker answered, 6 accepted and audited but a later write',
  '(the ledger) failed: do not repeat the action, 70 internal error.',
  '',
].join('\n');
