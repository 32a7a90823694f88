/**
 * How a failure becomes an exit code and a message: a user's error gets a clear line, a bug a stack.
 * The codes come from the one classification (domain/failure-kinds.ts) the API's statuses also come
 * from. The error classes are loaded only when something failed, so a command that succeeds never pays
 * for them.
 */
import { FAILURE_KINDS, isUnreachableText, refusalKind, type FailureKind } from '../domain/failure-kinds.js';
import { NotFound, UsageError } from './common.js';

export function isUnreachable(err: unknown): boolean {
  // The rollout API not answering (client/remote-api.ts), named without loading its module.
  if (err instanceof Error && err.name === 'RemoteFailure')
    return (err as Error & { kind?: unknown }).kind === 'unreachable';
  return isUnreachableText(`${(err as Error)?.name} ${(err as Error)?.message}`);
}

const GRPC_PERMISSION_DENIED = 7;

/** The gRPC status inside a Temporal client error (the server's answer is wrapped in causes). */
function grpcCode(err: unknown): number | undefined {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; depth++) {
    if (typeof e.code === 'number') return e.code;
    e = e.cause as typeof e;
  }
  return undefined;
}

export interface Classified {
  kind: FailureKind;
  code: number;
  message: string;
}

const as = (kind: FailureKind, message: string): Classified => ({
  kind,
  code: FAILURE_KINDS[kind].exit,
  message,
});

export async function classify(err: unknown): Promise<Classified> {
  const code = (err as { code?: unknown })?.code;
  if (err instanceof UsageError || (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_')))
    return as('bad-input', (err as Error).message);
  if (err instanceof NotFound) return as('not-found', err.message);
  const [
    { refusalOf },
    { PortUnavailable },
    { AcceptedButIncomplete },
    { ConfigError },
    { StoreDirectoryUnreadable },
    { RemoteFailure },
  ] = await Promise.all([
    import('../client/actions.js'),
    import('../runtime/dev-server.js'),
    import('../client/audited.js'),
    import('../runtime/config.js'),
    import('../adapters/campaign-store.js'),
    import('../client/remote-api.js'),
  ]);
  if (err instanceof RemoteFailure) return as(err.kind, err.message);
  if (err instanceof PortUnavailable || err instanceof ConfigError || err instanceof StoreDirectoryUnreadable)
    return as('bad-input', err.message);
  if (err instanceof AcceptedButIncomplete) return as('incomplete', err.message);
  const refusal = refusalOf(err);
  if (refusal) {
    const kind = refusalKind(refusal.type);
    if (kind === 'bad-input' || kind === 'not-found') return as(kind, refusal.message);
    return as(kind, `refused (${refusal.type}): ${refusal.message}`);
  }
  if (grpcCode(err) === GRPC_PERMISSION_DENIED)
    return as(
      'not-permitted',
      'Temporal refused this identity (PERMISSION_DENIED): TEMPORAL_API_KEY must carry a permission for this namespace (README: Running in production)',
    );
  if (isUnreachable(err))
    return as(
      'unreachable',
      `cannot reach Temporal or no worker answered in time (${(err as Error).message})`,
    );
  return as('internal', 'internal error');
}
