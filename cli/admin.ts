/** Users and keys are administered on this machine: audited as its OS user, role `admin`. */
import { userInfo } from 'node:os';
import { administrator, auditWriter } from '../adapters/audit-writer.js';
import type { RolloutStore } from '../adapters/rollout-store.js';
import type { AuditAction } from '../domain/schema.js';
import { settings } from '../runtime/config.js';
import { columns } from './format.js';

/** The OS user at this machine (user@host): who administers users and keys, audited as such. */
export function adminAudit(store: RolloutStore) {
  const admin = administrator(`${userInfo().username}@${settings().hostname}`);
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
