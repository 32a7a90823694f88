/**
 * Sign-in with the hospital's identity provider, against a real OpenID provider (`oidc-provider`, on
 * HTTPS with a test CA): each role signs in to the dashboard in headless Chromium (authorization code +
 * PKCE, the API exchanges the code and verifies the access token against the provider's JWKS) and sees
 * its own views; the same access token works as the CLI's bearer through the API; a token from another
 * issuer, an expired one signed with the provider's own key, one whose groups map to no role and one
 * whose groups map to two are refused with the reason, and the refusals are audited; the local tokens
 * still work beside it. Real dev server for the action service (no worker: nothing is started here).
 */
import { execFile } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { promisify } from 'node:util';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { FastifyInstance } from 'fastify';
import { importJWK, SignJWT, type JWK } from 'jose';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { oidcSignIn, type OidcOptions } from '../../adapters/oidc.js';
import { createApi } from '../../api/server.js';
import { rolloutActions, type RolloutActions } from '../../client/actions.js';
import { decisionSigner, serviceSigner } from '../../client/signing.js';
import { childEnvironment } from '../../runtime/config.js';
import { PROJECT_ROOT } from '../../runtime/paths.js';
import { startIdentityProvider, type TestIdentityProvider } from '../helpers/oidc-provider.js';
import { tempRolloutStore } from '../helpers/store.js';
import { devServerEnv } from '../helpers/temporal.js';
import { startTogether } from '../helpers/start-together.js';

const run = promisify(execFile);
const AUDIENCE = 'https://rollout.hospital.example/api';
const GROUPS = {
  operator: 'pacs-operators',
  vendor: 'vendor-field-engineers',
  'on-call': 'pacs-on-call',
  auditor: 'compliance-auditors',
} as const;
const ACCOUNTS = {
  'o.lind': { email: 'o.lind@radiology.hospital.example', groups: ['staff', GROUPS.operator] },
  'v.ruiz': { email: 'v.ruiz@pacs-vendor.example', groups: [GROUPS.vendor] },
  'c.okafor': { email: 'c.okafor@radiology.hospital.example', groups: [GROUPS['on-call'], 'staff'] },
  'a.berg': { email: 'a.berg@hospital.example', groups: [GROUPS.auditor] },
  'n.nobody': { email: 'n.nobody@hospital.example', groups: ['staff'] },
  't.two-hats': { email: 't.two@hospital.example', groups: [GROUPS.operator, GROUPS.auditor] },
};

let dir: string;
let env: TestWorkflowEnvironment;
let rollout: Awaited<ReturnType<typeof tempRolloutStore>>;
let idp: TestIdentityProvider;
/** Another provider: its tokens are well formed, for the right audience, and not ours. */
let stranger: TestIdentityProvider;
let app: FastifyInstance;
let base: string;
let browser: Browser;
let actions: RolloutActions;

/** The API's sign-in settings, as ROLLOUT_OIDC_* would give them. */
const oidcOptions = (): OidcOptions => ({
  issuer: idp.issuer,
  clientId: idp.clientId,
  audience: AUDIENCE,
  scope: 'openid email rollout',
  claims: { name: 'email', groups: 'groups' },
  roles: Object.fromEntries(
    Object.entries(GROUPS).map(([role, group]) => [group, role]),
  ) as OidcOptions['roles'],
  caFile: idp.caFile,
});

beforeAll(async () => {
  dir = mkdtempSync(`${tmpdir()}/rollout-oidc-`);
  [env, rollout, idp, stranger] = await startTogether([
    devServerEnv(),
    tempRolloutStore(),
    startIdentityProvider({ dir, name: 'hospital-idp', audience: AUDIENCE, accounts: ACCOUNTS }),
    startIdentityProvider({ dir, name: 'other-idp', audience: AUDIENCE, accounts: {} }),
  ]);
  actions = rolloutActions({
    client: env.client,
    taskQueue: 'oidc-sign-in',
    campaigns: rollout.store.campaignFiles,
    store: rollout.store,
    signer: decisionSigner(await serviceSigner(rollout.store, `${dir}/service.pem`), 'api'),
  });
  app = await createApi({ actions, store: rollout.store, oidc: oidcSignIn(oidcOptions()) });
  base = (await app.listen({ host: '127.0.0.1', port: 0 })).replace('localhost', '127.0.0.1');
  idp.open(`${base}/`);
  stranger.open(`${base}/`);
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
    ],
  });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await app?.close();
  await Promise.all([idp?.stop(), stranger?.stop()]);
  await env?.teardown();
  await rollout?.cleanup();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Signs `login` in to the dashboard through the provider; returns what the page shows and its token. */
