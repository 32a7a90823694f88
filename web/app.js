// The dashboard: a build-free page over the HTTP API. The token stays in this tab's sessionStorage;
// every value from the API is shown with textContent, never parsed as HTML.

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const who = document.getElementById('who');
let me;
let timer;

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'testid') el.dataset.testid = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const svg = (tag, attrs = {}) => {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
};

class ApiError extends Error {
  constructor(status, type, message) {
    super(message);
    this.status = status;
    this.type = type;
  }
}

async function api(path, options = {}) {
  const res = await fetch(path, {
    ...options,
    headers: {
      authorization: `Bearer ${sessionStorage.getItem('token') ?? ''}`,
      ...(options.body ? { 'content-type': 'application/json' } : {}),
    },
  });
  if (path.endsWith('.html') || path.includes('format=csv')) {
    if (!res.ok) throw new ApiError(res.status, 'Error', await res.text());
    return res.text();
  }
  const data = await res.json().catch(() => ({}));
  if (!res.ok)
    throw new ApiError(res.status, data.error?.type ?? 'Error', data.error?.message ?? res.statusText);
  return data;
}

const post = (path, body) => api(path, { method: 'POST', body: JSON.stringify(body) });
const may = (view) => me?.views.includes(view);
const errorBox = (err) =>
  h('div', { class: 'error', testid: 'error' }, `${err.type ?? 'Error'}: ${err.message}`);
const table = (headers, rows, testid) =>
  h(
    'table',
    { testid },
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        headers.map((x) => h('th', {}, x)),
      ),
    ),
    h('tbody', {}, rows),
  );
const link = (href, text, attrs = {}) => h('a', { href, ...attrs }, text);

function renderNav() {
  nav.replaceChildren();
  who.replaceChildren();
  if (!me) return;
  const items = [
    ['#/campaigns', 'Campaigns', true],
    ['#/on-call', 'On-call queue', may('on-call-queue')],
    ['#/ledger', 'Ledger', may('ledger')],
    ['#/audit', 'Audit log', may('audit')],
  ];
  for (const [href, text, shown] of items)
    if (shown) nav.append(link(href, text, { class: location.hash.startsWith(href) ? 'active' : undefined }));
  who.append(
    h('span', { testid: 'whoami' }, `${me.name} (${me.role})`),
    ' ',
    h('button', { onclick: signOut, testid: 'sign-out' }, 'Sign out'),
  );
}

function signOut() {
  sessionStorage.removeItem('token');
  me = undefined;
  location.hash = '#/login';
}

function loginView() {
  const input = h('input', { type: 'password', id: 'token', placeholder: 'rot_…', testid: 'token' });
  const out = h('div');
  const submit = async (e) => {
    e.preventDefault();
    sessionStorage.setItem('token', input.value.trim());
    try {
      me = await api('/api/me');
      location.hash = '#/campaigns';
    } catch (err) {
      sessionStorage.removeItem('token');
      out.replaceChildren(errorBox(err));
    }
  };
  return h(
    'form',
    { class: 'card', onsubmit: submit },
    h('h2', {}, 'Sign in'),
    h('p', {}, 'Paste the token `rollout users add` gave you.'),
    input,
    h('p', {}, h('button', { class: 'primary', type: 'submit', testid: 'sign-in' }, 'Sign in')),
    out,
  );
}

