// Sign in with a token.
import { api, errorBox, h, session } from '../lib.js';

export function loginView() {
  const input = h('input', { type: 'password', id: 'token', placeholder: 'rot_…', testid: 'token' });
  const out = h('div');
  const submit = async (e) => {
    e.preventDefault();
    sessionStorage.setItem('token', input.value.trim());
    try {
      session.me = await api('/api/me');
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
