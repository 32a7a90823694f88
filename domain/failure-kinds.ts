/**
 * How a failed request is classified for the people's interfaces: one table that the CLI's exit codes
 * and the API's HTTP statuses both come from, so `rollout` and the API can never disagree about what a
 * failure is.
 */
export const FAILURE_KINDS = {
  /** The input is malformed or names something invalid; nothing changed. */
  'bad-input': { exit: 2, http: 400 },
  /** No or an unknown token. */
  unauthenticated: { exit: 3, http: 401 },
  /** The signed-in role may not do this. */
  'not-permitted': { exit: 3, http: 403 },
  /** Understood and refused by the campaign's rules (phase, four eyes, stale evidence, …). */
  refused: { exit: 3, http: 409 },
  'not-found': { exit: 4, http: 404 },
  /** Temporal or the worker did not answer in time. */
  unreachable: { exit: 5, http: 503 },
  /** The action happened and is audited, but a write after it (the ledger) failed: do not repeat it. */
  incomplete: { exit: 6, http: 500 },
  /** A bug. */
  internal: { exit: 70, http: 500 },
} as const satisfies Record<string, { exit: number; http: number }>;

export type FailureKind = keyof typeof FAILURE_KINDS;

/** The kind of a refusal by its type (the workflow's, the action service's, or the store's). */
export function refusalKind(type: string): FailureKind {
  switch (type) {
    case 'InvalidInput':
      return 'bad-input';
    case 'Unauthenticated':
      return 'unauthenticated';
    case 'NotPermitted':
      return 'not-permitted';
    case 'NotFound':
      return 'not-found';
    default:
      return 'refused';
  }
}

/** Errors that mean Temporal or the worker did not answer (gRPC status, deadline, refused socket). */
export function isUnreachableText(text: string): boolean {
  return /ServiceError|TransportError|Failed to connect|UNAVAILABLE|DEADLINE_EXCEEDED|deadline|ECONNREFUSED/i.test(
    text,
  );
}
