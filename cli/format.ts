/** Human output for the terminal: campaign status and the final report. */
import { formatDuration } from '../domain/duration.js';
import type { ApprovalRecord, CampaignStatus, HostOutcome } from '../domain/schema.js';

export interface ReportHost {
  id: string;
  state: string;
  role?: string;
  fromVersion?: string;
  toVersion?: string;
  imageId?: string;
  imageSha256?: string;
  durationMs: number;
  failure?: string;
  rollbackFailure?: string;
  healthyAtEnd?: boolean;
  /** What preflight measured: "service pack 3, pacs-linux, 20480 MiB free". */
  preflight?: string;
  /** The protected-path comparison: "3 files unchanged" or the changes. */
  protectedPaths?: string;
  /** The last health report: "7/7 ok (ssh-login, dicom-echo, ...)". */
  health?: string;
  steps: Array<{ step: string; durationMs: number }>;
}

function preflightSummary(outcome: HostOutcome): string | undefined {
  const p = outcome.preflight;
  if (!p) return undefined;
  const parts = [
    p.servicePack !== undefined ? `service pack ${p.servicePack}` : undefined,
    p.os,
    p.freeDiskMiB !== undefined ? `${p.freeDiskMiB} MiB free` : undefined,
  ].filter((x): x is string => x !== undefined);
  return parts.length ? parts.join(', ') : undefined;
}

function protectedSummary(outcome: HostOutcome): string | undefined {
  const i = outcome.integrity;
  if (!i) return undefined;
  const changed = i.changes.length + i.moreChanges;
  if (changed === 0) return `${i.files} files unchanged`;
  return `${changed} changed: ${i.changes.map((c) => `${c.change} ${c.path}`).join(', ')}${i.moreChanges ? ` and ${i.moreChanges} more` : ''}`;
}

function healthSummary(outcome: HostOutcome): string | undefined {
  const h = outcome.health;
  if (!h) return undefined;
  const ok = h.checks.filter((c) => c.ok).length;
  const failed = h.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`);
  return `${ok}/${h.checks.length} ok (${h.checks.map((c) => c.name).join(', ')})${failed.length ? `; failed ${failed.join('; ')}` : ''}`;
}

export interface CampaignReport {
  campaign: {
    id: string;
    name: string;
    state: string;
    startedBy: string;
    patch: CampaignStatus['patch'];
    reason?: string;
    soak: { verdict?: string; reason?: string; probes: number; durationMs: number };
    approvals: ApprovalRecord[];
    decisions: CampaignStatus['decisions'];
    counts: CampaignStatus['counts'];
    wallTimeMs?: number;
  };
  hosts: ReportHost[];
}

function reportHost(outcome: HostOutcome, roles: Record<string, string>): ReportHost {
  return {
    id: outcome.hostId,
    state: outcome.state,
    role: roles[outcome.hostId],
    fromVersion: outcome.fromVersion,
    toVersion: outcome.toVersion,
    imageId: outcome.image?.imageId,
    imageSha256: outcome.image?.sha256,
    durationMs: Date.parse(outcome.finishedAt) - Date.parse(outcome.startedAt),
    failure:
      outcome.failure && `${outcome.failure.step}: ${outcome.failure.type}: ${outcome.failure.message}`,
    rollbackFailure:
      outcome.rollbackFailure && `${outcome.rollbackFailure.step}: ${outcome.rollbackFailure.message}`,
    healthyAtEnd: outcome.health?.ok,
    preflight: preflightSummary(outcome),
    protectedPaths: protectedSummary(outcome),
    health: healthSummary(outcome),
    steps: outcome.timings.map((t) => ({ step: t.step, durationMs: t.durationMs })),
  };
}

/** The report: campaign facts plus one line per host, from each host's own workflow outcome. */
export function buildReport(
  status: CampaignStatus,
  hostIds: string[],
  outcomes: Map<string, HostOutcome>,
  roles: Record<string, string> = {},
  wallTimeMs?: number,
): CampaignReport {
  const hosts = hostIds.map((id) => {
    const outcome = outcomes.get(id);
    const final = status.failed.find((f) => f.hostId === id)?.state;
    if (!outcome)
      return {
        id,
        state: final ?? status.hosts[id] ?? 'not started',
        role: roles[id],
        durationMs: 0,
        steps: [],
      };
    // A person's word (skip, mark-fixed) after the host's last run is the host's state.
    return {
      ...reportHost(outcome, roles),
      ...(final === 'skipped' || final === 'marked-fixed' ? { state: final } : {}),
    };
  });
  return {
    campaign: {
      id: status.campaignId,
      name: status.name,
      state: status.state,
      ...(status.reason ? { reason: status.reason } : {}),
      startedBy: status.startedBy,
      patch: status.patch,
      soak: {
        verdict: status.soak.verdict,
        reason: status.soak.reason,
        probes: status.soak.probes.length,
        durationMs: status.soak.durationMs,
      },
      approvals: status.gates.flatMap((g) => g.decisions),
      decisions: status.decisions,
      counts: status.counts,
      wallTimeMs,
    },
    hosts,
  };
}

const pad = (text: string, width: number) => text.padEnd(width);

export function formatStatus(status: CampaignStatus & { steps?: Record<string, string> }): string {
  const lines = [
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
  for (const [h, state] of current) {
    const step = status.steps?.[h];
    const failed = status.failed.find((f) => f.hostId === h);
    const why = failed?.rollbackFailure ?? failed?.failure;
    lines.push(
      `  ${pad(h, 16)} ${pad(state, 16)}${step ? ` step ${step}` : ''}${why ? ` ${why.step}: ${why.type}: ${why.message}` : ''}`,
    );
  }
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
    ...(c.wallTimeMs !== undefined ? [`wall time: ${formatDuration(c.wallTimeMs)}`] : []),
    '',
    `${pad('host', 14)}${pad('role', 24)}${pad('state', 17)}${pad('version', 16)}${pad('time', 8)}image`,
  ];
  for (const h of report.hosts) {
    const version =
      h.toVersion && h.toVersion !== h.fromVersion
        ? `${h.fromVersion}->${h.toVersion}`
        : (h.fromVersion ?? '-');
    lines.push(
      `${pad(h.id, 14)}${pad(h.role ?? '-', 24)}${pad(h.state, 17)}${pad(version, 16)}${pad(formatDuration(h.durationMs), 8)}${h.imageId ?? '-'}`,
    );
    const indent = ' '.repeat(14);
    if (h.preflight) lines.push(`${indent}preflight: ${h.preflight}`);
    if (h.protectedPaths) lines.push(`${indent}protected paths: ${h.protectedPaths}`);
    if (h.health) lines.push(`${indent}health: ${h.health}`);
    if (h.failure) lines.push(`${indent}failed at ${h.failure}`);
    if (h.rollbackFailure) lines.push(`${' '.repeat(14)}rollback failed at ${h.rollbackFailure}`);
  }
  return lines.join('\n');
}
