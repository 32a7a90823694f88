// The campaign list, and the start form with its plan preview (operators).
import { api, errorBox, h, link, post, session, table } from '../lib.js';

export async function campaignsView() {
  const { campaigns } = await api('/api/campaigns');
  const rows = campaigns.map((c) =>
    h(
      'tr',
      { testid: `campaign-${c.campaignId}` },
      h('td', {}, link(`#/campaign/${encodeURIComponent(c.campaignId)}`, c.campaignId)),
      h('td', {}, c.name),
      h('td', {}, `${c.patchId} ${c.patchVersion}`),
      h('td', { testid: 'campaign-state' }, c.state),
      h('td', {}, c.startedBy),
      h('td', {}, c.startedAt),
      h(
        'td',
        {},
        c.state === 'awaiting-approval' && session.me.role === 'vendor'
          ? link(`#/approve/${encodeURIComponent(c.campaignId)}`, 'Review and approve', {
              testid: 'review-link',
            })
          : '',
      ),
    ),
  );
  const parts = [
    h('h2', {}, 'Campaigns'),
    table(['campaign', 'name', 'patch', 'state', 'started by', 'started at', ''], rows, 'campaigns'),
  ];
  if (session.me.role === 'operator') parts.push(startForm());
  return h('div', {}, parts);
}

function startForm() {
  const text = h('textarea', {
    rows: 10,
    testid: 'campaign-file',
    placeholder: 'campaign file (YAML or JSON)',
  });
  const out = h('div');
  const send = async (path, onDone) => {
    try {
      onDone(await post(path, { file: text.value }));
    } catch (err) {
      out.replaceChildren(errorBox(err));
    }
  };
  return h(
    'div',
    { class: 'card' },
    h('h3', {}, 'Start a campaign'),
    text,
    h(
      'p',
      {},
      h(
        'button',
        {
          testid: 'plan',
          onclick: () =>
            send('/api/plan', ({ plan }) =>
              out.replaceChildren(
                h(
                  'div',
                  { class: 'notice', testid: 'plan-result' },
                  `test systems: ${plan.testHosts.join(', ')}; ${plan.waves.map((w) => `${w.name} (${w.hosts.length})`).join(', ')}; ${plan.excluded.length} excluded`,
                ),
              ),
            ),
        },
        'Preview plan',
      ),
      h(
        'button',
        {
          class: 'primary',
          testid: 'start',
          onclick: () =>
            send(
              '/api/campaigns',
              ({ campaignId }) => (location.hash = `#/campaign/${encodeURIComponent(campaignId)}`),
            ),
        },
        'Start',
      ),
    ),
    out,
  );
}
