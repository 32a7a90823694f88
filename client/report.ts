/**
 * The campaign report: every host's outcome (versions, image, failure, health), the approvals and decisions;
 * built from the campaign's final status and the host workflows' outcomes. Used by the CLI, demo and API.
 */
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
  /** It failed before anything on it changed: not restored, not rebooted. */
  unchanged?: boolean;
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
    /** When the campaign started and ended (workflow time), and the wall time between. */
    startedAt?: string;
    finishedAt?: string;
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
    ...(outcome.unchanged ? { unchanged: true } : {}),
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
      ...(status.startedAt ? { startedAt: status.startedAt } : {}),
      ...(status.finishedAt ? { finishedAt: status.finishedAt } : {}),
      ...(wallTimeMs !== undefined
        ? { wallTimeMs }
        : status.startedAt && status.finishedAt
          ? { wallTimeMs: Date.parse(status.finishedAt) - Date.parse(status.startedAt) }
          : {}),
    },
    hosts,
  };
}
