// The dashboard: a build-free page over the HTTP API, one ES module per view (web/views/). The token
// stays in this tab's sessionStorage; every value from the API is shown with textContent, never parsed
// as HTML.
import { api, errorBox, h, link, may, session } from './lib.js';
import { approveView } from './views/approve.js';
import { auditView } from './views/audit.js';
import { campaignView } from './views/campaign.js';
import { campaignsView } from './views/campaigns.js';
import { ledgerView } from './views/ledger.js';
import { finishSignIn, loginView } from './views/login.js';
import { onCallView } from './views/on-call.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const who = document.getElementById('who');

function renderNav() {
  nav.replaceChildren();
  who.replaceChildren();
  if (!session.me) return;
  const items = [
    ['#/campaigns', 'Campaigns', true],
    ['#/on-call', 'On-call queue', may('on-call-queue')],
    ['#/ledger', 'Ledger', may('ledger')],
    ['#/audit', 'Audit log', may('audit')],
  ];
  for (const [href, text, shown] of items)
    if (shown) nav.append(link(href, text, { class: location.hash.startsWith(href) ? 'active' : undefined }));
  who.append(
    h('span', { testid: 'whoami' }, `${session.me.name} (${session.me.role})`),
    ' ',
    h('button', { onclick: signOut, testid: 'sign-out' }, 'Sign out'),
  );
}

function signOut() {
  sessionStorage.removeItem('token');
  session.me = undefined;
  location.hash = '#/login';
}

/** Counts navigations: a view that finishes loading after a newer navigation is not shown. */
let navigation = 0;

async function route() {
  const mine = ++navigation;
  clearInterval(session.timer);
  const [path, ...rest] = location.hash.replace(/^#\//, '').split('?')[0].split('/');
  if (!session.me && sessionStorage.getItem('token'))
    session.me = await api('/api/me').catch(() => undefined);
  if (!session.me || path === 'login' || !path) {
    renderNav();
    if (session.me && !path) return (location.hash = '#/campaigns');
    const shown = loginView(signInError);
    // Said once: a later sign-in page (after signing out) starts clean.
    signInError = undefined;
    return main.replaceChildren(shown);
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
  let content;
  try {
    content = await view();
  } catch (err) {
    content = errorBox(err);
  }
  // Signing in lands on the campaigns, and an immediate jump elsewhere must not be overwritten by them.
  if (mine === navigation) main.replaceChildren(content);
}

// Back from the identity provider: finish signing in before the first view.
let signInError = await finishSignIn();
window.addEventListener('hashchange', route);
route();
