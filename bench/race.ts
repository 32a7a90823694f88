/**
 * `npm run bench:race [-- --hosts 50 --lanes 10 --net 127.0.64]`: rollout against Ansible and against
 * the floor, on the same lab, doing the same steps on every host: preflight reads (version, boot ID,
 * service pack, OS, free disk), the protected-path profile, a disk image through the lab controller,
 * upload + SHA-256, install, reboot and wait for a new boot ID, version, the health checks (a command,
 * processes, the mount, the DICOM port, a C-ECHO with dcmtk's echoscu, the web viewer) and the profile
 * compared. Ten hosts at a time for all of them.
 *
 * - floor: a small node-ssh script, a pool of 10 lanes, one connection per host (and one to the
 *   controller per lane) with nothing durable: the physical floor of these steps on this lab.
 * - rollout: the whole product: a campaign (test system, 2 s soak, signed vendor approval, one wave of
 *   the rest, concurrency 10) on the dev server with one worker; wall from start to completed, and its
 *   wave phase (from the approval).
 * - ansible serial / ansible free: ansible-core (pinned, installed by `npm run setup` into .tools/)
 *   running bench/race/patch.yml with pipelining and ControlPersist, forks 10, `serial: 10` and then
 *   `strategy: free`.
 *
 * Every contender starts on a freshly made lab, and every host must end on the new version, or the
 * race says so. The patch is the demo patch without its NAS driver update (which breaks NAS boots on
 * purpose in the demo): here every host must come back. Prints each wall time, the ratios, per-step
 * medians, CPU seconds per host and, for rollout, where each host run's time goes between its steps
 * (bench/history-latency.ts). `--only floor,rollout` runs some of them. A script that prints figures, not a timed test. Needs root.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { parseArgs } from 'node:util';
import { NodeSSH } from 'node-ssh';
import { openRolloutStore } from '../adapters/rollout-store.js';
import { dicomEcho, probeTcp } from '../adapters/health.js';
import { fingerprintOf } from '../adapters/ssh.js';
import { campaignResult, hostOutcomes, startCampaign } from '../client/campaigns.js';
import { connectClient } from '../client/connection.js';
import { decisionSigner, serviceSigner } from '../client/signing.js';
import { planCampaign } from '../domain/planner.js';
import { CampaignFile, TERMINAL_CAMPAIGN_STATES } from '../domain/schema.js';
import {
  CONTROLLER_CREDENTIAL,
  HOST_CREDENTIAL,
  labDown,
  labStatus,
  labUp,
  type LabInventory,
} from '../lab/lab.js';
import { DEMO_OPERATOR, DEMO_VENDOR, labCampaign } from '../lab/lab-campaign.js';
import { childEnvironment, embeddedSettings, settings } from '../runtime/config.js';
import { freePort, startDevServer } from '../runtime/dev-server.js';
import { PROJECT_ROOT } from '../runtime/paths.js';
import { ANSIBLE_DIR } from '../runtime/setup.js';
import { createLogger } from '../workers/logger.js';
import { createWorker } from '../workers/worker.js';
import { ownCpuSeconds, treeCpuSeconds } from './cpu.js';
import { addLatencies, latencyLines, type Latencies } from './history-latency.js';
import { hostWorkflowId } from '../domain/ids.js';
import { driveCampaign, NEEDS_A_PERSON } from './drive-campaign.js';

const { values } = parseArgs({
  options: {
    hosts: { type: 'string', default: '50' },
    lanes: { type: 'string', default: '10' },
    net: { type: 'string', default: '127.0.64' },
    /** Contenders to run, comma-separated (floor,rollout,ansible); all by default. */
    only: { type: 'string', default: 'floor,rollout,ansible' },
  },
});
const HOSTS = Number(values.hosts);
const LANES = Number(values.lanes);
const VERSION = '1.1.0';
const ANSIBLE_BIN = `${ANSIBLE_DIR}/bin`;

