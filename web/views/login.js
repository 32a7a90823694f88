// Sign in: with the hospital's identity provider (OpenID Connect, authorization code + PKCE) when the
// API has one set up, or with a token from `rollout users add`.
import { api, errorBox, h, session } from '../lib.js';

const base64url = (bytes) =>
  btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');

/** The page the provider sends the person back to: the dashboard itself. */
const redirectUri = () => `${location.origin}/`;

/** Sends the person to the provider, keeping the PKCE verifier and the state in this tab only. */
async function toProvider(oidc) {
  const verifier = base64url(crypto.getRandomValues(new Uint8Array(32)));
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
  const state = base64url(crypto.getRandomValues(new Uint8Array(16)));
  sessionStorage.setItem('oidc', JSON.stringify({ verifier, state }));
  const url = new URL(oidc.authorizationEndpoint);
  const params = {
    response_type: 'code',
    client_id: oidc.clientId,
    redirect_uri: redirectUri(),
    scope: oidc.scope,
    code_challenge: base64url(new Uint8Array(digest)),
    code_challenge_method: 'S256',
    state,
    resource: oidc.resource,
  };
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  location.assign(url.href);
}

/**
 * Back from the provider (`?code=…&state=…`): the code and this tab's verifier go to the API, which
 * exchanges them and answers with the access token; a state this tab did not send is refused. Returns
 * the error to show, if any.
 */
export async function finishSignIn() {
  const params = new URLSearchParams(location.search);
  if (!params.has('code') && !params.has('error')) return undefined;
  const pending = JSON.parse(sessionStorage.getItem('oidc') ?? 'null');
  sessionStorage.removeItem('oidc');
  history.replaceState(null, '', `/${location.hash}`);
  // A state this tab did not send is someone else's link: nothing from it is shown or used.
  if (!pending || params.get('state') !== pending.state)
    return { type: 'SignInRefused', message: 'this sign-in was not started from this tab; sign in again' };
  if (params.has('error')) {
    const code = /^[a-z_]{1,40}$/.test(params.get('error') ?? '') ? params.get('error') : 'error';
    return { type: 'SignInRefused', message: `the identity provider answered ${code}; sign in again` };
  }
  try {
    const answer = await api('/api/sign-in/token', {
      method: 'POST',
      body: JSON.stringify({
        code: params.get('code'),
        codeVerifier: pending.verifier,
        redirectUri: redirectUri(),
      }),
    });
    sessionStorage.setItem('token', answer.accessToken);
    return undefined;
  } catch (err) {
    return err;
  }
}

export function loginView(signInError) {
  const input = h('input', { type: 'password', id: 'token', placeholder: 'rot_…', testid: 'token' });
  const out = h('div', {}, signInError ? errorBox(signInError) : undefined);
  const provider = h('div');
  api('/api/sign-in/config')
    .then(({ oidc }) => {
      if (!oidc) return;
      provider.replaceChildren(
        h(
          'p',
          {},
          h(
            'button',
            { class: 'primary', type: 'button', testid: 'sign-in-oidc', onclick: () => toProvider(oidc) },
            'Sign in with your hospital account',
          ),
        ),
        h('p', {}, 'Or paste a token:'),
      );
    })
    .catch((err) => provider.replaceChildren(errorBox(err)));
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
    provider,
    h('p', {}, 'Paste the token `rollout users add` gave you.'),
    input,
    h('p', {}, h('button', { class: 'primary', type: 'submit', testid: 'sign-in' }, 'Sign in')),
    out,
  );
}
