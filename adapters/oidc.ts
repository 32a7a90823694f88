/**
 * Sign-in with the hospital's OpenID Connect provider: its discovery document and signing keys (JWKS)
 * fetched over HTTPS (trusting ROLLOUT_OIDC_CA_FILE when set) and cached; a bearer JWT verified against
 * them — issuer, audience, expiry (30 s of clock skew), algorithm — and turned into a person by the
 * installation's group → role mapping (domain/identity-claims.ts); the dashboard's authorization code
 * (with its PKCE verifier) exchanged at the provider's token endpoint for an access token the API then
 * verifies like any other. Keys are fetched again when a token names one not yet seen (at most every
 * 30 s). Refusal reasons name what is wrong, never the token or its claims.
 */
import { readFileSync } from 'node:fs';
import { createLocalJWKSet, decodeJwt, errors, jwtVerify, type JSONWebKeySet } from 'jose';
import { personFromClaims, type ClaimNames, type RoleMapping } from '../domain/identity-claims.js';
import type { UserRole } from '../domain/schema.js';
import { requestJson } from './json-request.js';

export interface OidcOptions {
  /** The issuer (its discovery document is `${issuer}/.well-known/openid-configuration`). */
  issuer: string;
  /** The dashboard's client ID at the provider (a public client: authorization code + PKCE). */
  clientId: string;
  /** What access tokens for this API carry as `aud` (and the `resource` the dashboard asks for). */
  audience: string;
  scope: string;
  claims: ClaimNames;
  roles: RoleMapping;
  caFile?: string;
}

export type Verified = { name: string; role: UserRole } | { refused: string };

/** The provider did not answer (or answered nonsense): nobody can be signed in through it just now. */
export class IdentityProviderUnavailable extends Error {
  constructor(what: string) {
    super(`the identity provider did not answer (${what})`);
    this.name = 'IdentityProviderUnavailable';
  }
}

export interface OidcSignIn {
  /** What the dashboard needs to send a person to the provider. */
  dashboard(): Promise<{ authorizationEndpoint: string; clientId: string; scope: string; resource: string }>;
  /** The person a bearer JWT stands for, or why it is refused. */
  verify(token: string): Promise<Verified>;
  /** The dashboard's code and PKCE verifier exchanged for an access token this API accepts. */
  exchange(input: {
    code: string;
    codeVerifier: string;
    redirectUri: string;
  }): Promise<({ accessToken: string; expiresIn?: number } & Verified) | { refused: string }>;
}

interface Discovery {
  /** The issuer exactly as the provider spells it (its tokens' `iss`). */
  issuer: string;
  authorizationEndpoint: string;
  tokenEndpoint: string;
  jwksUri: string;
}

const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'EdDSA'];
const DISCOVERY_TTL_MS = 60 * 60_000;
/** Keys are fetched again after an hour (a key the provider withdrew stops being trusted)… */
const KEYS_TTL_MS = 60 * 60_000;
/** …or when a token names a key not in the set, at most this often. */
const KEY_REFETCH_MS = 30_000;
/** A provider that did not answer is not asked again for this long (every request would wait). */
const FAILURE_BACKOFF_MS = 30_000;
const TIMEOUT_MS = 10_000;
const MAX_BYTES = 1024 * 1024;

/** A JWT in compact form: three base64url parts (local tokens are `rot_…`). */
export const looksLikeJwt = (token: string) => /^[\w-]+\.[\w-]+\.[\w-]+$/.test(token);

const withoutSlash = (url: string) => url.replace(/\/+$/, '');

/**
 * `fetch` shared by everyone who asks while it runs, and its failure remembered for a while, so a
 * stream of requests (valid or forged) costs the provider one request, not one each.
 */
function shared<T>(fetch: () => Promise<T>): () => Promise<T> {
  let running: Promise<T> | undefined;
  let failed: { at: number; err: unknown } | undefined;
  return () => {
    if (failed && Date.now() - failed.at < FAILURE_BACKOFF_MS) return Promise.reject(failed.err);
    running ??= fetch().then(
      (value) => {
        running = undefined;
        failed = undefined;
        return value;
      },
      (err: unknown) => {
        running = undefined;
        failed = { at: Date.now(), err };
        throw err;
      },
    );
    return running;
  };
}

