/**
 * `npm run bench:stress`: the product's own host operations (adapters/host-ops.ts, adapters/health.ts)
 * against a real lab, many times, in parallel, while the machine is loaded, counting SPURIOUS failures:
 * a step that reports failure although the host did nothing wrong. Every install's real exit code is
 * known (some are made to exit 7 on purpose), every upload, reboot, health check and integrity profile
 * must succeed. A script that prints figures, not a timed test.
 *
 *   npx tsx bench/stress.ts [--hosts 10] [--concurrency 10] [--installs 2000] [--uploads 200]
 *                           [--reboots 500] [--health 500] [--integrity 200] [--no-load]
 *
 * Needs root (the lab). The load is one busy loop per core, started and stopped by the script.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { parseArgs } from 'node:util';
import { runHealthChecks } from '../adapters/health.js';
import {
  compareAfterInstall,
  observeBoot,
  profileBeforeInstall,
  readBootId,
  remoteArtifactPath,
  runInstall,
  triggerReboot,
  uploadArtifact,
} from '../adapters/host-ops.js';
import { directoryKeyStore, shellQuote, withSsh, type SshTarget } from '../adapters/ssh.js';
import { directSsh } from '../adapters/ssh-pool.js';
import { CampaignFile, type Patch } from '../domain/schema.js';
import { HOST_CREDENTIAL, labDown, labUp, type LabInventory } from '../lab/lab.js';
import { labCampaign } from '../lab/lab-campaign.js';
import { settings } from '../runtime/config.js';

const { values } = parseArgs({
  options: {
    hosts: { type: 'string', default: '10' },
    concurrency: { type: 'string', default: '10' },
    installs: { type: 'string', default: '2000' },
    uploads: { type: 'string', default: '200' },
    reboots: { type: 'string', default: '500' },
    health: { type: 'string', default: '500' },
    integrity: { type: 'string', default: '200' },
    'no-load': { type: 'boolean', default: false },
    net: { type: 'string', default: '127.0.61' },
  },
});
const count = (name: keyof typeof values) => Number(values[name]);
const hosts = count('hosts');
const concurrency = count('concurrency');

interface PhaseResult {
  phase: string;
  attempts: number;
  spurious: number;
  messages: Map<string, number>;
  durations: number[];
}

/** Runs `n` jobs, `lanes` at a time; `fn` throws (or returns a message) for a spurious failure. */
async function phase(
  name: string,
  n: number,
  lanes: number,
  fn: (i: number, lane: number) => Promise<string | undefined>,
): Promise<PhaseResult> {
  const result: PhaseResult = { phase: name, attempts: n, spurious: 0, messages: new Map(), durations: [] };
  let next = 0;
  const started = Date.now();
  const lane = async (k: number) => {
    for (let i = next++; i < n; i = next++) {
      const began = Date.now();
      let problem: string | undefined;
      try {
        problem = await fn(i, k);
      } catch (err) {
        problem = `${(err as { type?: string }).type ?? 'Error'}: ${(err as Error).message}`;
      }
      result.durations.push(Date.now() - began);
      if (problem) {
        result.spurious += 1;
        const key = problem.replace(/\d+/g, 'N').slice(0, 160);
        result.messages.set(key, (result.messages.get(key) ?? 0) + 1);
      }
    }
  };
  await Promise.all(Array.from({ length: lanes }, (_, k) => lane(k)));
  process.stderr.write(`  ${name}: ${n} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  return result;
}

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
};

function startLoad(): ChildProcess[] {
  return Array.from({ length: availableParallelism() }, () =>
    spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }),
  );
}

const dir = mkdtempSync(`${tmpdir()}/rollout-stress-`);
let burners: ChildProcess[] = [];
let inventory: LabInventory | undefined;
try {
  process.stderr.write(`lab of ${hosts} hosts on ${values.net}.x …\n`);
  inventory = await labUp({ dir, hosts, net: values.net, sshPort: 2222, bootDelayMs: 800 });
  const lab = inventory;
  const keys = directoryKeyStore(lab.keyDir);
  const file = CampaignFile.parse(labCampaign(lab));
  const patch: Patch = file.patch;
  const checks = file.fleet.healthChecks;
  const bootIdCommand = 'cat "$PACS_ROOT/run/boot_id"';
  const { artifacts } = settings();
  const target = (i: number): SshTarget => {
    const h = lab.hosts[i % lab.hosts.length]!;
    return {
      name: h.id,
      address: h.address,
      port: h.port,
      user: 'pacsadm',
      hostKey: h.hostKey,
      credential: HOST_CREDENTIAL,
    };
  };
  if (!values['no-load']) burners = startLoad();
  process.stderr.write(`load: ${burners.length} busy loop(s); concurrency ${concurrency}\n`);

  const results: PhaseResult[] = [];
  // Installs: fast ones (the race lived where an install ends between two looks), slower ones,
  // and every seventh exits 7 on purpose: the reported code must be the real one.
  const commands = ['true', 'sleep 0.1', 'sleep 0.4', 'echo installed; sleep 1', 'sleep 0.05'];
  results.push(
    await phase('install', count('installs'), concurrency, async (i) => {
      const expected = i % 7 === 0 ? 7 : 0;
      const command = `${commands[i % commands.length]!}; exit ${expected}`;
      const run = { runKey: `stress-${i}`, owner: 'stress', timeoutMs: 120_000, bootIdCommand };
      const result = await withSsh(target(i), keys, (s) =>
        runInstall(s, { ...patch, installCommand: command }, run, '-', () => {}),
      );
      return result.exitCode === expected ? undefined : `exit ${result.exitCode}, really ${expected}`;
    }),
  );
  results.push(
    await phase('upload', count('uploads'), concurrency, async (i) => {
      const remote = remoteArtifactPath(patch);
      await withSsh(target(i), keys, async (s) => {
        await s.run(`rm -f ${shellQuote(remote)}`, 10_000);
        await uploadArtifact(s, patch, artifacts);
      });
      return undefined;
    }),
  );
  // Reboots: each lane reboots its own host, one reboot after the other.
  const lanes = Math.min(concurrency, lab.hosts.length);
  results.push(
    await phase('reboot + wait for boot', count('reboots'), lanes, async (_, lane) => {
      const t = target(lane);
      const before = await withSsh(t, keys, (s) => readBootId(s, bootIdCommand));
      await withSsh(t, keys, (s) => triggerReboot(s, { bootIdCommand, previousBootId: before }));
      const deadline = Date.now() + 60_000;
      for (;;) {
        const seen = await observeBoot(directSsh(keys), t, bootIdCommand, before);
        if (seen.state === 'new-boot') return undefined;
        if (Date.now() > deadline) return `no new boot within 60 s (last: ${seen.state})`;
        await new Promise((r) => setTimeout(r, 250));
      }
    }),
  );
  results.push(
    await phase('health checks', count('health'), concurrency, async (i) => {
      const h = lab.hosts[i % lab.hosts.length]!;
      const report = await runHealthChecks(h, checks, (fn) =>
        withSsh(target(i), keys, fn, { readyTimeoutMs: 5_000 }),
      );
      const failed = report.checks.filter((c) => !c.ok);
      return failed.length ? failed.map((c) => `${c.name}: ${c.detail}`).join('; ') : undefined;
    }),
  );
  results.push(
    await phase('integrity profile + compare', count('integrity'), concurrency, async (i) => {
      const report = await withSsh(target(i), keys, async (s) => {
        await profileBeforeInstall(s, patch, `stress-integrity-${i}`);
        return compareAfterInstall(s, patch, `stress-integrity-${i}`);
      });
      const changed = report.changes.length + report.moreChanges;
      return changed ? `${changed} change(s) reported on an untouched store` : undefined;
    }),
  );

  const load = values['no-load'] ? 'no load' : `${burners.length} busy loop(s)`;
  process.stdout.write(`\nstress: ${hosts} lab hosts, concurrency ${concurrency}, ${load}\n`);
  process.stdout.write(
    `${'step'.padEnd(30)}${'attempts'.padStart(9)}${'spurious'.padStart(10)}${'p50 ms'.padStart(9)}${'p95 ms'.padStart(9)}\n`,
  );
  for (const r of results) {
    process.stdout.write(
      `${r.phase.padEnd(30)}${String(r.attempts).padStart(9)}${String(r.spurious).padStart(10)}${String(percentile(r.durations, 50)).padStart(9)}${String(percentile(r.durations, 95)).padStart(9)}\n`,
    );
    for (const [message, n] of [...r.messages].sort((a, b) => b[1] - a[1]).slice(0, 5))
      process.stdout.write(`    ${n} x ${message}\n`);
  }
  const spurious = results.reduce((n, r) => n + r.spurious, 0);
  process.stdout.write(`spurious failures in all: ${spurious}\n`);
  process.exitCode = spurious === 0 ? 0 : 1;
} finally {
  for (const b of burners) b.kill('SIGKILL');
  if (inventory) await labDown(dir);
  rmSync(dir, { recursive: true, force: true });
}
