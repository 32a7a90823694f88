// The audit log and the verdict on its hash chain.
import { api, h, table } from '../lib.js';

export async function auditView() {
  const [verdict, { entries }] = await Promise.all([api('/api/audit/verify'), api('/api/audit?limit=200')]);
  return h(
    'div',
    {},
    h('h2', {}, 'Audit log'),
    h(
      'div',
      { class: verdict.ok ? 'notice' : 'error', testid: 'audit-verdict' },
      verdict.ok
        ? `chain verified: ${verdict.entries} entries, head ${verdict.head.slice(0, 16)}…`
        : `CHAIN BROKEN at entry ${verdict.firstBad.seq}: ${verdict.firstBad.problem}`,
    ),
    table(
      ['#', 'at', 'actor', 'role', 'via', 'action', 'campaign / host / stage', 'outcome', 'detail'],
      entries.map((e) =>
        h(
          'tr',
          { testid: `audit-${e.seq}` },
          h('td', {}, e.seq),
          h('td', {}, e.at),
          h('td', {}, e.actor),
          h('td', {}, e.role),
          h('td', {}, e.via),
          h('td', {}, e.action),
          h('td', {}, [e.campaignId, e.hostId, e.stage].filter(Boolean).join(' / ')),
          h('td', {}, e.outcome),
          h('td', {}, e.detail),
        ),
      ),
      'audit',
    ),
  );
}
