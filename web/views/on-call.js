// On-call's queue: hosts that need a person, and the four actions.
import { api, errorBox, h, link, post, table } from '../lib.js';

export async function onCallView() {
  const { hosts } = await api('/api/on-call');
  const out = h('div');
  const rows = hosts.map((x) => {
    const note = h('input', {
      type: 'text',
      placeholder: 'note (required for mark-fixed)',
      testid: `note-${x.hostId}`,
    });
    const act = (action) => async () => {
      try {
        const d = await post(
          `/api/campaigns/${encodeURIComponent(x.campaignId)}/hosts/${encodeURIComponent(x.hostId)}/${action}`,
          { note: note.value },
        );
        out.replaceChildren(
          h(
            'div',
            { class: 'notice', testid: 'action-result' },
            `${d.action} ${d.hostId} recorded at ${d.at}`,
          ),
        );
      } catch (err) {
        out.replaceChildren(errorBox(err));
      }
    };
    return h(
      'tr',
      { testid: `attention-${x.hostId}` },
      h('td', {}, x.hostId, x.group ? ` (group ${x.group})` : ''),
      h('td', {}, link(`#/campaign/${encodeURIComponent(x.campaignId)}`, x.campaignName), ` · ${x.patchId}`),
      h('td', {}, x.failure ?? '', x.rollbackFailure ? ` / rollback: ${x.rollbackFailure}` : ''),
      h('td', {}, x.imageId ?? 'no image'),
      h(
        'td',
        {},
        note,
        ['retry', 'rollback', 'mark-fixed', 'skip'].map((a) =>
          h('button', { onclick: act(a), testid: `${a}-${x.hostId}` }, a),
        ),
      ),
    );
  });
  return h(
    'div',
    {},
    h('h2', {}, 'Hosts needing attention'),
    hosts.length
      ? table(['host', 'campaign', 'what failed', 'saved image', 'action'], rows, 'attention')
      : h('p', { testid: 'queue-empty' }, 'Nothing needs attention.'),
    out,
  );
}