const PATCH_SCRIPT = `#!/bin/sh
# The race's patch: the demo patch without its NAS driver update.
set -eu
root="\${PACS_ROOT:-}"
echo "pacs-secfix ${VERSION}: installing on $(hostname)"
mkdir -p "$root/opt/pacs/lib"
printf 'libpacs-sec ${VERSION}\\n' > "$root/opt/pacs/lib/libpacs-sec.so.${VERSION}"
printf '${VERSION}\\n' > "$root/opt/pacs/VERSION"
`;

interface Result {
  name: string;
  wallMs: number;
  /** The part after the approval (rollout only): the waves. */
  waveMs?: number;
  steps: Map<string, number[]>;
  cpu: Record<string, number>;
  note?: string;
  /** rollout only: wait / run / back medians of each activity and workflow task, from the host histories. */
  latencies?: Latencies;
  /** Hosts that did not end on the new version, with what they show. */
  wrong: string[];
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s[Math.floor((s.length - 1) / 2)] ?? 0) : 0;
};
const record = (steps: Map<string, number[]>, step: string, ms: number) =>
  steps.set(step, [...(steps.get(step) ?? []), ms]);
const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** This process's CPU seconds plus its ended children's (cutime + cstime, from /proc). */
function childrenCpuSeconds(): number {
  const text = readFileSync('/proc/self/stat', 'utf8');
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[13]) + Number(fields[14])) / 100;
}

async function timed<T>(steps: Map<string, number[]>, step: string, fn: () => Promise<T>): Promise<T> {
  const began = Date.now();
  try {
    return await fn();
  } finally {
    record(steps, step, Date.now() - began);
  }
}

/** Runs `jobs` `lanes` at a time; `job(i, lane)`. */
async function pool(count: number, lanes: number, job: (i: number, lane: number) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: lanes }, async (_, lane) => {
      while (next < count) await job(next++, lane);
    }),
  );
}

// ---------------------------------------------------------------------------------------------------
// The floor: node-ssh, nothing durable.

