// The patch ledger: hosts x patches, who lacks a patch, CSV.
import { api, h, table } from '../lib.js';

export async function ledgerView() {
  const params = new URLSearchParams(location.hash.split('?')[1] ?? '');
  const patch = h('input', {
    type: 'text',
    placeholder: 'patch ID',
    value: params.get('patch') ?? '',
    testid: 'ledger-patch',
  });
  const missing = h('input', {
    type: 'checkbox',
    testid: 'ledger-missing',
    checked: params.get('missing') === 'true',
  });
  const q = `patch=${encodeURIComponent(params.get('patch') ?? '')}&missing=${params.get('missing') === 'true'}`;
  const { rows } = await api(`/api/ledger?${q}`);
  const csv = async () => {
    const text = await api(`/api/ledger?${q}&format=csv`);
    const a = h('a', {
      href: URL.createObjectURL(new Blob([text], { type: 'text/csv' })),
      download: 'ledger.csv',
    });
    a.click();
  };
  return h(
    'div',
    {},
    h('h2', {}, 'Patch ledger'),
    h(
      'form',
      {
        onsubmit: (e) => {
          e.preventDefault();
          location.hash = `#/ledger?patch=${encodeURIComponent(patch.value)}&missing=${missing.checked}`;
        },
      },
      patch,
      h('label', {}, missing, ' only hosts lacking the patch'),
      ' ',
      h('button', { type: 'submit' }, 'Show'),
      h('button', { type: 'button', onclick: csv }, 'CSV'),
    ),
    table(
      ['host', 'role', 'patch', 'state', 'campaign', 'from → to', 'image', 'approved by', 'updated'],
      rows.map((r) =>
        h(
          'tr',
          { testid: `ledger-${r.hostId}` },
          h('td', {}, r.hostId),
          h('td', {}, r.role),
          h('td', {}, `${r.patchId} ${r.patchVersion}`),
          h('td', { class: `s-${r.state}` }, r.state),
          h('td', {}, r.campaignId ?? ''),
          h('td', {}, r.fromVersion ? `${r.fromVersion} → ${r.toVersion ?? '?'}` : ''),
          h('td', {}, r.imageId ?? ''),
          h('td', {}, r.approvedBy ?? ''),
          h('td', {}, r.updatedAt ?? ''),
        ),
      ),
      'ledger',
    ),
  );
}
