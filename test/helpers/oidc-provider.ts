/**
 * A real OpenID provider for tests: panva's certified `oidc-provider`, served over HTTPS on loopback
 * with a certificate from a test CA. Its login page is the package's own development interaction (any
 * password; the login names the account; then its consent page); the dashboard's client is public with PKCE; access tokens for
 * the rollout API are JWTs (resource indicator = the API's audience) that carry the account's e-mail and
 * groups, as a hospital's provider is set up to send them. A confidential `robot` client may get a token
 * by client credentials (groups given), for tests that need a well-formed token without a browser.
 */
import { createServer, type Server } from 'node:https';
import { readFileSync } from 'node:fs';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import Provider, { errors } from 'oidc-provider';
import { requestJson } from '../../adapters/json-request.js';
import { issueCertificate } from '../../runtime/certificates.js';

export interface Account {
  email: string;
  groups: string[];
}

export interface TestIdentityProvider {
  issuer: string;
  caFile: string;
  /** The provider's signing key now (private), to make tokens it never issued but would verify. */
  readonly signingKey: JWK & { kid: string };
  /** Replaces the signing key (the old one leaves the JWKS), as a provider's key rotation does. */
  rotateKey(): Promise<JWK & { kid: string }>;
  /** The dashboard's client at this provider. */
  clientId: string;
  /** Starts answering, sending people back to `redirect` (the dashboard; known once the API listens). */
  open(redirect: string): void;
  /** An access token for the API by client credentials, with these claims. */
  robotToken(claims: Account): Promise<string>;
  stop(): Promise<void>;
}

export async function startIdentityProvider(options: {
  dir: string;
  /** A name for its certificate files (two providers may share a directory). */
  name: string;
  audience: string;
  accounts: Record<string, Account>;
  /** Spell the issuer with a trailing slash, as some providers do (`https://…/`). */
  trailingSlash?: boolean;
}): Promise<TestIdentityProvider> {
  const tls = issueCertificate(`${options.dir}/pki`, options.name, 'server', ['IP:127.0.0.1']);
  let handler: ((req: never, res: never) => void) | undefined;
  const server: Server = createServer(
    { cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) },
    (req, res) => (handler ? handler(req as never, res as never) : res.writeHead(503).end()),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const issuer = `https://127.0.0.1:${port}${options.trailingSlash ? '/' : ''}`;
  let generation = 0;
  const newKey = async () => {
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    return {
      ...(await exportJWK(privateKey)),
      kid: `${options.name}-key-${++generation}`,
      alg: 'ES256',
      use: 'sig',
    };
  };
  let signingKey = await newKey();
  let redirectTo = '';
  let robotClaims: Account = { email: '', groups: [] };

  // Built once the dashboard's address is known (clients are checked when the provider is made).
  const open = (redirect: string) => {
    redirectTo = redirect;
    const provider = new Provider(issuer, {
      clients: [
        {
          client_id: 'rollout-dashboard',
          token_endpoint_auth_method: 'none',
          redirect_uris: [redirect],
          grant_types: ['authorization_code'],
          response_types: ['code'],
        },
        {
          client_id: 'robot',
          client_secret: 'robot-secret-for-tests',
          grant_types: ['client_credentials'],
          redirect_uris: [],
          response_types: [],
        },
      ],
      jwks: { keys: [signingKey] },
      clientDefaults: { id_token_signed_response_alg: 'ES256' },
      cookies: { keys: ['rollout-test-cookie-key'] },
      ttl: {
        AccessToken: 600,
        AuthorizationCode: 60,
        ClientCredentials: 600,
        IdToken: 600,
        Interaction: 600,
        Session: 600,
        Grant: 600,
      },
      scopes: ['openid', 'email', 'rollout'],
      claims: { openid: ['sub'], email: ['email'] },
      async findAccount(_ctx, id) {
        const account = options.accounts[id];
        if (!account) return undefined;
        return { accountId: id, claims: async () => ({ sub: id, email: account.email }) };
      },
      async extraTokenClaims(_ctx, token) {
        const account =
          'accountId' in token && token.accountId ? options.accounts[token.accountId] : robotClaims;
        return account ? { email: account.email, groups: account.groups } : undefined;
      },
      features: {
        devInteractions: { enabled: true },
        clientCredentials: { enabled: true },
        resourceIndicators: {
          enabled: true,
          defaultResource: () => options.audience,
          useGrantedResource: () => true,
          getResourceServerInfo: (_ctx, resource) => {
            if (resource !== options.audience) throw new errors.InvalidTarget();
            return {
              scope: 'rollout',
              audience: options.audience,
              accessTokenFormat: 'jwt',
              accessTokenTTL: 600,
              jwt: { sign: { alg: 'ES256' } },
            };
          },
        },
      },
    });
    handler = provider.callback() as never;
  };
  return {
    issuer,
    caFile: `${options.dir}/pki/ca.pem`,
    get signingKey() {
      return signingKey;
    },
    async rotateKey() {
      signingKey = await newKey();
      open(redirectTo);
      return signingKey;
    },
    clientId: 'rollout-dashboard',
    open,
    async robotToken(claims) {
      robotClaims = claims;
      return clientCredentialsToken(issuer, `${options.dir}/pki/ca.pem`, options.audience);
    },
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** client_credentials at `issuer`'s token endpoint, trusting the test CA. */
async function clientCredentialsToken(issuer: string, caFile: string, audience: string): Promise<string> {
  const answer = await requestJson(new URL(`${issuer}/token`), {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from('robot:robot-secret-for-tests').toString('base64')}`,
    },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      scope: 'rollout',
      resource: audience,
    }).toString(),
    ca: readFileSync(caFile),
    timeoutMs: 10_000,
    maxBytes: 100_000,
  });
  const token = (answer.body as { access_token?: string } | undefined)?.access_token;
  if (!token)
    throw new Error(`no token from ${issuer}: HTTP ${answer.status} ${JSON.stringify(answer.body)}`);
  return token;
}
