/**
 * The rollout API as the CLI's action service (ROLLOUT_API_URL): each command is one HTTP request with
 * the user's bearer token, and the API — which alone holds a Temporal identity that may act — checks the
 * token, the role and the campaign's rules, signs the decision and audits it. Its answers come back as
 * the errors the local action service throws (a refusal is a `Refused` with the API's type), so the exit
 * codes are the same either way. Neither the token nor a response body is ever put in an error message.
 */
import { readFileSync } from 'node:fs';
import { JsonRequestFailed, requestJson, type JsonAnswer } from '../adapters/json-request.js';
import type { FailureKind } from '../domain/failure-kinds.js';
import type { Acting, Reading } from './acting.js';
import { Refused } from './campaigns.js';

/** A failure that is not the campaign's or the role's refusal: the API unreachable, untrusted, broken. */
export class RemoteFailure extends Error {
  constructor(
    readonly kind: FailureKind,
    message: string,
  ) {
    super(message);
    this.name = 'RemoteFailure';
  }
}

export interface RemoteApi {
  /** The API's origin, e.g. https://rollout.hospital.example:8443 (no trailing slash). */
  url: string;
  /** PEM file of the CA that issued the API's certificate, when not a public one. */
  caFile?: string;
}

/** How long one request may take: a start checks the artifact first (it may be fetched by URL). */
const TIMEOUT_MS = { start: 15 * 60_000, other: 60_000 };
/** Larger answers than this are not a rollout API's (a report of 10,000 hosts is a few MB). */
const MAX_ANSWER_BYTES = 64 * 1024 * 1024;

const TLS_TRUST_CODES =
  /^(UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|CERT_HAS_EXPIRED|CERT_NOT_YET_VALID|ERR_TLS_CERT_ALTNAME_INVALID)$/;

/** The error an answer that is not 2xx stands for: the API's own refusal, or what went wrong. */
function failureOf(answer: JsonAnswer, origin: string): Error {
  const error = (answer.body as { error?: { type?: unknown; message?: unknown } } | undefined)?.error;
  if (typeof error?.type !== 'string' || typeof error.message !== 'string')
    return new RemoteFailure(
      [502, 503, 504].includes(answer.status) ? 'unreachable' : 'internal',
      `the rollout API at ${origin} answered HTTP ${answer.status} without an error it names`,
    );
  switch (error.type) {
    case 'AcceptedButIncomplete':
      return new RemoteFailure('incomplete', error.message);
    case 'Unavailable':
      return new RemoteFailure(
        'unreachable',
        `the rollout API could not reach Temporal or the worker in time (${error.message})`,
      );
    case 'IdentityProviderUnavailable':
      return new RemoteFailure('unreachable', `the rollout API could not check the token: ${error.message}`);
    case 'Internal':
      return new RemoteFailure('internal', `the rollout API at ${origin} had an internal error`);
    default:
      return new Refused(error.type, error.message);
  }
}

/** Why the request did not get an answer, in words that name the setting to fix. */
function transportFailure(err: NodeJS.ErrnoException, origin: string): RemoteFailure {
  const code = err.code ?? err.name;
  if (TLS_TRUST_CODES.test(code))
    return new RemoteFailure(
      'bad-input',
      `the rollout API at ${origin} has a certificate this machine does not trust (${code}): set ROLLOUT_API_CA_FILE to its CA`,
    );
  return new RemoteFailure('unreachable', `cannot reach the rollout API at ${origin} (${code})`);
}

/** A file's path as the API takes it for its messages: one line, at most 200 characters (the end kept). */
const sourceName = (path: string) => {
  const line = path.replace(/\p{Cc}/gu, '?');
  return line.length > 200 ? `…${line.slice(-199)}` : line;
};

/** The CLI's reads and actions at `remote`, with `token`. */
export function remoteService(remote: RemoteApi, token: string): Acting & Reading {
  const origin = remote.url;
  let ca: Buffer | undefined;
  const trusted = () => {
    if (!remote.caFile) return undefined;
    try {
      ca ??= readFileSync(remote.caFile);
    } catch (err) {
      throw new RemoteFailure(
        'bad-input',
        `ROLLOUT_API_CA_FILE: cannot read ${remote.caFile}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
      );
    }
    return ca;
  };

  const call = async <T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> => {
    const url = new URL(`${origin}${path}`);
    const timeoutMs = path === '/api/campaigns' && method === 'POST' ? TIMEOUT_MS.start : TIMEOUT_MS.other;
    const ca = url.protocol === 'https:' ? trusted() : undefined;
    const answer = await requestJson(url, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      ...(ca ? { ca } : {}),
      timeoutMs,
      maxBytes: MAX_ANSWER_BYTES,
    }).catch((err: unknown) => {
      if (err instanceof JsonRequestFailed)
        throw new RemoteFailure(
          err.reason === 'timeout' ? 'unreachable' : 'internal',
          err.reason === 'timeout'
            ? `the rollout API at ${origin} did not answer within ${timeoutMs / 1000} s`
            : `the rollout API at ${origin} sent more than 64 MB`,
        );
      throw transportFailure(err as NodeJS.ErrnoException, origin);
    });
    if (answer.status >= 200 && answer.status < 300) return answer.body as T;
    throw failureOf(answer, origin);
  };

  const campaign = (id: string) => `/api/campaigns/${encodeURIComponent(id)}`;
  return {
    status: (id) => call('GET', campaign(id)),
    report: (id) => call('GET', `${campaign(id)}/report`),
    hosts: async (id, state) =>
      (
        await call<{ hosts: Awaited<ReturnType<Reading['hosts']>> }>(
          'GET',
          `${campaign(id)}/hosts${state ? `?state=${encodeURIComponent(state)}` : ''}`,
        )
      ).hosts,
    ledger: async ({ patchId, missing }) => {
      const q = new URLSearchParams({ ...(patchId ? { patch: patchId } : {}), missing: String(missing) });
      return (await call<{ rows: Awaited<ReturnType<Reading['ledger']>> }>('GET', `/api/ledger?${q}`)).rows;
    },
    audit: async ({ campaignId, limit }) => {
      const q = new URLSearchParams({
        ...(campaignId ? { campaign: campaignId } : {}),
        limit: String(limit),
      });
      return (await call<{ entries: Awaited<ReturnType<Reading['audit']>> }>('GET', `/api/audit?${q}`))
        .entries;
    },
    verifyAudit: () => call('GET', '/api/audit/verify'),
    start: async (document, source) =>
      (
        await call<{ campaignId: string }>('POST', '/api/campaigns', {
          file: document,
          source: sourceName(source),
        })
      ).campaignId,
    approve: (id, request) => call('POST', `${campaign(id)}/approve`, request),
    reject: (id, stage, reason) => call('POST', `${campaign(id)}/reject`, { stage, reason }),
    reviewSoak: (id, decision, reason) => call('POST', `${campaign(id)}/review-soak`, { decision, reason }),
    control: (id, action, reason) => call('POST', `${campaign(id)}/${action}`, { reason }),
    actOnHost: (id, hostId, action, note) =>
      call('POST', `${campaign(id)}/hosts/${encodeURIComponent(hostId)}/${action}`, { note }),
  };
}