async function signInAs(login: string) {
  // The browser does not know the test CA (the API does: ROLLOUT_OIDC_CA_FILE); it is told to go on.
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  try {
    const page = await context.newPage();
    await page.goto(`${base}/`);
    await page.getByTestId('sign-in-oidc').click();
    await page.waitForURL((url) => url.origin === idp.issuer);
    await page.locator('input[name=login]').fill(login);
    await page.locator('input[name=password]').fill('any password: the test provider takes any');
    await page.locator('button[type=submit]').click();
    // The provider asks the person to consent to the API's scope (once per sign-in here).
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.waitForURL((url) => url.origin === base);
    const shown: { whoami?: string; error?: string } = await Promise.race([
      page
        .getByTestId('whoami')
        .textContent()
        .then((t) => ({ whoami: t ?? '' })),
      page
        .getByTestId('error')
        .textContent()
        .then((t) => ({ error: t ?? '' })),
    ]);
    const nav = await page.locator('#nav a').allTextContents();
    const token = (await page.evaluate('sessionStorage.getItem("token")')) as string | null;
    return { ...shown, nav, token, url: page.url() };
  } finally {
    await context.close();
  }
}

const me = (token: string) =>
  fetch(`${base}/api/me`, { headers: { authorization: `Bearer ${token}` } }).then(async (r) => ({
    status: r.status,
    body: (await r.json()) as unknown,
  }));

