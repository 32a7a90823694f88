/**
 * The one way an audit entry is written: who (identity, role, through which interface), what, the
 * outcome and why, stamped now. The action service (client/audited.ts), the API's refusals and
 * sign-in guard, the CLI's sign-in and administration, and the worker's refusals all write through it;
 * the rollout store chains what it is given.
 */
import type { AuditAction, AuditInput } from '../domain/schema.js';

export interface AuditSink {
  appendAudit(entry: AuditInput): Promise<unknown>;
}

/** Who an entry is about. */
export interface AuditActor {
  identity: string;
  role: string;
  via: AuditInput['via'];
}

/** Where the action was aimed, when it was. */
export type AuditWhere = Pick<AuditInput, 'campaignId' | 'hostId' | 'stage'>;

/** Nobody signed in (no or an unknown token). */
export const anonymous = (via: AuditInput['via']): AuditActor => ({
  identity: 'anonymous',
  role: 'none',
  via,
});
/** The administrator of this machine (users and keys), as the OS user. */
export const administrator = (identity: string): AuditActor => ({ identity, role: 'admin', via: 'cli' });
/** Whoever a decision that reached the worker claims to be, before it is verified. */
export const unverified = (identity: string): AuditActor => ({ identity, role: 'unverified', via: 'worker' });

export type AuditWriter = ReturnType<typeof auditWriter>;

export function auditWriter(sink: AuditSink, now: () => number = Date.now) {
  const write = (
    who: AuditActor,
    action: AuditAction,
    outcome: AuditInput['outcome'],
    detail: string,
    where: AuditWhere = {},
  ) =>
    sink.appendAudit({
      at: new Date(now()).toISOString(),
      actor: who.identity,
      role: who.role,
      via: who.via,
      action,
      ...where,
      outcome,
      detail: detail.slice(0, 2000),
    });
  return {
    write,
    accepted: (who: AuditActor, action: AuditAction, detail: string, where?: AuditWhere) =>
      write(who, action, 'accepted', detail, where),
    refused: (who: AuditActor, action: AuditAction, detail: string, where?: AuditWhere) =>
      write(who, action, 'refused', detail, where),
    /** A sign-in refused (no, unknown or expired token). */
    refusedSignIn: (via: AuditInput['via'], detail: string) =>
      write(anonymous(via), 'sign-in', 'refused', detail),
  };
}