async function floor(lab: LabInventory, artifact: string, sha256: string): Promise<Result> {
  const steps = new Map<string, number[]>();
  const hostKey = readFileSync(`${lab.keyDir}/${HOST_CREDENTIAL}`, 'utf8');
  const controllerKey = readFileSync(`${lab.keyDir}/${CONTROLLER_CREDENTIAL}`, 'utf8');
  const connect = async (address: string, port: number, user: string, key: string, pin: string) => {
    const ssh = new NodeSSH();
    await ssh.connect({
      host: address,
      port,
      username: user,
      privateKey: key,
      readyTimeout: 5_000,
      hostVerifier: (raw: Buffer) => fingerprintOf(raw) === pin,
    });
    ssh.connection?.on('error', () => undefined);
    // As the product does: without it every command waits on delayed ACKs (~40 ms).
    ssh.connection?.setNoDelay(true);
    return ssh;
  };
  const run = async (ssh: NodeSSH, command: string) => {
    const r = await ssh.execCommand(command);
    if (r.code !== 0) throw new Error(`${command.slice(0, 40)} exited ${r.code}: ${r.stderr}`);
    return r.stdout.trim();
  };
  const root = '"$PACS_ROOT"';
  const profile = `find ${lab.mountPoint}/var/lib/pacs/studies -type f -print0 | sort -z | xargs -0 -r sha256sum`;
  const controllers: NodeSSH[] = [];
  const cpu = ownCpuSeconds();
  const started = Date.now();
  await pool(lab.hosts.length, LANES, async (i, lane) => {
    const h = lab.hosts[i]!;
    const open = () => connect(h.address, h.port, 'pacsadm', hostKey, h.hostKey);
    let ssh = await open();
    const [, bootId] = (
      await timed(steps, 'preflight', () =>
        run(
          ssh,
          `cat ${root}/opt/pacs/VERSION; cat ${root}/run/boot_id; sed -n 's/^SERVICE_PACK=//p' ${root}/etc/pacs-release; sed -n 's/^NAME=//p' ${root}/etc/pacs-release; df -Pm ${lab.mountPoint} | awk 'NR==2 {print $4}'`,
        ),
      )
    ).split('\n');
    await timed(steps, 'profile', () => run(ssh, `mkdir -p .race && ${profile} > .race/profile-before`));
    controllers[lane] ??= await connect(
      lab.controller.address,
      lab.controller.port,
      lab.controller.user,
      controllerKey,
      lab.controller.hostKey,
    );
    await timed(steps, 'image', () => run(controllers[lane]!, `labctl snapshot ${h.id}`));
    await timed(steps, 'upload', async () => {
      await ssh.putFile(artifact, '.race/artifact.sh');
      const sum = await run(ssh, 'sha256sum .race/artifact.sh');
      if (!sum.startsWith(sha256)) throw new Error(`${h.id}: uploaded copy does not match`);
    });
    await timed(steps, 'install', () => run(ssh, 'sh .race/artifact.sh'));
    await timed(steps, 'reboot', async () => {
      await ssh.execCommand('reboot').catch(() => undefined);
      ssh.dispose();
      for (;;) {
        await wait(250);
        try {
          await probeTcp(h.address, h.port, 1_000);
          ssh = await open();
          if ((await run(ssh, `cat ${root}/run/boot_id`)) !== bootId) return;
          ssh.dispose();
        } catch {
          // not up yet
        }
      }
    });
    await timed(steps, 'version', async () => {
      const version = await run(ssh, `cat ${root}/opt/pacs/VERSION`);
      if (version !== VERSION) throw new Error(`${h.id} reports ${version}`);
    });
    await timed(steps, 'health', async () => {
      await run(
        ssh,
        `test -s ${root}/opt/pacs/VERSION && pgrep -x storescp >/dev/null && pgrep -x python3 >/dev/null && mountpoint -q ${lab.mountPoint}`,
      );
      await probeTcp(h.address, 104, 5_000);
      await dicomEcho(h.address, 104, 'ROLLOUT', h.dicomAet, 5_000);
      const body = await new Promise<string>((resolve, reject) => {
        request(`http://${h.address}:8080/status`, (res) => {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString()));
          res.on('end', () => resolve(text));
        })
          .on('error', reject)
          .end();
      });
      if (!/PACS .* OK/.test(body)) throw new Error(`${h.id}: web viewer says ${body}`);
    });
    await timed(steps, 'compare', () => run(ssh, `${profile} | cmp - .race/profile-before`));
    ssh.dispose();
  });
  const wallMs = Date.now() - started;
  for (const c of controllers) c?.dispose();
  return { name: 'floor (node-ssh)', wallMs, steps, cpu: { script: ownCpuSeconds() - cpu }, wrong: [] };
}

// ---------------------------------------------------------------------------------------------------
// rollout: the product, end to end.