describe('sign-in with the hospital identity provider (OpenID Connect)', () => {
  it('tells the dashboard where to send people, without a token', async () => {
    const res = await fetch(`${base}/api/sign-in/config`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      oidc: {
        authorizationEndpoint: `${idp.issuer}/auth`,
        clientId: 'rollout-dashboard',
        scope: 'openid email rollout',
        resource: AUDIENCE,
      },
    });
  });

  it('signs each role in through the provider in the browser; each sees its own views', async () => {
    const expected: Record<string, { whoami: string; nav: string[] }> = {
      'o.lind': {
        whoami: 'o.lind@radiology.hospital.example (operator)',
        nav: ['Campaigns', 'On-call queue', 'Ledger', 'Audit log'],
      },
      'v.ruiz': { whoami: 'v.ruiz@pacs-vendor.example (vendor)', nav: ['Campaigns'] },
      'c.okafor': {
        whoami: 'c.okafor@radiology.hospital.example (on-call)',
        nav: ['Campaigns', 'On-call queue', 'Ledger'],
      },
      'a.berg': { whoami: 'a.berg@hospital.example (auditor)', nav: ['Campaigns', 'Ledger', 'Audit log'] },
    };
    for (const [login, want] of Object.entries(expected)) {
      const shown = await signInAs(login);
      expect({ whoami: shown.whoami, nav: shown.nav }, login).toEqual(want);
      // Back on the dashboard without the code in the address bar; the token is the provider's JWT.
      expect(shown.url).toBe(`${base}/#/campaigns`);
      expect(shown.token?.split('.')).toHaveLength(3);
    }
  });

  it('refuses, in the browser, a person whose groups map to no role, and one whose groups map to two', async () => {
    expect(await signInAs('n.nobody')).toMatchObject({
      error: "Unauthenticated: no group in the token's groups claim maps to a role (ROLLOUT_OIDC_ROLES)",
      token: null,
    });
    expect(await signInAs('t.two-hats')).toMatchObject({
      error: "Unauthenticated: the token's groups map to several roles (auditor, operator): one per person",
      token: null,
    });
  });

  it("takes the provider's access token as the CLI's bearer through the API", async () => {
    const { token } = await signInAs('o.lind');
    const cli = await run(
      process.execPath,
      [`${PROJECT_ROOT}/bin/rollout.js`, 'status', 'no-such-campaign'],
      {
        env: childEnvironment({
          ROLLOUT_API_URL: base,
          ROLLOUT_TOKEN: token!,
          TEMPORAL_ADDRESS: '127.0.0.1:9',
        }),
      },
    ).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr.trim() }),
    );
    // Signed in (not 3): the campaign is what does not exist.
    expect(cli).toEqual({ code: 4, stderr: 'rollout: no such campaign' });
  });

  it('refuses a token from another issuer, an expired one, one for another audience and a forged one', async () => {
    const operator = ACCOUNTS['o.lind'];
    const foreign = await stranger.robotToken(operator);
    expect(await me(foreign)).toEqual({
      status: 401,
      body: { error: { type: 'Unauthenticated', message: 'the token is from another issuer' } },
    });
    // Signed with the provider's own key, for the right audience, but expired an hour ago.
    const key = await importJWK(idp.signingKey, 'ES256');
    const signed = (audience: string, expires: number) =>
      new SignJWT({ email: operator.email, groups: operator.groups })
        .setProtectedHeader({ alg: 'ES256', kid: idp.signingKey.kid, typ: 'at+jwt' })
        .setIssuer(idp.issuer)
        .setAudience(audience)
        .setIssuedAt(expires - 600)
        .setExpirationTime(expires)
        .sign(key);
    const now = Math.floor(Date.now() / 1000);
    expect(await me(await signed(AUDIENCE, now - 3600))).toEqual({
      status: 401,
      body: { error: { type: 'Unauthenticated', message: 'the token has expired' } },
    });
    expect(await me(await signed('https://billing.hospital.example', now + 600))).toEqual({
      status: 401,
      body: { error: { type: 'Unauthenticated', message: "the token's aud claim does not fit this API" } },
    });
    // The same, valid: accepted (so the refusals above were for what they say).
    expect(await me(await signed(AUDIENCE, now + 600))).toMatchObject({
      status: 200,
      body: { name: operator.email, role: 'operator' },
    });
    const tampered = (await signed(AUDIENCE, now + 600)).replace(/\.[\w-]+$/, '.' + 'A'.repeat(86));
    expect(await me(tampered)).toEqual({
      status: 401,
      body: { error: { type: 'Unauthenticated', message: "the token is not signed with the issuer's keys" } },
    });
    // Algorithm confusion: unsigned (`none`), and HMAC keyed with the provider's public key.
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const claims = {
      iss: idp.issuer,
      aud: AUDIENCE,
      exp: now + 600,
      email: operator.email,
      groups: operator.groups,
    };
    const unsigned = `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`;
    const unsignedWithPart = `${b64({ alg: 'none' })}.${b64(claims)}.${'A'.repeat(10)}`;
    const { d: _private, ...publicJwk } = idp.signingKey;
    void _private;
    const hmacInput = `${b64({ alg: 'HS256', kid: idp.signingKey.kid })}.${b64(claims)}`;
    const hmac = `${hmacInput}.${createHmac('sha256', JSON.stringify(publicJwk)).update(hmacInput).digest('base64url')}`;
    for (const forged of [unsigned, unsignedWithPart, hmac]) {
      const answer = await me(forged);
      expect(answer.status, forged.slice(0, 30)).toBe(401);
      expect(answer.body).toMatchObject({ error: { type: 'Unauthenticated' } });
    }
    expect((await me(hmac)).body).toEqual({
      error: { type: 'Unauthenticated', message: "the token's signing algorithm is not accepted" },
    });
    // Ten refusals from this address in the minute: a sign-in from it is answered 429 before the
    // provider is asked anything on its behalf.
    const exchange = await fetch(`${base}/api/sign-in/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ code: 'any', codeVerifier: 'v'.repeat(43), redirectUri: `${base}/` }),
    });
    expect(exchange.status).toBe(429);
    // Refused sign-ins are audited per source and minute: the first with its reason (the browser's
    // person without a role, above), the rest counted into a summary (api/sign-in-guard.ts).
    const refusals = (await rollout.store.auditEntries({ limit: 50 }))
      .filter((e) => e.action === 'sign-in')
      .map((e) => e.detail);
    expect(refusals).toEqual([
      "Unauthenticated: no group in the token's groups claim maps to a role (ROLLOUT_OIDC_ROLES) (from 127.0.0.1)",
    ]);
    // No token text in the audit log.
    const log = JSON.stringify(await rollout.store.auditEntries({ limit: 50 }));
    for (const token of [foreign, tampered, hmac, unsigned]) expect(log).not.toContain(token.split('.')[1]);
  });

  it('answers 503 when the provider cannot be reached to check a JWT (a local token still signs in)', async () => {
    const offline = await createApi({
      actions,
      store: rollout.store,
      oidc: oidcSignIn({ ...oidcOptions(), issuer: 'https://127.0.0.1:9' }),
    });
    try {
      const jwt = await new SignJWT({ email: 'x@h.example' })
        .setProtectedHeader({ alg: 'ES256', kid: idp.signingKey.kid })
        .setIssuer('https://127.0.0.1:9')
        .setAudience(AUDIENCE)
        .setExpirationTime('5m')
        .sign(await importJWK(idp.signingKey, 'ES256'));
      const res = await offline.inject({ url: '/api/me', headers: { authorization: `Bearer ${jwt}` } });
      expect(res.statusCode).toBe(503);
      expect(res.json()).toEqual({
        error: {
          type: 'IdentityProviderUnavailable',
          message:
            'the identity provider did not answer (discovery document: ECONNREFUSED); try again, or sign in with a local token',
        },
      });
      const { token } = await rollout.store.addUser('offline-operator@hospital.example', 'operator');
      const local = await offline.inject({ url: '/api/me', headers: { authorization: `Bearer ${token}` } });
      expect(local.statusCode).toBe(200);
    } finally {
      await offline.close();
    }
  });

  it('keeps the local tokens working beside the provider', async () => {
    const { token } = await rollout.store.addUser('break-glass@hospital.example', 'operator');
    expect(await me(token)).toMatchObject({
      status: 200,
      body: { name: 'break-glass@hospital.example', role: 'operator' },
    });
    // From an address of its own: 127.0.0.1 has used up its refusals for the minute above.
    const unknown = await app.inject({
      url: '/api/me',
      remoteAddress: '198.51.100.7',
      headers: { authorization: 'Bearer rot_no-such-token' },
    });
    expect(unknown.statusCode).toBe(401);
    expect(unknown.json()).toEqual({
      error: { type: 'Unauthenticated', message: 'unknown or expired token' },
    });
  });
  /** A token signed with `key` by the issuer spelled `iss`, for the operator, valid five minutes. */
  const operatorToken = async (key: JWK & { kid: string }, iss: string) =>
    new SignJWT({ email: ACCOUNTS['o.lind'].email, groups: ACCOUNTS['o.lind'].groups })
      .setProtectedHeader({ alg: 'ES256', kid: key.kid })
      .setIssuer(iss)
      .setAudience(AUDIENCE)
      .setExpirationTime('5m')
      .sign(await importJWK(key, 'ES256'));
  const meOn = async (api: FastifyInstance, token: string, from: string) => {
    const res = await api.inject({
      url: '/api/me',
      remoteAddress: from,
      headers: { authorization: `Bearer ${token}` },
    });
    return { status: res.statusCode, body: res.json() as unknown };
  };

  it('takes an issuer whose tokens spell it with a trailing slash, configured with or without it', async () => {
    const slashed = await startIdentityProvider({
      dir,
      name: 'slash-idp',
      audience: AUDIENCE,
      accounts: {},
      trailingSlash: true,
    });
    slashed.open(`${base}/`);
    const apis = await Promise.all(
      [slashed.issuer, slashed.issuer.replace(/\/$/, '')].map((issuer) =>
        createApi({
          actions,
          store: rollout.store,
          oidc: oidcSignIn({ ...oidcOptions(), issuer, caFile: slashed.caFile }),
        }),
      ),
    );
    try {
      expect(slashed.issuer).toMatch(/\/$/);
      const token = await operatorToken(slashed.signingKey, slashed.issuer);
      for (const api of apis)
        expect(await meOn(api, token, '198.51.100.20')).toMatchObject({
          status: 200,
          body: { role: 'operator' },
        });
    } finally {
      await Promise.all(apis.map((a) => a.close()));
      await slashed.stop();
    }
  });

  it("follows the provider's key rotation: a new key is fetched (at most every 30 s), the old one then refused", async () => {
    // Its own API, so its key cache starts empty now.
    const api = await createApi({ actions, store: rollout.store, oidc: oidcSignIn(oidcOptions()) });
    try {
      const from = '198.51.100.30';
      const old = idp.signingKey;
      expect(await meOn(api, await operatorToken(old, idp.issuer), from)).toMatchObject({ status: 200 });
      const rotated = await idp.rotateKey();
      const fresh = await operatorToken(rotated, idp.issuer);
      // Within 30 s of the last fetch a key not yet seen does not make the API ask the provider again.
      expect(await meOn(api, fresh, from)).toEqual({
        status: 401,
        body: {
          error: { type: 'Unauthenticated', message: "the token is not signed with the issuer's keys" },
        },
      });
      await new Promise((r) => setTimeout(r, 31_000));
      expect(await meOn(api, fresh, '198.51.100.31')).toMatchObject({
        status: 200,
        body: { role: 'operator' },
      });
      // The old key has left the provider's key set, and so the API's.
      expect(await meOn(api, await operatorToken(old, idp.issuer), '198.51.100.31')).toMatchObject({
        status: 401,
      });
    } finally {
      await api.close();
    }
  }, 60_000);
});