export function oidcSignIn(options: OidcOptions): OidcSignIn {
  const ca = options.caFile ? readFileSync(options.caFile) : undefined;
  const configured = withoutSlash(options.issuer);
  const fetchJson = async (url: string, what: string, form?: Record<string, string>) => {
    const answer = await requestJson(new URL(url), {
      ...(form
        ? {
            method: 'POST' as const,
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
            body: new URLSearchParams(form).toString(),
          }
        : {}),
      ...(ca ? { ca } : {}),
      timeoutMs: TIMEOUT_MS,
      maxBytes: MAX_BYTES,
    }).catch((err: NodeJS.ErrnoException) => {
      throw new IdentityProviderUnavailable(`${what}: ${err.code ?? err.message}`);
    });
    if (typeof answer.body !== 'object' || answer.body === null)
      throw new IdentityProviderUnavailable(`${what}: HTTP ${answer.status} without JSON`);
    return answer as { status: number; body: Record<string, unknown> };
  };

  let discovery: { at: number; value: Discovery } | undefined;
  const fetchDiscovery = shared(async () => {
    const { status, body } = await fetchJson(
      `${configured}/.well-known/openid-configuration`,
      'discovery document',
    );
    const text = (k: string) => (typeof body[k] === 'string' ? (body[k] as string) : '');
    // The document must name the issuer it is for (OpenID Connect Discovery §4.3).
    if (status !== 200 || withoutSlash(text('issuer')) !== configured)
      throw new IdentityProviderUnavailable('discovery document: not the configured issuer');
    const value = {
      issuer: text('issuer'),
      authorizationEndpoint: text('authorization_endpoint'),
      tokenEndpoint: text('token_endpoint'),
      jwksUri: text('jwks_uri'),
    };
    if (!value.authorizationEndpoint || !value.tokenEndpoint || !value.jwksUri)
      throw new IdentityProviderUnavailable('discovery document: endpoints missing');
    discovery = { at: Date.now(), value };
    return value;
  });
  const discover = async (): Promise<Discovery> =>
    discovery && Date.now() - discovery.at < DISCOVERY_TTL_MS ? discovery.value : fetchDiscovery();

  let keys: { at: number; set: ReturnType<typeof createLocalJWKSet> } | undefined;
  const fetchKeys = shared(async () => {
    const { jwksUri } = await discover();
    const { status, body } = await fetchJson(jwksUri, 'signing keys');
    if (status !== 200 || !Array.isArray(body.keys))
      throw new IdentityProviderUnavailable('signing keys: no key set');
    keys = { at: Date.now(), set: createLocalJWKSet(body as unknown as JSONWebKeySet) };
    return keys.set;
  });
  const keySet = async (unknownKey: boolean) => {
    const age = keys ? Date.now() - keys.at : Infinity;
    if (keys && age < KEYS_TTL_MS && !(unknownKey && age > KEY_REFETCH_MS)) return keys.set;
    return fetchKeys();
  };

  const check = async (token: string, unknownKey: boolean): Promise<Verified> => {
    const { issuer } = await discover();
    const { payload } = await jwtVerify(token, await keySet(unknownKey), {
      issuer,
      audience: options.audience,
      algorithms: ALGORITHMS,
      clockTolerance: 30,
      requiredClaims: ['exp'],
    });
    return personFromClaims(payload, options.claims, options.roles);
  };

  const verify = async (token: string): Promise<Verified> => {
    let issuer: unknown;
    try {
      issuer = decodeJwt(token).iss;
    } catch {
      return { refused: 'the token is not a valid JWT' };
    }
    if (typeof issuer !== 'string' || withoutSlash(issuer) !== configured)
      return { refused: 'the token is from another issuer' };
    try {
      try {
        return await check(token, false);
      } catch (err) {
        // A key the provider has just rotated in: fetch the key set again, once.
        if (!(err instanceof errors.JWKSNoMatchingKey)) throw err;
        return await check(token, true);
      }
    } catch (err) {
      if (err instanceof IdentityProviderUnavailable) throw err;
      if (err instanceof errors.JWTExpired) return { refused: 'the token has expired' };
      if (err instanceof errors.JWTClaimValidationFailed)
        return { refused: `the token's ${err.claim} claim does not fit this API` };
      if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWSSignatureVerificationFailed)
        return { refused: "the token is not signed with the issuer's keys" };
      if (err instanceof errors.JOSEAlgNotAllowed)
        return { refused: "the token's signing algorithm is not accepted" };
      return { refused: 'the token is not a valid JWT' };
    }
  };

  return {
    async dashboard() {
      const { authorizationEndpoint } = await discover();
      return {
        authorizationEndpoint,
        clientId: options.clientId,
        scope: options.scope,
        resource: options.audience,
      };
    },
    verify,
    async exchange({ code, codeVerifier, redirectUri }) {
      const { tokenEndpoint } = await discover();
      const { status, body } = await fetchJson(tokenEndpoint, 'token endpoint', {
        grant_type: 'authorization_code',
        code,
        code_verifier: codeVerifier,
        redirect_uri: redirectUri,
        client_id: options.clientId,
        resource: options.audience,
      });
      if (status !== 200 || typeof body.access_token !== 'string') {
        const error = typeof body.error === 'string' && /^[a-z_]{1,40}$/.test(body.error) ? body.error : '';
        return { refused: `the identity provider refused the sign-in${error ? ` (${error})` : ''}` };
      }
      const person = await verify(body.access_token);
      if ('refused' in person) return person;
      return {
        accessToken: body.access_token,
        ...(typeof body.expires_in === 'number' ? { expiresIn: body.expires_in } : {}),
        ...person,
      };
    },
  };
}
