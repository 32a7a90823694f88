/** Human output for the terminal: campaign status and the final report. */
import { formatDuration } from '../domain/duration.js';
import type { CampaignStatus } from '../domain/schema.js';
import type { HostRow } from '../client/actions.js';
import type { LedgerRow } from '../client/ledger-report.js';
import type { CampaignReport } from '../client/report.js';
import { FINAL_HOST_STATES, type AuditEntry } from '../domain/schema.js';

const pad = (text: string, width: number) => text.padEnd(width);

/**
 * Rows as aligned text columns: each column as wide as its widest cell, two spaces between, so a long
 * value (`prerequisite-failed`) never runs into the next one. The last column is not padded.
 */
export function columns(rows: string[][]): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd(),
  );
}

const FINISHED: readonly string[] = FINAL_HOST_STATES;

const bar = (done: number, total: number, width = 30) => {
  const filled = total > 0 ? Math.round((Math.min(done, total) / total) * width) : 0;
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}`;
};

/** Who the campaign waits for now, in words (for `status --watch`). */
export function waitingOn(status: CampaignStatus): string | undefined {
  const gate = status.gates.find((g) => g.state === 'open');
  if (status.state === 'awaiting-approval' && gate)
    return `approval of stage ${gate.stage} (${gate.decisions.length}/${gate.required} given)`;
  if (status.state === 'soak-review') return 'a soak review (review-soak accept|fail)';
  if (status.state === 'needs-decision') return 'an operator: the failure budget is spent (resume or abort)';
  const attention = status.failed.filter((f) => f.state === 'needs-attention').map((f) => f.hostId);
  if (attention.length) return `on-call: ${attention.join(', ')} need attention`;
  if (status.paused) return 'an operator to resume';
  return status.waitingFor;
}

export function formatStatus(
  status: CampaignStatus & { steps?: Record<string, string> },
  options: { bars?: boolean } = {},
): string {
  const progress: string[] = [];
  if (options.bars) {
    const total = status.waves.reduce((n, w) => n + w.size, 0);
    const testDone = status.testHosts.filter((h) => FINISHED.includes(status.hosts[h] ?? '')).length;
    const done = Object.entries(status.counts)
      .filter(([state]) => FINISHED.includes(state))
      .reduce((n, [, c]) => n + c, 0);
    const rolloutDone = Math.max(0, done - testDone);
    let before = 0;
    progress.push(`progress: ${bar(rolloutDone, total)}`);
    status.waves.forEach((w, i) => {
      const inWave =
        i < status.currentWave
          ? w.size
          : i === status.currentWave
            ? Math.min(w.size, Math.max(0, rolloutDone - before))
            : 0;
      progress.push(`  wave ${i + 1} ${pad(w.name, 12)} ${bar(inWave, w.size, 20)}`);
      before += w.size;
    });
    const who = waitingOn(status);
    if (who) progress.push(`waiting for: ${who}`);
  }
  const lines = [
    ...progress,
    `campaign ${status.campaignId}  (${status.name})`,
    `state:    ${status.state}${status.paused ? ' (paused)' : ''}${status.reason ? `: ${status.reason}` : ''}`,
    ...(status.waitingFor ? [`waiting:  ${status.waitingFor}`] : []),
    `patch:    ${status.patch.id} ${status.patch.version}  sha256 ${status.patch.sha256}`,
    `started:  by ${status.startedBy}; file ${status.fileSha256.slice(0, 16)}…; run ${status.runs}`,
    `soak:     ${status.soak.verdict ?? 'running'}${status.soak.reason ? ` (${status.soak.reason})` : ''}  ${status.soak.probes.length} probes (${status.soak.probes.filter((p) => p.result !== 'ok').length} not ok), duration ${formatDuration(status.soak.durationMs)}, every ${formatDuration(status.soak.probeIntervalMs)}`,
    `budget:   ${status.budget.failed} failed (${status.budget.failed - status.budget.baseline} since last decision), ${status.budget.allowed} allowed`,
    `counts:   ${
      Object.entries(status.counts)
        .filter(([, n]) => n > 0)
        .map(([k, n]) => `${k} ${n}`)
        .join(', ') || '-'
    }`,
  ];
  for (const g of status.gates) {
    lines.push(
      `gate:     ${g.stage} before wave ${g.beforeWave + 1}: ${g.state}, ${g.hostCount} hosts, host-set ${g.hostSetDigest.slice(0, 16)}…${g.expiresAt && g.state === 'open' ? `, expires ${g.expiresAt}` : ''}`,
    );
    for (const d of g.decisions)
      lines.push(
        `          ${d.decision} by ${d.identity} (${d.roles.join('/') || 'named'}) at ${d.at}${d.comment ? `: ${d.comment}` : ''}`,
      );
  }
  for (const d of status.decisions.slice(-10))
    lines.push(
      `decision: ${d.at} ${d.identity} ${d.action}${d.hostId ? ` ${d.hostId}` : ''}${d.note ? `: ${d.note}` : ''}`,
    );
  lines.push('test system:');
  for (const h of status.testHosts) lines.push(`  ${pad(h, 16)} ${status.hosts[h] ?? 'pending'}`);
  status.waves.forEach((w, i) =>
    lines.push(
      `wave ${i + 1} "${w.name}" (${w.size} hosts)${i === status.currentWave ? ' (current)' : i < status.currentWave ? ' (done)' : ''}`,
    ),
  );
  const current = Object.entries(status.hosts).filter(([h]) => !status.testHosts.includes(h));
  if (current.length) lines.push('hosts (current wave and failed):');
  lines.push(
    ...columns(
      current.map(([h, state]) => {
        const step = status.steps?.[h];
        const failed = status.failed.find((f) => f.hostId === h);
        const why = failed?.rollbackFailure ?? failed?.failure;
        return [
          `  ${h}`,
          failed?.unchanged ? `${state} (not changed)` : state,
          step ? `step ${step}` : '',
          why ? `${why.step}: ${why.type}: ${why.message}` : '',
        ];
      }),
    ),
  );
  return lines.join('\n');
}

export function formatReport(report: CampaignReport): string {
  const c = report.campaign;
  const lines = [
    '',
    `=== campaign report: ${c.id} ===`,
    `state: ${c.state}${c.reason ? ` (${c.reason})` : ''}   patch: ${c.patch.id} ${c.patch.version} (sha256 ${c.patch.sha256.slice(0, 16)}…)`,
    `soak: ${c.soak.verdict ?? '-'} after ${c.soak.probes} probes over ${formatDuration(c.soak.durationMs)}${c.soak.reason ? ` (${c.soak.reason})` : ''}`,
    ...c.approvals.map(
      (a) =>
        `${a.decision}: ${a.stage} by ${a.identity} (${a.roles.join('/') || 'named'}) at ${a.at}, saw ${a.probesSeen} probes, verdict ${a.soakVerdict}, ${a.hostCount} hosts`,
    ),
    ...c.decisions.map(
      (d) =>
        `decision: ${d.at} ${d.identity} ${d.action}${d.hostId ? ` ${d.hostId}` : ''}${d.note ? `: ${d.note}` : ''}`,
    ),
    ...(c.startedAt ? [`started: ${c.startedAt}${c.finishedAt ? `   ended: ${c.finishedAt}` : ''}`] : []),
    ...(c.wallTimeMs !== undefined ? [`wall time: ${formatDuration(c.wallTimeMs)}`] : []),
    '',
  ];
  const indent = '    ';
  const table = columns([
    ['host', 'role', 'state', 'version', 'time', 'image'],
    ...report.hosts.map((h) => [
      h.id,
      h.role ?? '-',
      h.unchanged ? `${h.state} (not changed)` : h.state,
      h.toVersion && h.toVersion !== h.fromVersion
        ? `${h.fromVersion}->${h.toVersion}`
        : (h.fromVersion ?? '-'),
      formatDuration(h.durationMs),
      h.imageId ?? '-',
    ]),
  ]);
  lines.push(table[0] ?? '');
  report.hosts.forEach((h, i) => {
    lines.push(table[i + 1] ?? '');
    if (h.preflight) lines.push(`${indent}preflight: ${h.preflight}`);
    if (h.protectedPaths) lines.push(`${indent}protected paths: ${h.protectedPaths}`);
    if (h.health) lines.push(`${indent}health: ${h.health}`);
    if (h.failure) lines.push(`${indent}failed at ${h.failure}`);
    if (h.rollbackFailure) lines.push(`${indent}rollback failed at ${h.rollbackFailure}`);
  });
  return lines.join('\n');
}

export function formatHosts(hosts: HostRow[]): string {
  return columns(
    hosts.map((h) => [
      h.hostId,
      h.state,
      h.wave,
      h.role ?? '',
      h.step ? `step ${h.step}` : '',
      h.imageId ? `image ${h.imageId}` : '',
      h.failure ?? '',
    ]),
  )
    .map((line) => `${line}\n`)
    .join('');
}

export function formatLedger(rows: LedgerRow[]): string {
  if (!rows.length) return 'the ledger is empty for this selection\n';
  return columns(
    rows.map((r) => [
      r.hostId,
      `${r.patchId} ${r.patchVersion}`,
      r.hasPatch ? 'HAS' : 'LACKS',
      r.state,
      r.campaignId ?? '',
      r.imageId ? `image ${r.imageId}` : '',
      r.approvedBy ? `approved by ${r.approvedBy}` : '',
    ]),
  )
    .map((line) => `${line}\n`)
    .join('');
}

export function formatAudit(entries: AuditEntry[]): string {
  return columns(
    entries.map((e) => [
      String(e.seq).padStart(5),
      e.at,
      e.actor,
      e.role,
      e.via,
      e.action,
      e.outcome,
      [e.campaignId, e.hostId, e.stage].filter(Boolean).join('/'),
      e.detail ? `— ${e.detail}` : '',
    ]),
  )
    .map((line) => `${line}\n`)
    .join('');
}