async function rollout(lab: LabInventory, artifact: string, sha256: string, dir: string): Promise<Result> {
  const server = await startDevServer({
    port: await freePort(),
    dbFile: `${dir}/temporal.sqlite`,
    logFile: `${dir}/temporal.log`,
  });
  const cleanup: Array<() => Promise<unknown>> = [() => server.stop()];
  try {
    const config = embeddedSettings({
      temporal: { address: server.address, taskQueue: 'bench-race' },
      keyDir: lab.keyDir,
      artifacts: { ...settings().artifacts, dirs: [`${dir}/artifacts`] },
    });
    const store = await openRolloutStore({ sqliteFile: `${dir}/rollout.sqlite` });
    cleanup.unshift(() => store.close());
    const { worker, connection, ssh } = await createWorker({
      settings: config,
      ledger: store,
      logger: createLogger('error'),
    });
    cleanup.unshift(
      () => connection.close(),
      async () => ssh.close(),
    );
    const client = await connectClient(config.temporal);
    cleanup.unshift(() => client.connection.close());
    const raw = labCampaign(lab, {
      soak: '2s',
      probeInterval: '1s',
      rebootGrace: '0s',
      bootTimeout: '60s',
      concurrency: LANES,
    });
    raw.patch.artifact = { path: artifact, sha256 };
    raw.campaign.waves = [{ name: 'all', size: '100%' }];
    // The others patch ten at a time whatever the role; so does rollout here.
    raw.campaign.redundancy = { defaultMaxUnavailable: LANES, groups: [] };
    for (const h of raw.fleet.hosts) delete h.redundancyGroup;
    const file = CampaignFile.parse(raw);
    const signer = decisionSigner(await serviceSigner(store, `${dir}/keys/service.pem`), 'cli');
    const cpu = { worker: ownCpuSeconds(), server: treeCpuSeconds([server.pid]) };
    const started = Date.now();
    let approvedAt = 0;
    const final = await worker.runUntil(async () => {
      const id = await startCampaign(
        client,
        config.temporal.taskQueue,
        store.campaignFiles,
        file,
        DEMO_OPERATOR,
        {
          signing: { signer, role: 'operator' },
          artifacts: config.artifacts,
        },
      );
      const now = await driveCampaign(client, id, {
        approver: { identity: DEMO_VENDOR, signing: { signer, role: 'vendor' } },
        stopAt: [...TERMINAL_CAMPAIGN_STATES, ...NEEDS_A_PERSON],
        pollMs: 250,
        onApproved: () => (approvedAt = Date.now()),
      });
      return campaignResult(client, id).catch(() => now);
    });
    const finishedAt = Date.now();
    const pooled = ssh.stats();
    const wallMs = finishedAt - started;
    const used = {
      worker: ownCpuSeconds() - cpu.worker,
      server: treeCpuSeconds([server.pid]) - cpu.server,
    };
    const plan = planCampaign(file);
    const ids = [...plan.testHosts, ...plan.waves.flatMap((w) => w.hosts.map((h) => h.id))];
    const steps = new Map<string, number[]>();
    const latencies: Latencies = new Map();
    for (const outcome of (await hostOutcomes(client, final.campaignId, ids)).values()) {
      for (const t of outcome?.timings ?? []) record(steps, t.step, t.durationMs);
      const history = await client.workflow.getHandle(hostWorkflowId(outcome.hostId)).fetchHistory();
      addLatencies(latencies, history.events ?? []);
    }
    return {
      name: 'rollout',
      wallMs,
      ...(approvedAt ? { waveMs: finishedAt - approvedAt } : {}),
      steps,
      latencies,
      cpu: used,
      note: `SSH sessions opened ${pooled.opened}, reused ${pooled.reused}, discarded after a failed use ${pooled.discarded}`,
      wrong: final.state === 'completed' ? [] : [`campaign ended ${final.state}`],
    };
  } finally {
    for (const step of cleanup) await step().catch(() => undefined);
  }
}

// ---------------------------------------------------------------------------------------------------
// Ansible: ansible-playbook on bench/race/patch.yml.

