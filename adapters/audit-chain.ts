/**
 * The audit log's hash chain: each entry's hash covers its own fields and the previous entry's hash, so
 * an edited, deleted or reordered entry breaks every link after it. Pure apart from SHA-256.
 */
import { createHash } from 'node:crypto';
import type { AuditEntry, AuditInput, AuditVerdict } from '../domain/schema.js';

export const GENESIS_HASH = '0'.repeat(64);

/** The fields the hash covers, in a fixed order (absent optional fields as empty strings). */
function canonical(seq: number, e: AuditInput): string {
  return JSON.stringify([
    seq,
    e.at,
    e.actor,
    e.role,
    e.via,
    e.action,
    e.campaignId ?? '',
    e.hostId ?? '',
    e.stage ?? '',
    e.outcome,
    e.detail,
  ]);
}

export function entryHash(prevHash: string, seq: number, entry: AuditInput): string {
  return createHash('sha256')
    .update(`${prevHash}\n${canonical(seq, entry)}`)
    .digest('hex');
}

/** Walks the whole log in order and reports the first entry whose sequence, link or hash is wrong. */
export function verifyChain(entries: Iterable<AuditEntry>): AuditVerdict {
  let prev = GENESIS_HASH;
  let expectedSeq = 1;
  let count = 0;
  for (const e of entries) {
    const bad = (problem: string): AuditVerdict => ({
      ok: false,
      entries: count,
      head: prev,
      firstBad: { seq: e.seq, problem },
    });
    if (e.seq !== expectedSeq)
      return bad(`expected entry ${expectedSeq} here, found ${e.seq}: entries were deleted or reordered`);
    if (e.prevHash !== prev) return bad('does not link to the entry before it');
    if (entryHash(prev, e.seq, e) !== e.hash)
      return bad('its content does not match its hash: it was edited');
    prev = e.hash;
    expectedSeq += 1;
    count += 1;
  }
  return { ok: true, entries: count, head: prev };
}
