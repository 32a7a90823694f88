/** Human output for the terminal: campaign status and the final report. */
import { formatDuration } from '../domain/duration.js';
import type { CampaignStatus, HostOutcome } from '../domain/schema.js';

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
  steps: Array<{ step: string; durationMs: number }>;
}

export interface CampaignReport {
  campaign: {
    id: string;
    name: string;
    state: string;
    startedBy: string;
    patch: CampaignStatus['patch'];
    soak: { verdict?: string; probes: number; durationMs: number };
    approvals: CampaignStatus['approvals'];
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
    steps: outcome.timings.map((t) => ({ step: t.step, durationMs: t.durationMs })),
  };
}

export function buildReport(
  status: CampaignStatus,
  roles: Record<string, string> = {},
  wallTimeMs?: number,
): CampaignReport {
  const byHost = new Map(status.outcomes.map((o) => [o.hostId, o]));
  const hosts = Object.keys(status.hosts).map((id) => {
    const outcome = byHost.get(id);
    return outcome
      ? reportHost(outcome, roles)
      : { id, state: status.hosts[id] ?? 'pending', role: roles[id], durationMs: 0, steps: [] };
  });
  return {
    campaign: {
      id: status.campaignId,
      name: status.name,
      state: status.state,
      startedBy: status.startedBy,
      patch: status.patch,
      soak: {
        verdict: status.soak.verdict,
        probes: status.soak.probes.length,
        durationMs: status.soak.durationMs,
      },
      approvals: status.approvals,
      wallTimeMs,
    },
    hosts,
  };
}

const pad = (text: string, width: number) => text.padEnd(width);

export function formatStatus(status: CampaignStatus & { steps?: Record<string, string> }): string {
  const lines = [
    `campaign ${status.campaignId}  (${status.name})`,
    `state:    ${status.state}`,
    `patch:    ${status.patch.id} ${status.patch.version}  sha256 ${status.patch.sha256}`,
    `started:  by ${status.startedBy}`,
    `soak:     ${status.soak.verdict ?? 'running'}  ${status.soak.probes.length} probes (${status.soak.probes.filter((p) => !p.ok).length} failed), duration ${formatDuration(status.soak.durationMs)}, every ${formatDuration(status.soak.probeIntervalMs)}`,
  ];
  for (const a of status.approvals)
    lines.push(`approved: stage ${a.stage} by ${a.identity} (${a.role}) at ${a.at}`);
  if (status.state === 'awaiting-approval')
    lines.push('waiting:  for a vendor approval (rollout approve <id> --stage <stage> --as <identity>)');
  const section = (title: string, hosts: string[]) => {
    lines.push(title);
    for (const h of hosts) {
      const step = status.steps?.[h];
      lines.push(`  ${pad(h, 16)} ${pad(status.hosts[h] ?? 'pending', 16)}${step ? ` step ${step}` : ''}`);
    }
  };
  section('test system:', status.testHosts);
  status.waves.forEach((w, i) =>
    section(`wave ${i + 1} "${w.name}"${i === status.currentWave ? ' (current)' : ''}:`, w.hosts),
  );
  return lines.join('\n');
}

export function formatReport(report: CampaignReport): string {
  const c = report.campaign;
  const lines = [
    '',
    `=== campaign report: ${c.id} ===`,
    `state: ${c.state}   patch: ${c.patch.id} ${c.patch.version} (sha256 ${c.patch.sha256.slice(0, 16)}…)`,
    `soak: ${c.soak.verdict ?? '-'} after ${c.soak.probes} probes over ${formatDuration(c.soak.durationMs)}`,
    ...c.approvals.map(
      (a) =>
        `approval: ${a.stage} by ${a.identity} (${a.role}) at ${a.at}, saw ${a.probesSeen} probes, verdict ${a.soakVerdict}`,
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
    if (h.failure) lines.push(`${' '.repeat(14)}failed at ${h.failure}`);
    if (h.rollbackFailure) lines.push(`${' '.repeat(14)}rollback failed at ${h.rollbackFailure}`);
  }
  return lines.join('\n');
}