function ansibleFiles(lab: LabInventory, artifact: string, sha256: string, dir: string) {
  const labDir = lab.dir;
  const knownHosts = [
    ...lab.hosts.map(
      (h) =>
        `[${h.address}]:${h.port} ${readFileSync(`${labDir}/hosts/${h.id}/etc/ssh_host_ed25519_key.pub`, 'utf8').split(' ').slice(0, 2).join(' ')}`,
    ),
    `[${lab.controller.address}]:${lab.controller.port} ${readFileSync(`${labDir}/controller/etc/ssh_host_ed25519_key.pub`, 'utf8').split(' ').slice(0, 2).join(' ')}`,
  ];
  writeFileSync(`${dir}/known_hosts`, `${knownHosts.join('\n')}\n`);
  const sshArgs = `-o UserKnownHostsFile=${dir}/known_hosts -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes -o BatchMode=yes`;
  writeFileSync(
    `${dir}/inventory.ini`,
    [
      '[pacs]',
      ...lab.hosts.map((h) => `${h.id} ansible_host=${h.address} dicom_aet=${h.dicomAet}`),
      '',
      '[controllers]',
      `lab-controller ansible_host=${lab.controller.address} ansible_user=${lab.controller.user} ansible_ssh_private_key_file=${lab.keyDir}/${CONTROLLER_CREDENTIAL}`,
      '',
      '[all:vars]',
      `ansible_port=${lab.hosts[0]?.port ?? 22}`,
      'ansible_user=pacsadm',
      `ansible_ssh_private_key_file=${lab.keyDir}/${HOST_CREDENTIAL}`,
      'ansible_python_interpreter=/usr/bin/python3',
      `ansible_ssh_common_args='${sshArgs}'`,
      `race_artifact=${artifact}`,
      `race_sha256=${sha256}`,
      `race_version=${VERSION}`,
      `protected_path=${lab.mountPoint}/var/lib/pacs/studies`,
      `mount_point=${lab.mountPoint}`,
      '',
    ].join('\n'),
  );
  mkdirSync(`${dir}/cp`, { recursive: true });
  writeFileSync(
    `${dir}/ansible.cfg`,
    [
      '[defaults]',
      `forks = ${LANES}`,
      `local_tmp = ${dir}/tmp`,
      'callbacks_enabled = step_times',
      'stdout_callback = ansible.builtin.minimal',
      'interpreter_python = /usr/bin/python3',
      '[ssh_connection]',
      'pipelining = True',
      'ssh_args = -o ControlMaster=auto -o ControlPersist=60s',
      `control_path_dir = ${dir}/cp`,
      '',
    ].join('\n'),
  );
}

/** Per-host task durations written by bench/race/callback_plugins/step_times.py. */
function ansibleSteps(file: string): Map<string, number[]> {
  const steps = new Map<string, number[]>();
  for (const line of readFileSync(file, 'utf8').split('\n').filter(Boolean)) {
    const { task, ms } = JSON.parse(line) as { task: string; ms: number };
    record(steps, task, ms);
  }
  return steps;
}

async function ansible(
  lab: LabInventory,
  artifact: string,
  sha256: string,
  dir: string,
  strategy: 'linear' | 'free',
): Promise<Result> {
  ansibleFiles(lab, artifact, sha256, dir);
  const stepTimes = `${dir}/step-times.jsonl`;
  writeFileSync(stepTimes, '');
  const cpu = childrenCpuSeconds();
  const started = Date.now();
  const failed = await new Promise<string | undefined>((resolve) => {
    execFile(
      `${ANSIBLE_BIN}/ansible-playbook`,
      [
        '-i',
        `${dir}/inventory.ini`,
        '-e',
        `race_serial=${strategy === 'free' ? '100%' : LANES}`,
        `${PROJECT_ROOT}/bench/race/patch.yml`,
      ],
      {
        env: childEnvironment({
          ANSIBLE_CONFIG: `${dir}/ansible.cfg`,
          ANSIBLE_HOME: `${dir}/home`,
          ANSIBLE_STRATEGY: strategy,
          ANSIBLE_CALLBACK_PLUGINS: `${PROJECT_ROOT}/bench/race/callback_plugins`,
          RACE_STEP_TIMES: stepTimes,
          PATH: `${ANSIBLE_BIN}:${childEnvironment().PATH ?? ''}`,
        }),
        maxBuffer: 64 * 1024 * 1024,
      },
      (err, stdout) =>
        resolve(
          err
            ? `ansible-playbook failed: ${stdout
                .split('\n')
                .filter((l) => /FAILED|UNREACHABLE|ERROR/.test(l))
                .slice(0, 3)
                .join(' | ')}`
            : undefined,
        ),
    );
  });
  const wallMs = Date.now() - started;
  return {
    name: `ansible ${strategy === 'free' ? 'strategy: free' : `serial: ${LANES}`}`,
    wallMs,
    steps: ansibleSteps(stepTimes),
    cpu: { ansible: childrenCpuSeconds() - cpu },
    wrong: failed ? [failed] : [],
  };
}