async function campaignsView() {
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
        c.state === 'awaiting-approval' && me.role === 'vendor'
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
  if (me.role === 'operator') parts.push(startForm());
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

function soakChart(status) {
  const probes = status.soak.probes;
  const width = 600;
  const height = 60;
  const chart = svg('svg', {
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    'data-testid': 'soak-chart',
    role: 'img',
  });
  const start = Date.parse(status.soak.startedAt ?? probes[0]?.at ?? new Date().toISOString());
  const span = Math.max(status.soak.durationMs, 1);
  chart.append(svg('line', { x1: 0, y1: height - 10, x2: width, y2: height - 10, stroke: '#999' }));
  for (const p of probes) {
    const x = Math.min(width - 6, Math.max(0, ((Date.parse(p.at) - start) / span) * (width - 6)));
    const color = p.result === 'ok' ? '#2a9d8f' : p.result === 'failed' ? '#c1121f' : '#999';
    const bar = svg('rect', {
      x,
      y: p.result === 'ok' ? 10 : 25,
      width: 6,
      height: p.result === 'ok' ? 40 : 25,
      fill: color,
    });
    bar.setAttribute('data-result', p.result);
    const title = svg('title');
    title.textContent = `${p.at}: ${p.result}${p.failed.length ? ` (${p.failed.join(', ')})` : ''}`;
    bar.append(title);
    chart.append(bar);
  }
  const ok = probes.filter((p) => p.result === 'ok').length;
  return h(
    'div',
    { class: 'card' },
    h('h3', {}, 'Soak evidence'),
    h(
      'p',
      { testid: 'soak-verdict' },
      `verdict: ${status.soak.verdict ?? 'pending'}${status.soak.reason ? ` — ${status.soak.reason}` : ''}; ${ok}/${probes.length} probes healthy on ${status.testHosts.join(', ')}`,
    ),
    chart,
  );
}

function timeline(status) {
  const order = ['test-install', 'soaking', 'soak-review', 'awaiting-approval', 'rolling-out'];
  const failedStates = ['test-failed', 'soak-failed', 'rejected', 'approval-expired', 'aborted'];
  const reached = order.indexOf(status.state);
  const steps = [
    ['test install', 0],
    ['soak', 1],
    ...status.gates.map((g) => [`gate ${g.stage}: ${g.state}`, 3, g]),
    ...status.waves.map((w, i) => [`wave ${w.name} (${w.size})`, 4, undefined, i]),
  ];
  const items = steps.map(([label, phase, gate, wave]) => {
    let cls = '';
    if (status.state === 'completed') cls = 'done';
    else if (gate)
      cls =
        gate.state === 'approved'
          ? 'done'
          : gate.state === 'open'
            ? 'current'
            : ['rejected', 'expired'].includes(gate.state)
              ? 'failed'
              : '';
    else if (wave !== undefined)
      cls = wave < status.currentWave ? 'done' : wave === status.currentWave && reached >= 4 ? 'current' : '';
    else if (reached > phase || (reached === -1 && !failedStates.includes(status.state))) cls = 'done';
    else if (reached === phase) cls = 'current';
    else if (failedStates.includes(status.state)) cls = 'failed';
    return h('li', { class: cls }, label);
  });
  return h('ol', { class: 'timeline', testid: 'timeline' }, items);
}

async function campaignView(id) {
  const wrap = h('div');
  const draw = async () => {
    const status = await api(`/api/campaigns/${encodeURIComponent(id)}`);
    const hosts = may('hosts') ? (await api(`/api/campaigns/${encodeURIComponent(id)}/hosts`)).hosts : [];
    const parts = [
      h('h2', {}, `${status.name} `, h('small', {}, id)),
      h(
        'p',
        {},
        'state ',
        h('strong', { testid: 'state' }, status.state),
        status.reason ? ` — ${status.reason}` : '',
        status.waitingFor ? ` — waiting for ${status.waitingFor}` : '',
        status.paused ? ' (paused)' : '',
      ),
      h(
        'p',
        {},
        `patch ${status.patch.id} ${status.patch.version}, sha256 `,
        h('code', {}, status.patch.sha256),
      ),
      timeline(status),
      h(
        'p',
        {},
        `failure budget: ${status.budget.failed}/${status.budget.allowed} spent; `,
        Object.entries(status.counts)
          .map(([k, v]) => `${k} ${v}`)
          .join(', '),
      ),
    ];
    if (status.state === 'awaiting-approval' && me.role === 'vendor')
      parts.push(
        h(
          'p',
          {},
          link(`#/approve/${encodeURIComponent(id)}`, 'Review the evidence and approve', {
            testid: 'review-link',
          }),
        ),
      );
    if (me.role === 'operator') parts.push(controls(id, status));
    parts.push(soakChart(status));
    if (hosts.length)
      parts.push(
        h('h3', {}, 'Hosts'),
        h(
          'div',
          { class: 'grid', testid: 'host-grid' },
          hosts.map((x) =>
            h(
              'div',
              { class: `tile s-${x.state}`, testid: `host-${x.hostId}`, title: x.failure ?? '' },
              h('strong', {}, x.hostId),
              `${x.state}${x.step ? ` (${x.step})` : ''}`,
              h('br'),
              `${x.role ?? ''} · ${x.wave}`,
            ),
          ),
        ),
      );
    if (may('report'))
      parts.push(
        h(
          'p',
          {},
          h('button', { testid: 'open-report', onclick: () => openReport(id) }, 'Open the report (HTML)'),
        ),
      );
    wrap.replaceChildren(...parts);
    return status;
  };
  await draw();
  // Live updates: redraw every two seconds while this page is shown.
  timer = setInterval(() => draw().catch((err) => wrap.prepend(errorBox(err))), 2000);
  return wrap;
}

async function openReport(id) {
  const html = await api(`/api/campaigns/${encodeURIComponent(id)}/report.html`);
  const url = URL.createObjectURL(new Blob([html], { type: 'text/html' }));
  window.open(url, '_blank');
}

function controls(id, status) {
  const reason = h('input', { type: 'text', placeholder: 'reason', testid: 'control-reason' });
  const out = h('div');
  const act = (what) => async () => {
    try {
      const d = await post(`/api/campaigns/${encodeURIComponent(id)}/${what}`, { reason: reason.value });
      out.replaceChildren(h('div', { class: 'notice' }, `${d.action} recorded at ${d.at}`));
    } catch (err) {
      out.replaceChildren(errorBox(err));
    }
  };
  return h(
    'div',
    { class: 'card' },
    h('h3', {}, 'Operator controls'),
    reason,
    h(
      'p',
      {},
      h('button', { onclick: act('pause'), testid: 'pause', disabled: status.paused }, 'Pause'),
      h('button', { onclick: act('resume'), testid: 'resume' }, 'Resume'),
      h('button', { class: 'danger', onclick: act('abort'), testid: 'abort' }, 'Abort'),
    ),
    out,
  );
}

async function approveView(id) {
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

async function onCallView() {
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

async function ledgerView() {
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

async function auditView() {
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

async function route() {
  clearInterval(timer);
  const [path, ...rest] = location.hash.replace(/^#\//, '').split('?')[0].split('/');
  if (!me && sessionStorage.getItem('token')) me = await api('/api/me').catch(() => undefined);
  if (!me || path === 'login' || !path) {
    renderNav();
    if (me && !path) return (location.hash = '#/campaigns');
    return main.replaceChildren(loginView());
  }
  renderNav();
  const id = decodeURIComponent(rest.join('/'));
  const views = {
    campaigns: campaignsView,
    campaign: () => campaignView(id),
    approve: () => approveView(id),
    'on-call': onCallView,
    ledger: ledgerView,
    audit: auditView,
  };
  const view = views[path] ?? campaignsView;
  try {
    main.replaceChildren(await view());
  } catch (err) {
    main.replaceChildren(errorBox(err));
  }
}

window.addEventListener('hashchange', route);
route();
