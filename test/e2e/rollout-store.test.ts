/**
 * The rollout store on both databases it supports: SQLite (a temp file) and a real PostgreSQL server
 * from Debian's packages started for this file. Same tests on each: migrations, users, the audit chain
 * (including tampering), and the ledger's "which hosts lack patch X".
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importCampaignDirectory } from '../../adapters/campaign-store.js';
import { LATEST_VERSION } from '../../adapters/migrations.js';
import { openRolloutStore, type RolloutStore } from '../../adapters/rollout-store.js';
import { CampaignFile, type AuditInput, type LedgerEntry } from '../../domain/schema.js';
import { validCampaign } from '../fixtures/campaign.js';
import { startPostgres, type LocalPostgres } from '../../runtime/postgres.js';

const SHA = 'a'.repeat(64);

const audit = (over: Partial<AuditInput> = {}): AuditInput => ({
  at: new Date().toISOString(),
  actor: 'vendor@acme',
  role: 'vendor',
  via: 'api',
  action: 'approve',
  campaignId: 'c-1',
  stage: 'vendor',
  outcome: 'accepted',
  detail: 'looks fine',
  ...over,
});

const entry = (hostId: string, over: Partial<LedgerEntry> = {}): LedgerEntry => ({
  hostId,
  campaignId: 'c-1',
  patchId: 'PACS-2026-11',
  patchVersion: '1.1.0',
  artifactSha256: SHA,
  state: 'patched',
  startedAt: '2026-11-23T10:00:00.000Z',
  updatedAt: '2026-11-23T10:05:00.000Z',
  ...over,
});

interface Backend {
  name: string;
  /** Opens the store, importing an earlier version's campaign-file directory when one is given. */
  open(legacyStoreDir?: string): ReturnType<typeof openRolloutStore>;
  /** Runs SQL as someone with direct access to the database (bypassing the store). */
  tamper(sql: string): Promise<void>;
  query(sql: string): Promise<Record<string, unknown>[]>;
  cleanup(): Promise<void>;
}