// ---------------------------------------------------------------------------------------------------

async function onFreshLab(
  name: string,
  race: (lab: LabInventory, artifact: string, sha256: string, dir: string) => Promise<Result>,
): Promise<Result> {
  const dir = mkdtempSync(`${tmpdir()}/rollout-race-`);
  const labDir = `${dir}/lab`;
  try {
    mkdirSync(`${dir}/artifacts`);
    const artifact = `${dir}/artifacts/pacs-secfix-${VERSION}-race.sh`;
    writeFileSync(artifact, PATCH_SCRIPT);
    const sha256 = createHash('sha256').update(PATCH_SCRIPT).digest('hex');
    const lab = await labUp({
      dir: labDir,
      hosts: HOSTS,
      net: values.net!,
      sshPort: 2222,
      bootDelayMs: 1500,
    });
    process.stderr.write(`${name}: lab of ${HOSTS} hosts up\n`);
    const result = await race(lab, artifact, sha256, dir);
    const wrongVersion = labStatus(labDir)
      .hosts.filter((h) => h.version !== VERSION)
      .map((h) => `${h.id} at ${h.version}`);
    return { ...result, wrong: [...result.wrong, ...wrongVersion] };
  } finally {
    await labDown(labDir);
    rmSync(dir, { recursive: true, force: true });
  }
}

const only = new Set(values.only!.split(','));
const results: Result[] = [];
const floorResult = only.has('floor') ? await onFreshLab('floor', floor) : undefined;
const rolloutResult = only.has('rollout') ? await onFreshLab('rollout', rollout) : undefined;
const ansibleResults: Result[] = [];
if (only.has('ansible'))
  for (const strategy of ['linear', 'free'] as const)
    ansibleResults.push(
      await onFreshLab(`ansible ${strategy}`, (l, a, s, d) => ansible(l, a, s, d, strategy)),
    );
results.push(...[floorResult, rolloutResult].filter((r) => r !== undefined), ...ansibleResults);

const out: string[] = [`race: ${HOSTS} lab hosts, ${LANES} at a time, every contender on a fresh lab`, ''];
for (const r of results) {
  const cpu = Object.entries(r.cpu)
    .map(([k, v]) => `${k} ${(v / HOSTS).toFixed(3)}`)
    .join(', ');
  out.push(
    `${r.name.padEnd(24)} wall ${(r.wallMs / 1000).toFixed(1).padStart(6)} s${r.waveMs ? ` (waves ${(r.waveMs / 1000).toFixed(1)} s)` : ''}  CPU-s/host: ${cpu}  ${r.wrong.length ? `NOT ALL PATCHED: ${r.wrong.slice(0, 5).join('; ')}` : `all ${HOSTS} hosts at ${VERSION}`}${r.note ? `\n${''.padEnd(25)}${r.note}` : ''}`,
  );
}
if (rolloutResult) {
  out.push('');
  if (floorResult)
    out.push(
      `rollout / floor:          ${(rolloutResult.wallMs / floorResult.wallMs).toFixed(2)}× (waves alone ${((rolloutResult.waveMs ?? 0) / floorResult.wallMs).toFixed(2)}×)`,
    );
  for (const r of ansibleResults)
    out.push(`${`${r.name} / rollout:`.padEnd(36)}${(r.wallMs / rolloutResult.wallMs).toFixed(2)}×`);
}
out.push('', 'per-step medians (ms):');
for (const r of results)
  out.push(
    `  ${r.name.padEnd(24)} ${[...r.steps]
      .map(([step, ms]) => `${step} ${median(ms).toFixed(0)}`)
      .join(', ')}`,
  );
if (rolloutResult?.latencies) {
  out.push('', 'rollout host runs, medians: task waits for a worker / runs / until the workflow reads it:');
  out.push(...latencyLines(rolloutResult.latencies).map((l) => `  ${l}`));
}
process.stdout.write(`${out.join('\n')}\n`);
