/**
 * The campaign report as one self-contained HTML page (no scripts, no external files) for auditors:
 * approvals with the evidence the approver saw, the soak probes, every host's outcome and image, and
 * every decision. All text is escaped.
 */
import type { CampaignStatus } from '../domain/schema.js';
import type { CampaignReport } from './report.js';

const esc = (value: unknown) => String(value ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const table = (headers: string[], rows: unknown[][]) =>
  `<table><thead><tr>${headers.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`)
    .join('')}</tbody></table>`;

export function renderReportHtml(report: CampaignReport & { status: CampaignStatus }): string {
  const c = report.campaign;
  const s = report.status;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Campaign report ${esc(c.id)}</title>
<style>body{font:14px system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:.5em 0 1.5em}
td,th{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}th{background:#f3f3f3}
code{font-size:12px}</style></head><body>
<h1>Campaign report: ${esc(c.name)}</h1>
<p>Campaign <code>${esc(c.id)}</code> — state <strong>${esc(c.state)}</strong>${c.reason ? ` (${esc(c.reason)})` : ''}; started by ${esc(c.startedBy)}.</p>
<p>Patch ${esc(c.patch.id)} ${esc(c.patch.version)}, artifact SHA-256 <code>${esc(c.patch.sha256)}</code>.</p>
<h2>Soak</h2>
<p>Verdict: <strong>${esc(c.soak.verdict ?? 'none')}</strong> ${esc(c.soak.reason ?? '')}; ${c.soak.probes} probe(s) on ${esc(s.testHosts.join(', '))}.</p>
${table(
  ['at', 'result', 'failed checks'],
  s.soak.probes.map((p) => [p.at, p.result, p.failed.join('; ')]),
)}
<h2>Approvals</h2>
${table(
  ['stage', 'decision', 'by', 'roles', 'at', 'comment', 'checksum seen', 'host set seen', 'soak seen'],
  c.approvals.map((a) => [
    a.stage,
    a.decision,
    a.identity,
    a.roles.join('/'),
    a.at,
    a.comment,
    a.artifactSha256,
    `${a.hostCount} hosts, ${a.hostSetDigest.slice(0, 16)}…`,
    `${a.soakVerdict}, ${a.probesSeen} probes (${a.failedProbesSeen} failed)`,
  ]),
)}
<h2>Hosts</h2>
${table(
  ['host', 'role', 'state', 'from', 'to', 'image', 'image SHA-256', 'health', 'failure'],
  report.hosts.map((h) => [
    h.id,
    h.role,
    h.state,
    h.fromVersion,
    h.toVersion,
    h.imageId,
    h.imageSha256,
    h.health,
    [h.failure, h.rollbackFailure].filter(Boolean).join(' / rollback: '),
  ]),
)}
<h2>Decisions</h2>
${table(
  ['at', 'by', 'action', 'host', 'note'],
  c.decisions.map((d) => [d.at, d.identity, d.action, d.hostId, d.note]),
)}
</body></html>
`;
}
