// One campaign: timeline, host grid, soak chart, live updates, operator controls, the report.
import { api, errorBox, h, link, may, post, session, svg } from '../lib.js';

export function soakChart(status) {
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

export async function campaignView(id) {
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
    if (status.state === 'awaiting-approval' && session.me.role === 'vendor')
      parts.push(
        h(
          'p',
          {},
          link(`#/approve/${encodeURIComponent(id)}`, 'Review the evidence and approve', {
            testid: 'review-link',
          }),
        ),
      );
    if (session.me.role === 'operator') parts.push(controls(id, status));
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
  session.timer = setInterval(() => draw().catch((err) => wrap.prepend(errorBox(err))), 2000);
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
