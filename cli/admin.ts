/** Users and keys are administered on this machine: audited as its OS user, role `admin`. */
import { userInfo } from 'node:os';
import { administrator, auditWriter } from '../adapters/audit-writer.js';
import type { RolloutStore } from '../adapters/rollout-store.js';
import type { AuditAction } from '../domain/schema.js';
import { localAdmin } from './common.js';
import { columns } from './format.js';

export function adminAudit(store: RolloutStore) {
  const admin = administrator(localAdmin(userInfo().username));
  const audit = auditWriter(store);
  return (action: AuditAction, outcome: 'accepted' | 'refused', detail: string) =>
    audit.write(admin, action, outcome, detail);
}

/** Rows as aligned text lines. */
export function table(rows: string[][]): string {
  return columns(rows)
    .map((l) => `${l}\n`)
    .join('');
}
