/**
 * How every human action is audited: refused before it runs when the role may not, refused with the
 * reason when the workflow or the input refuses it, and — once it has happened — recorded as accepted
 * before anything else is attempted. Follow-up writes (the ledger) come after the accepted entry, so
 * their failure can never leave an action that happened without its audit entry.
 */
import type { AuditInput } from '../domain/schema.js';
import { Refused } from './campaigns.js';

/** The action happened and is audited; a later write (named) failed. */
export class AcceptedButIncomplete extends Error {
  constructor(
    /** What failed after the action, in words: "the ledger's entry for the host". */
    readonly what: string,
    cause: unknown,
  ) {
    super(
      `accepted and audited, but ${what} failed: ${cause instanceof Error ? cause.message : String(cause)}`,
    );
    this.name = 'AcceptedButIncomplete';
  }

  /** The message without the cause's own text (for the API: a store's error is not for clients). */
  get summary(): string {
    return `accepted and audited, but ${this.what} failed; do not repeat the action`;
  }
}

/** Writes the action's entry (adapters/audit-writer.ts): its outcome, why, and fields from the result. */
export type WriteEntry = (
  outcome: AuditInput['outcome'],
  detail: string,
  extra?: Pick<AuditInput, 'campaignId'>,
) => Promise<unknown>;

export interface AuditedAction<T> {
  /** Why the role may not act, or undefined when it may. */
  notPermitted: string | undefined;
  /** The note recorded when accepted (read after the action, so it can say what was started). */
  detail: () => string;
  act: () => Promise<T>;
  /** Fields the accepted entry takes from the result (e.g. the new campaign's ID). */
  describe?: (result: T) => Pick<AuditInput, 'campaignId'>;
  /** Writes after the accepted entry; `what` names them in the error. */
  followUp?: { what: string; run: (result: T) => Promise<void> };
}

const APPEND_ATTEMPTS = 3;

export async function runAudited<T>(
  write: WriteEntry,
  refusalOf: (err: unknown) => { type: string; message: string } | undefined,
  action: AuditedAction<T>,
): Promise<T> {
  if (action.notPermitted) {
    await write('refused', `NotPermitted: ${action.notPermitted}`);
    throw new Refused('NotPermitted', action.notPermitted);
  }
  let result: T;
  try {
    result = await action.act();
  } catch (err) {
    const refusal = refusalOf(err);
    if (refusal) await write('refused', `${refusal.type}: ${refusal.message}`);
    throw err;
  }
  // The action happened: its entry is written before anything else, retried on a passing failure.
  for (let attempt = 1; ; attempt++) {
    try {
      await write('accepted', action.detail(), action.describe?.(result));
      break;
    } catch (err) {
      if (attempt >= APPEND_ATTEMPTS) throw err;
      await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
    }
  }
  if (action.followUp) {
    try {
      await action.followUp.run(result);
    } catch (err) {
      throw new AcceptedButIncomplete(action.followUp.what, err);
    }
  }
  return result;
}
