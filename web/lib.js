// What every view of the dashboard shares: DOM builders (text only, never HTML), the API client,
// and the signed-in session.

/** The signed-in user (from /api/me) and the view's polling timer. */
export const session = { me: undefined, timer: undefined };

export function h(tag, attrs = {}, ...children) {
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

export const svg = (tag, attrs = {}) => {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
};

export class ApiError extends Error {
  constructor(status, type, message) {
    super(message);
    this.status = status;
    this.type = type;
  }
}

export async function api(path, options = {}) {
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

export const post = (path, body) => api(path, { method: 'POST', body: JSON.stringify(body) });
export const may = (view) => session.me?.views.includes(view);
export const errorBox = (err) =>
  h('div', { class: 'error', testid: 'error' }, `${err.type ?? 'Error'}: ${err.message}`);
export const table = (headers, rows, testid) =>
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
export const link = (href, text, attrs = {}) => h('a', { href, ...attrs }, text);
