// The vendor approval page: the evidence, then approve or reject.
import { api, errorBox, h, post } from '../lib.js';
import { soakChart } from './campaign.js';

export async function approveView(id) {
  const status = await api(`/api/campaigns/${encodeURIComponent(id)}`);
  const gate = status.gates.find((g) => g.state === 'open');
  const comment = h('textarea', {
    rows: 3,
    testid: 'comment',
    placeholder: 'comment (a reason is required to reject)',
  });
  const out = h('div');
  const decide = (what) => async () => {
    try {
      const record =
        what === 'approve'
          ? await post(`/api/campaigns/${encodeURIComponent(id)}/approve`, {
              stage: gate.stage,
              comment: comment.value,
              artifactSha256: status.patch.sha256,
              hostSetDigest: gate.hostSetDigest,
            })
          : await post(`/api/campaigns/${encodeURIComponent(id)}/reject`, {
              stage: gate.stage,
              reason: comment.value,
            });
      out.replaceChildren(
        h(
          'div',
          { class: 'notice', testid: 'decision' },
          `${record.decision} stage ${record.stage} as ${record.identity} at ${record.at}`,
        ),
      );
    } catch (err) {
      out.replaceChildren(errorBox(err));
    }
  };
  return h(
    'div',
    {},
    h('h2', {}, `Approval: ${status.name}`),
    h(
      'div',
      { class: 'card' },
      h('p', {}, `Patch ${status.patch.id} ${status.patch.version}`),
      h('p', {}, 'Artifact SHA-256: ', h('code', { testid: 'checksum' }, status.patch.sha256)),
      gate
        ? h(
            'p',
            { testid: 'host-set' },
            `Stage ${gate.stage} releases ${gate.hostCount} hosts; host-set digest `,
            h('code', {}, gate.hostSetDigest),
            gate.expiresAt ? `; expires ${gate.expiresAt}` : '',
          )
        : h('p', { class: 'error' }, `No gate is open (campaign is ${status.state}).`),
    ),
    soakChart(status),
    gate
      ? h(
          'div',
          { class: 'card' },
          comment,
          h(
            'p',
            {},
            h('button', { class: 'primary', onclick: decide('approve'), testid: 'approve' }, 'Approve'),
            h('button', { class: 'danger', onclick: decide('reject'), testid: 'reject' }, 'Reject'),
          ),
        )
      : '',
    out,
  );
}
