/**
 * Versioned schema migrations of the rollout store, for SQLite and PostgreSQL. Each version is applied
 * once, in order, inside one exclusive transaction, and recorded in `schema_migrations`; a store whose
 * recorded version is newer than this code knows is refused rather than guessed at.
 */
import type { Queryable, SqlDatabase } from './sql.js';

interface Migration {
  version: number;
  name: string;
  /** Statements for both dialects, then the dialect's own. */
  common: string[];
  sqlite?: string[];
  postgres?: string[];
}

export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'users, audit log, campaigns, inventory, ledger',
    common: [
      `CREATE TABLE users (
         name TEXT PRIMARY KEY,
         role TEXT NOT NULL,
         token_sha256 TEXT NOT NULL UNIQUE,
         created_at TEXT NOT NULL)`,
      `CREATE TABLE audit (
         seq INTEGER PRIMARY KEY,
         at TEXT NOT NULL,
         actor TEXT NOT NULL,
         role TEXT NOT NULL,
         via TEXT NOT NULL,
         action TEXT NOT NULL,
         campaign_id TEXT,
         host_id TEXT,
         stage TEXT,
         outcome TEXT NOT NULL,
         detail TEXT NOT NULL,
         prev_hash TEXT NOT NULL,
         hash TEXT NOT NULL)`,
      `CREATE INDEX audit_by_campaign ON audit (campaign_id, seq)`,
      `CREATE TABLE campaigns (
         campaign_id TEXT PRIMARY KEY,
         name TEXT NOT NULL,
         patch_id TEXT NOT NULL,
         patch_version TEXT NOT NULL,
         artifact_sha256 TEXT NOT NULL,
         started_by TEXT NOT NULL,
         started_at TEXT NOT NULL,
         host_count INTEGER NOT NULL)`,
      `CREATE TABLE inventory (
         host_id TEXT PRIMARY KEY,
         role TEXT NOT NULL,
         site TEXT,
         updated_at TEXT NOT NULL)`,
      `CREATE TABLE ledger (
         campaign_id TEXT NOT NULL,
         host_id TEXT NOT NULL,
         patch_id TEXT NOT NULL,
         patch_version TEXT NOT NULL,
         artifact_sha256 TEXT NOT NULL,
         state TEXT NOT NULL,
         from_version TEXT,
         to_version TEXT,
         image_id TEXT,
         image_location TEXT,
         image_sha256 TEXT,
         failure TEXT,
         started_at TEXT NOT NULL,
         updated_at TEXT NOT NULL,
         finished_at TEXT,
         PRIMARY KEY (campaign_id, host_id))`,
      `CREATE INDEX ledger_by_patch ON ledger (patch_id, host_id)`,
    ],
    sqlite: [
      `CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
         BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END`,
      `CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
         BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END`,
    ],
    postgres: [
      `CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$`,
      `CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON audit
         FOR EACH ROW EXECUTE FUNCTION audit_append_only()`,
    ],
  },
  {
    version: 2,
    name: 'signing keys, decision nonces, verified decisions, admissions, campaign hosts, token expiry',
    common: [
      `CREATE TABLE signing_keys (
         key_id TEXT PRIMARY KEY,
         owner TEXT NOT NULL,
         kind TEXT NOT NULL,
         public_key TEXT NOT NULL,
         created_at TEXT NOT NULL,
         revoked_at TEXT)`,
      `CREATE TABLE decision_nonces (
         nonce TEXT PRIMARY KEY,
         campaign_id TEXT NOT NULL,
         update_id TEXT NOT NULL,
         at TEXT NOT NULL)`,
      `CREATE TABLE decisions (
         campaign_id TEXT NOT NULL,
         nonce TEXT NOT NULL,
         action TEXT NOT NULL,
         identity TEXT NOT NULL,
         role TEXT NOT NULL,
         key_id TEXT NOT NULL,
         key_kind TEXT NOT NULL,
         stage TEXT,
         host_id TEXT,
         at TEXT NOT NULL,
         signature TEXT NOT NULL,
         payload TEXT NOT NULL,
         PRIMARY KEY (campaign_id, nonce))`,
      `CREATE TABLE admissions (
         campaign_id TEXT PRIMARY KEY,
         first_run_id TEXT NOT NULL,
         file_sha256 TEXT NOT NULL,
         started_by TEXT NOT NULL,
         at TEXT NOT NULL)`,
      `CREATE TABLE campaign_hosts (
         campaign_id TEXT NOT NULL,
         host_id TEXT NOT NULL,
         role TEXT NOT NULL,
         site TEXT,
         PRIMARY KEY (campaign_id, host_id))`,
      `ALTER TABLE users ADD COLUMN expires_at TEXT`,
    ],
  },
  {
    version: 3,
    name: 'one spelling per role: on-call',
    common: [`UPDATE users SET role = 'on-call' WHERE role = 'oncall'`],
  },
  {
    version: 4,
    name: 'campaign files in the database (no shared volume)',
    common: [
      `CREATE TABLE IF NOT EXISTS campaign_files (
         sha256 TEXT PRIMARY KEY,
         body TEXT NOT NULL,
         stored_at TEXT NOT NULL)`,
    ],
  },
];

export const LATEST_VERSION = Math.max(...MIGRATIONS.map((m) => m.version));

async function appliedVersion(tx: Queryable): Promise<number> {
  const rows = await tx.all('SELECT MAX(version) AS v FROM schema_migrations');
  return Number(rows[0]?.v ?? 0);
}

/** Brings the store to the latest version; returns the versions it applied. Safe to run concurrently. */
export async function migrate(db: SqlDatabase): Promise<number[]> {
  return db.exclusive('rollout-migrations', async (tx) => {
    await tx.run(
      `CREATE TABLE IF NOT EXISTS schema_migrations (
         version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`,
    );
    const current = await appliedVersion(tx);
    if (current > LATEST_VERSION)
      throw new Error(
        `the store is at schema version ${current}, this program knows up to ${LATEST_VERSION}: upgrade the program`,
      );
    const applied: number[] = [];
    for (const m of MIGRATIONS.filter((x) => x.version > current).sort((a, b) => a.version - b.version)) {
      for (const statement of [...m.common, ...(m[db.dialect] ?? [])]) await tx.run(statement);
      await tx.run('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)', [
        m.version,
        m.name,
        new Date().toISOString(),
      ]);
      applied.push(m.version);
    }
    return applied;
  });
}
