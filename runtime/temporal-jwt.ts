/**
 * Tokens for Temporal's own authorization (its default JWT claim mapper and authorizer): an RSA signing
 * key, the JWKS file the cluster's frontend reads (`file://` key source), and RS256 tokens carrying the
 * `permissions` claim, e.g. `default:write` (act in namespace `default`), `default:read` (read only), `default:worker` (poll and complete tasks only),
 * `temporal-system:admin`. The local cluster and its tests mint them here; in production they come from the
 * hospital's token issuer, whose JWKS URL the frontend is given instead.
 */
import { createPrivateKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';

const KEY_ID = 'rollout-temporal-1';

export interface TokenIssuer {
  /** The JWKS file for `global.authorization.jwtKeyProvider.keySourceURIs` (as `file://…`). */
  jwksFile: string;
  /** A token for `subject` with these permissions, valid for `ttlSeconds` (default 12 hours). */
  token(subject: string, permissions: string[], ttlSeconds?: number): string;
}

const base64url = (data: Buffer | string) => Buffer.from(data).toString('base64url');

/** The issuer whose key lives in `dir` (made on first use). */
export function tokenIssuer(dir: string): TokenIssuer {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const keyFile = `${dir}/temporal-jwt.key`;
  const jwksFile = `${dir}/jwks.json`;
  let key: KeyObject;
  if (existsSync(keyFile)) key = createPrivateKey(readFileSync(keyFile));
  else {
    key = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    writeFileSync(keyFile, key.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
  }
  const jwk = { ...createPublicJwk(key), kid: KEY_ID, alg: 'RS256', use: 'sig' };
  writeFileSync(jwksFile, `${JSON.stringify({ keys: [jwk] }, null, 2)}\n`);
  return {
    jwksFile,
    token(subject, permissions, ttlSeconds = 12 * 3600) {
      const now = Math.floor(Date.now() / 1000);
      const header = base64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid: KEY_ID }));
      const payload = base64url(
        JSON.stringify({ sub: subject, permissions, iat: now, exp: now + ttlSeconds }),
      );
      const signature = sign('sha256', Buffer.from(`${header}.${payload}`), key);
      return `${header}.${payload}.${base64url(signature)}`;
    },
  };
}

function createPublicJwk(key: KeyObject): Record<string, unknown> {
  const { kty, n, e } = key.export({ format: 'jwk' });
  return { kty, n, e };
}