function sqliteBackend(): Backend {
  const dir = mkdtempSync(join(tmpdir(), 'rollout-store-'));
  const file = join(dir, 'rollout.sqlite');
  return {
    name: 'SQLite',
    open: (legacyStoreDir) =>
      openRolloutStore({ sqliteFile: file, ...(legacyStoreDir ? { legacyStoreDir } : {}) }),
    async tamper(sql) {
      const db = new Database(file);
      try {
        db.exec(sql);
      } finally {
        db.close();
      }
    },
    async query(sql) {
      const db = new Database(file, { readonly: true });
      try {
        return db.prepare(sql).all() as Record<string, unknown>[];
      } finally {
        db.close();
      }
    },
    async cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

let postgres: LocalPostgres | undefined;
function postgresBackend(): Backend {
  const url = () => postgres!.url;
  const query = async (sql: string) => {
    const client = new pg.Client({ connectionString: url() });
    await client.connect();
    try {
      return (await client.query(sql)).rows as Record<string, unknown>[];
    } finally {
      await client.end();
    }
  };
  return {
    name: 'PostgreSQL',
    open: (legacyStoreDir) =>
      openRolloutStore({
        databaseUrl: url(),
        sqliteFile: '/nonexistent',
        ...(legacyStoreDir ? { legacyStoreDir } : {}),
      }),
    async tamper(sql) {
      await query(sql);
    },
    query,
    async cleanup() {},
  };
}

beforeAll(async () => {
  postgres = await startPostgres('127.0.46.1', 55432);
}, 60_000);
afterAll(async () => {
  await postgres?.stop();
});

describe.each([
  ['SQLite', sqliteBackend],
  ['PostgreSQL', postgresBackend],
] as const)('%s store', (_name, make) => {
  const backend = make();
  let store: RolloutStore;
  beforeAll(async () => {
    store = await backend.open();
  });
  afterAll(async () => {
    await store?.close();
    await backend.cleanup();
  });

  it('applies its migrations once, and opening again changes nothing', async () => {
    const again = await backend.open();
    await again.close();
    const rows = await backend.query('SELECT version FROM schema_migrations ORDER BY version');
    expect(rows.map((r) => Number(r.version))).toEqual(
      Array.from({ length: LATEST_VERSION }, (_, i) => i + 1),
    );
  });

  it('migration 3 gives users of the old spelling "oncall" the one spelling "on-call"', async () => {
    const { token } = await store.addUser('pager@hospital', 'on-call');
    await backend.tamper("UPDATE users SET role = 'oncall' WHERE name = 'pager@hospital'");
    // As a store last migrated to version 2 would be.
    await backend.tamper('DELETE FROM schema_migrations WHERE version >= 3');
    const again = await backend.open();
    await again.close();
    expect((await store.userByToken(token))?.role).toBe('on-call');
    const rows = await backend.query('SELECT version FROM schema_migrations ORDER BY version');
    expect(rows.map((r) => Number(r.version))).toEqual(
      Array.from({ length: LATEST_VERSION }, (_, i) => i + 1),
    );
    await store.removeUser('pager@hospital');
  });

  it('issues tokens, keeps only their hash, and refuses a duplicate user', async () => {
    const { token, user } = await store.addUser('vendor@acme', 'vendor');
    // 32 random bytes, base64url: 43 characters.
    expect(token).toMatch(/^rot_[A-Za-z0-9_-]{43}$/);
    expect(user.role).toBe('vendor');
    expect((await store.userByToken(token))?.name).toBe('vendor@acme');
    expect(await store.userByToken(`${token}x`)).toBeUndefined();
    await expect(store.addUser('vendor@acme', 'operator')).rejects.toThrow(/already exists/);
    const dump = JSON.stringify(await backend.query('SELECT * FROM users'));
    expect(dump).not.toContain(token);
    expect(await store.removeUser('vendor@acme')).toBe(true);
    expect(await store.userByToken(token)).toBeUndefined();
  });

  it('chains audit entries, verifies them, and refuses updates and deletes', async () => {
    for (let i = 0; i < 5; i++) await store.appendAudit(audit({ detail: `entry ${i}` }));
    await store.appendAudit(
      audit({ action: 'skip', outcome: 'refused', detail: 'NotOnCall: no', role: 'auditor' }),
    );
    const verdict = await store.verifyAudit();
    expect(verdict).toMatchObject({ ok: true, entries: 6 });
    expect(verdict.head).toMatch(/^[a-f0-9]{64}$/);
    await expect(backend.tamper(`UPDATE audit SET detail = 'x' WHERE seq = 2`)).rejects.toThrow(
      /append-only/,
    );
    await expect(backend.tamper('DELETE FROM audit WHERE seq = 3')).rejects.toThrow(/append-only/);
    const [refused] = await store.auditEntries({ limit: 1 });
    expect(refused).toMatchObject({ action: 'skip', outcome: 'refused', role: 'auditor' });
  });

  it('concurrent appends still form one chain', async () => {
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => store.appendAudit(audit({ detail: `parallel ${i}` }))),
    );
    expect(await store.verifyAudit()).toMatchObject({ ok: true, entries: 26 });
  });

  it('answers which hosts lack a patch, from idempotent, order-safe upserts', async () => {
    await store.recordCampaign(
      {
        campaignId: 'c-1',
        name: 'november',
        patchId: 'PACS-2026-11',
        patchVersion: '1.1.0',
        artifactSha256: SHA,
        startedBy: 'ops@hospital',
        startedAt: '2026-11-23T09:00:00.000Z',
        hostCount: 4,
      },
      ['pacs-01', 'pacs-02', 'nas-01', 'ws-01'].map((hostId) => ({ hostId, role: 'pacs-server' })),
    );
    await store.recordHostState(
      entry('pacs-01', { state: 'installing', updatedAt: '2026-11-23T10:01:00.000Z' }),
    );
    await store.recordHostState(
      entry('pacs-01', { imageId: 'img-1', fromVersion: '1.0.0', toVersion: '1.1.0' }),
    );
    await store.recordHostState(
      entry('pacs-01', { imageId: 'img-1', fromVersion: '1.0.0', toVersion: '1.1.0' }),
    );
    // A late retry of an earlier state must not undo the later one.
    await store.recordHostState(
      entry('pacs-01', { state: 'imaging', updatedAt: '2026-11-23T10:00:30.000Z' }),
    );
    await store.recordHostState(entry('pacs-02', { state: 'already-patched' }));
    await store.recordHostState(
      entry('nas-01', { state: 'rolled-back', failure: 'reboot: Timeout', imageId: 'img-2' }),
    );
    const lacking = await store.hostsLacking('PACS-2026-11');
    expect(lacking.map((l) => [l.host.hostId, l.latest?.state ?? 'never'])).toEqual([
      ['nas-01', 'rolled-back'],
      ['ws-01', 'never'],
    ]);
    const [pacs01] = await store.ledger({ hostId: 'pacs-01' });
    expect(pacs01).toMatchObject({
      state: 'patched',
      imageId: 'img-1',
      fromVersion: '1.0.0',
      toVersion: '1.1.0',
    });
    const matrix = await store.patchMatrix();
    expect(matrix.patches).toEqual([{ patchId: 'PACS-2026-11', patchVersion: '1.1.0' }]);
    expect(matrix.cells).toHaveLength(3);
    expect((await store.campaigns()).map((c) => c.campaignId)).toEqual(['c-1']);
    expect(await store.approvals('c-1')).toHaveLength(25);
  });

  // Last: it removes the append-only guard as an intruder with database access would.
  it('keeps campaign files by checksum for every process on the database, and refuses an edited one', async () => {
    const file = CampaignFile.parse(validCampaign(3));
    const sha = await store.campaignFiles.put(file);
    expect(sha).toMatch(/^[a-f0-9]{64}$/);
    expect(await store.campaignFiles.put(file)).toBe(sha); // idempotent
    // Another process (a worker on another machine) reads it from the database alone.
    const other = await backend.open();
    try {
      expect(await other.campaignFiles.get(sha)).toEqual(file);
      await expect(other.campaignFiles.get('b'.repeat(64))).rejects.toMatchObject({
        type: 'CampaignFileMissing',
        message: `no campaign file ${'b'.repeat(64)} in the rollout store`,
      });
      await expect(other.campaignFiles.get('../etc/passwd')).rejects.toMatchObject({
        type: 'CampaignFileMissing',
        message: '"../etc/passwd" is not a checksum',
      });
    } finally {
      await other.close();
    }
    await backend.tamper(
      `UPDATE campaign_files SET body = REPLACE(body, '"apiVersion"', ' "apiVersion"') WHERE sha256 = '${sha}'`,
    );
    expect(
      (await backend.query(`SELECT body FROM campaign_files WHERE sha256 = '${sha}'`))[0]!.body,
    ).toContain('{ "apiVersion"');
    const fresh = await backend.open();
    try {
      await expect(fresh.campaignFiles.get(sha)).rejects.toMatchObject({
        type: 'CampaignFileCorrupt',
        message: `campaign file ${sha} does not match its checksum`,
      });
    } finally {
      await fresh.close();
    }
  });

  it('imports the campaign files an earlier version kept in a directory on open, verbatim, and only the intact ones', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rollout-legacy-store-'));
    try {
      // An earlier writer's bytes (indented): the running campaigns carry the checksum of these bytes.
      const text = JSON.stringify(CampaignFile.parse(validCampaign(5)), null, 2);
      const sha = createHash('sha256').update(text).digest('hex');
      writeFileSync(join(dir, `${sha}.json`), text);
      writeFileSync(join(dir, `${'c'.repeat(64)}.json`), text); // its name is not its checksum
      mkdirSync(join(dir, `${'d'.repeat(64)}.json`)); // cannot be read as a file
      writeFileSync(join(dir, 'notes.txt'), 'not a campaign file');
      // Any process that opens the store (worker, API, CLI) brings them in.
      const opened = await backend.open(dir);
      try {
        expect(opened.legacyImport).toEqual({
          imported: 1,
          refused: [`${'c'.repeat(64)}.json`, `${'d'.repeat(64)}.json`].sort(),
        });
        expect(await opened.campaignFiles.get(sha)).toEqual(CampaignFile.parse(validCampaign(5)));
      } finally {
        await opened.close();
      }
      // Already there: a second import counts nothing as imported.
      expect((await importCampaignDirectory(store.campaignFiles, dir)).imported).toBe(0);
      expect(await importCampaignDirectory(store.campaignFiles, join(dir, 'absent'))).toEqual({
        imported: 0,
        refused: [],
      });
      // A path that exists and is not a directory is a setting to fix, said as such.
      await expect(importCampaignDirectory(store.campaignFiles, join(dir, 'notes.txt'))).rejects.toThrow(
        `ROLLOUT_STORE_DIR: cannot read ${join(dir, 'notes.txt')}: ENOTDIR`,
      );
      await expect(backend.open(join(dir, 'notes.txt'))).rejects.toMatchObject({
        name: 'StoreDirectoryUnreadable',
      });
      // A database that fails the write fails the import; the file is not counted as refused.
      const closed = await backend.open();
      await closed.close();
      const other = JSON.stringify(CampaignFile.parse(validCampaign(6)), null, 2);
      writeFileSync(join(dir, `${createHash('sha256').update(other).digest('hex')}.json`), other);
      await expect(importCampaignDirectory(closed.campaignFiles, dir)).rejects.not.toMatchObject({
        name: 'CampaignFileCorrupt',
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('detects an edited and a deleted audit entry', async () => {
    const dropGuards =
      backend.name === 'SQLite'
        ? 'DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;'
        : 'DROP TRIGGER audit_no_change ON audit;';
    await backend.tamper(dropGuards);
    await backend.tamper(`UPDATE audit SET detail = 'approved by someone else' WHERE seq = 4`);
    const edited = await store.verifyAudit();
    expect(edited).toMatchObject({ ok: false, entries: 3, firstBad: { seq: 4 } });
    expect(edited.firstBad?.problem).toBe('its content does not match its hash: it was edited');
    await backend.tamper('DELETE FROM audit WHERE seq = 4');
    const deleted = await store.verifyAudit();
    expect(deleted).toMatchObject({ ok: false, entries: 3, firstBad: { seq: 5 } });
    expect(deleted.firstBad?.problem).toBe(
      'expected entry 4 here, found 5: entries were deleted or reordered',
    );
  });
});
