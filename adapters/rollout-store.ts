/**
 * The rollout store: users (token hashes only), the hash-chained audit log, and the patch ledger
 * (campaigns, fleet inventory, one row per host per campaign). SQLite by default, PostgreSQL when a
 * database URL is configured; the same statements run on both.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  AuditInput,
  LedgerEntry,
  SigningKey,
  VerifiedDecision,
  type AuditEntry,
  type AuditVerdict,
  type CampaignRecord,
  type InventoryHost,
  type LedgerApproval,
  type User,
  type UserRole,
} from '../domain/schema.js';
import { campaignStore, importCampaignDirectory } from './campaign-store.js';
import { entryHash, GENESIS_HASH, verifyChain } from './audit-chain.js';
import { migrate } from './migrations.js';
import { openPostgres, openSqlite, type Row, type SqlDatabase } from './sql.js';

export class UserExists extends Error {
  override name = 'UserExists';
}

export class KeyExists extends Error {
  override name = 'KeyExists';
}

function signingKeyFromRow(r: Row): SigningKey {
  return SigningKey.parse(
    defined({
      keyId: r.key_id,
      owner: r.owner,
      kind: r.kind,
      publicKey: r.public_key,
      createdAt: r.created_at,
      revokedAt: r.revoked_at,
    }),
  );
}

/** Host states that mean the host runs the patch. */
export const HAS_PATCH = ['patched', 'already-patched'] as const;

export interface PatchMatrix {
  hosts: InventoryHost[];
  patches: { patchId: string; patchVersion: string }[];
  /** The latest ledger entry of each host for each patch. */
  cells: LedgerEntry[];
}

export interface LedgerFilter {
  patchId?: string;
  hostId?: string;
  campaignId?: string;
}

export interface StoreLocation {
  /** postgres://… — when set, the store is PostgreSQL. */
  databaseUrl?: string;
  /** The SQLite file used otherwise. */
  sqliteFile: string;
  /** A directory of campaign files an earlier version kept (`<sha256>.json`), imported on open. */
  legacyStoreDir?: string;
}

/** Absent columns come back as null from both drivers; the schemas want them left out. */
function defined(row: Row): Row {
  return Object.fromEntries(Object.entries(row).filter(([, v]) => v !== null && v !== undefined));
}

function auditFromRow(r: Row): AuditEntry {
  return {
    ...AuditInput.parse(
      defined({
        at: r.at,
        actor: r.actor,
        role: r.role,
        via: r.via,
        action: r.action,
        campaignId: r.campaign_id,
        hostId: r.host_id,
        stage: r.stage,
        outcome: r.outcome,
        detail: r.detail,
      }),
    ),
    seq: Number(r.seq),
    prevHash: String(r.prev_hash),
    hash: String(r.hash),
  };
}

function ledgerFromRow(r: Row): LedgerEntry {
  return LedgerEntry.parse(
    defined({
      hostId: r.host_id,
      campaignId: r.campaign_id,
      patchId: r.patch_id,
      patchVersion: r.patch_version,
      artifactSha256: r.artifact_sha256,
      state: r.state,
      fromVersion: r.from_version,
      toVersion: r.to_version,
      imageId: r.image_id,
      imageLocation: r.image_location,
      imageSha256: r.image_sha256,
      failure: r.failure,
      startedAt: r.started_at,
      updatedAt: r.updated_at,
      finishedAt: r.finished_at,
    }),
  );
}

/** How long a token is good for unless the administrator says otherwise. */
export const TOKEN_DAYS = 90;

function newToken(): string {
  return `rot_${randomBytes(32).toString('base64url')}`;
}

function userFromRow(r: Row): User {
  return {
    name: String(r.name),
    role: r.role as UserRole,
    createdAt: String(r.created_at),
    ...(r.expires_at ? { expiresAt: String(r.expires_at) } : {}),
  };
}

/** Tokens are stored as their SHA-256: a copy of the store does not sign anyone in. */
function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export async function openRolloutStore(location: StoreLocation) {
  let db: SqlDatabase;
  if (location.databaseUrl) db = openPostgres(location.databaseUrl);
  else {
    mkdirSync(dirname(location.sqliteFile), { recursive: true });
    db = openSqlite(location.sqliteFile);
  }
  try {
    await migrate(db);
    const store = rolloutStore(db);
    // Campaigns started by a version that kept their files in a directory keep running after the
    // upgrade, whichever process (worker, API, CLI) opens the store first.
    const legacyImport = location.legacyStoreDir
      ? await importCampaignDirectory(store.campaignFiles, location.legacyStoreDir)
      : { imported: 0, refused: [] };
    return { ...store, legacyImport };
  } catch (err) {
    await db.close().catch(() => undefined);
    throw err;
  }
}

export function rolloutStore(db: SqlDatabase) {
  const ledgerWhere = (f: LedgerFilter) => {
    const clauses: string[] = [];
    const params: unknown[] = [];
    for (const [column, value] of [
      ['patch_id', f.patchId],
      ['host_id', f.hostId],
      ['campaign_id', f.campaignId],
    ] as const)
      if (value !== undefined) {
        clauses.push(`${column} = ?`);
        params.push(value);
      }
    return { where: clauses.length ? `WHERE ${clauses.join(' AND ')}` : '', params };
  };

  const store = {
    dialect: db.dialect,
    close: () => db.close(),
    /** The validated campaign files workflows refer to by checksum (adapters/campaign-store.ts). */
    campaignFiles: campaignStore(db),

    // ---- users ----

    /**
     * Creates a user and returns the bearer token, shown once; only its SHA-256 is kept. The token
     * expires after `validDays` (default 90).
     */
    async addUser(
      name: string,
      role: UserRole,
      validDays = TOKEN_DAYS,
    ): Promise<{ user: User; token: string }> {
      const token = newToken();
      const createdAt = new Date().toISOString();
      const expiresAt = new Date(Date.now() + validDays * 86_400_000).toISOString();
      await db.exclusive('rollout-users', async (tx) => {
        if ((await tx.all('SELECT name FROM users WHERE name = ?', [name])).length)
          throw new UserExists(
            `user ${name} already exists (rollout users rotate ${name} issues a new token)`,
          );
        await tx.run(
          'INSERT INTO users (name, role, token_sha256, created_at, expires_at) VALUES (?, ?, ?, ?, ?)',
          [name, role, hashToken(token), createdAt, expiresAt],
        );
      });
      return { user: { name, role, createdAt, expiresAt }, token };
    },

    /** Issues a new token for a user (the old one stops working at once). Undefined if there is no such user. */
    async rotateToken(
      name: string,
      validDays = TOKEN_DAYS,
    ): Promise<{ user: User; token: string } | undefined> {
      const token = newToken();
      const expiresAt = new Date(Date.now() + validDays * 86_400_000).toISOString();
      return db.exclusive('rollout-users', async (tx) => {
        const [row] = await tx.all('SELECT name, role, created_at FROM users WHERE name = ?', [name]);
        if (!row) return undefined;
        await tx.run('UPDATE users SET token_sha256 = ?, expires_at = ? WHERE name = ?', [
          hashToken(token),
          expiresAt,
          name,
        ]);
        return {
          user: { name, role: row.role as UserRole, createdAt: String(row.created_at), expiresAt },
          token,
        };
      });
    },

    async removeUser(name: string): Promise<boolean> {
      return db.exclusive('rollout-users', async (tx) => {
        const found = (await tx.all('SELECT name FROM users WHERE name = ?', [name])).length > 0;
        if (found) await tx.run('DELETE FROM users WHERE name = ?', [name]);
        return found;
      });
    },

    /** The user a token belongs to, unless it expired. */
    async userByToken(token: string): Promise<User | undefined> {
      const [row] = await db.all(
        'SELECT name, role, created_at, expires_at FROM users WHERE token_sha256 = ?',
        [hashToken(token)],
      );
      if (!row) return undefined;
      if (row.expires_at && String(row.expires_at) <= new Date().toISOString()) return undefined;
      return userFromRow(row);
    },

    /** The role of a user, if the user exists. */
    async userRole(name: string): Promise<UserRole | undefined> {
      const [row] = await db.all('SELECT role FROM users WHERE name = ?', [name]);
      return row ? (row.role as UserRole) : undefined;
    },

    async users(): Promise<User[]> {
      const rows = await db.all('SELECT name, role, created_at, expires_at FROM users ORDER BY name');
      return rows.map(userFromRow);
    },

    // ---- audit ----

    /** Appends one entry, linked to the last one; concurrent writers are serialized by the store. */
    async appendAudit(input: AuditInput): Promise<AuditEntry> {
      const entry = AuditInput.parse(input);
      return db.exclusive('rollout-audit', async (tx) => {
        const [last] = await tx.all('SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1');
        const seq = last ? Number(last.seq) + 1 : 1;
        const prevHash = last ? String(last.hash) : GENESIS_HASH;
        const hash = entryHash(prevHash, seq, entry);
        await tx.run(
          `INSERT INTO audit (seq, at, actor, role, via, action, campaign_id, host_id, stage, outcome, detail, prev_hash, hash)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          [
            seq,
            entry.at,
            entry.actor,
            entry.role,
            entry.via,
            entry.action,
            entry.campaignId ?? null,
            entry.hostId ?? null,
            entry.stage ?? null,
            entry.outcome,
            entry.detail,
            prevHash,
            hash,
          ],
        );
        return { ...entry, seq, prevHash, hash };
      });
    },

    /** Entries newest first, optionally of one campaign. */
    async auditEntries(filter: { campaignId?: string; limit?: number } = {}): Promise<AuditEntry[]> {
      const limit = Math.min(Math.max(filter.limit ?? 200, 1), 5000);
      const rows = filter.campaignId
        ? await db.all('SELECT * FROM audit WHERE campaign_id = ? ORDER BY seq DESC LIMIT ?', [
            filter.campaignId,
            limit,
          ])
        : await db.all('SELECT * FROM audit ORDER BY seq DESC LIMIT ?', [limit]);
      return rows.map(auditFromRow);
    },

    /** Checks the whole chain, reading it in pages. */
    async verifyAudit(): Promise<AuditVerdict> {
      const all: AuditEntry[] = [];
      for (let after = 0; ;) {
        const rows = await db.all('SELECT * FROM audit WHERE seq > ? ORDER BY seq LIMIT 1000', [after]);
        if (!rows.length) break;
        const page = rows.map(auditFromRow);
        all.push(...page);
        after = page[page.length - 1]?.seq ?? after;
      }
      return verifyChain(all);
    },

    // ---- ledger ----

    /**
     * Records a started campaign and the fleet it covers (the hosts' attributes as this campaign's file
     * gives them). Idempotent. Called by the worker when it admits a verified start, so a file that was
     * refused, or never ran, leaves no trace in the inventory.
     */
    async recordCampaign(campaign: CampaignRecord, hosts: InventoryHost[]): Promise<void> {
      await db.exclusive('rollout-ledger', async (tx) => {
        await tx.run(
          `INSERT INTO campaigns (campaign_id, name, patch_id, patch_version, artifact_sha256, started_by, started_at, host_count)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (campaign_id) DO NOTHING`,
          [
            campaign.campaignId,
            campaign.name,
            campaign.patchId,
            campaign.patchVersion,
            campaign.artifactSha256,
            campaign.startedBy,
            campaign.startedAt,
            campaign.hostCount,
          ],
        );
        for (const h of hosts) {
          await tx.run(
            `INSERT INTO inventory (host_id, role, site, updated_at) VALUES (?, ?, ?, ?)
             ON CONFLICT (host_id) DO UPDATE SET role = excluded.role, site = excluded.site, updated_at = excluded.updated_at`,
            [h.hostId, h.role, h.site ?? null, campaign.startedAt],
          );
          await tx.run(
            `INSERT INTO campaign_hosts (campaign_id, host_id, role, site) VALUES (?, ?, ?, ?)
             ON CONFLICT (campaign_id, host_id) DO NOTHING`,
            [campaign.campaignId, h.hostId, h.role, h.site ?? null],
          );
        }
      });
    },

    /**
     * Upserts one host's entry for its campaign. Idempotent; an older update (a retried activity that
     * lost a race) never overwrites a newer one.
     */
    async recordHostState(input: LedgerEntry): Promise<void> {
      const e = LedgerEntry.parse(input);
      if (e.hostRole)
        await db.run(
          `INSERT INTO inventory (host_id, role, site, updated_at) VALUES (?, ?, NULL, ?)
           ON CONFLICT (host_id) DO NOTHING`,
          [e.hostId, e.hostRole, e.updatedAt],
        );
      await db.run(
        `INSERT INTO ledger (campaign_id, host_id, patch_id, patch_version, artifact_sha256, state, from_version,
           to_version, image_id, image_location, image_sha256, failure, started_at, updated_at, finished_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (campaign_id, host_id) DO UPDATE SET
           state = excluded.state,
           from_version = COALESCE(excluded.from_version, ledger.from_version),
           to_version = excluded.to_version,
           image_id = COALESCE(excluded.image_id, ledger.image_id),
           image_location = COALESCE(excluded.image_location, ledger.image_location),
           image_sha256 = COALESCE(excluded.image_sha256, ledger.image_sha256),
           failure = excluded.failure,
           updated_at = excluded.updated_at,
           finished_at = excluded.finished_at
         WHERE excluded.updated_at >= ledger.updated_at`,
        [
          e.campaignId,
          e.hostId,
          e.patchId,
          e.patchVersion,
          e.artifactSha256,
          e.state,
          e.fromVersion ?? null,
          e.toVersion ?? null,
          e.imageId ?? null,
          e.imageLocation ?? null,
          e.imageSha256 ?? null,
          e.failure ?? null,
          e.startedAt,
          e.updatedAt,
          e.finishedAt ?? null,
        ],
      );
    },

    async campaigns(): Promise<CampaignRecord[]> {
      const rows = await db.all('SELECT * FROM campaigns ORDER BY started_at DESC');
      return rows.map((r) => ({
        campaignId: String(r.campaign_id),
        name: String(r.name),
        patchId: String(r.patch_id),
        patchVersion: String(r.patch_version),
        artifactSha256: String(r.artifact_sha256),
        startedBy: String(r.started_by),
        startedAt: String(r.started_at),
        hostCount: Number(r.host_count),
      }));
    },

    async ledger(filter: LedgerFilter = {}): Promise<LedgerEntry[]> {
      const { where, params } = ledgerWhere(filter);
      const rows = await db.all(`SELECT * FROM ledger ${where} ORDER BY host_id, updated_at`, params);
      return rows.map(ledgerFromRow);
    },

    async inventory(): Promise<InventoryHost[]> {
      const rows = await db.all('SELECT host_id, role, site FROM inventory ORDER BY host_id');
      return rows.map((r) => ({
        hostId: String(r.host_id),
        role: String(r.role),
        ...(r.site !== null && r.site !== undefined ? { site: String(r.site) } : {}),
      }));
    },

    /** Hosts × patches: every known host, every patch seen, the latest entry per pair. */
    async patchMatrix(): Promise<PatchMatrix> {
      const entries = await store.ledger();
      const latest = new Map<string, LedgerEntry>();
      for (const e of entries) {
        const key = `${e.hostId}\u0000${e.patchId}`;
        const seen = latest.get(key);
        if (!seen || seen.updatedAt <= e.updatedAt) latest.set(key, e);
      }
      const patches = new Map<string, string>();
      for (const e of entries) patches.set(e.patchId, e.patchVersion);
      const hosts = await store.inventory();
      return {
        hosts,
        patches: [...patches].map(([patchId, patchVersion]) => ({ patchId, patchVersion })),
        cells: [...latest.values()],
      };
    },

    /** Known hosts whose latest entry for the patch is not patched (or that never had it), with that entry. */
    async hostsLacking(patchId: string): Promise<{ host: InventoryHost; latest?: LedgerEntry }[]> {
      const matrix = await store.patchMatrix();
      const byHost = new Map(matrix.cells.filter((c) => c.patchId === patchId).map((c) => [c.hostId, c]));
      return matrix.hosts
        .map((host) => ({ host, latest: byHost.get(host.hostId) }))
        .filter(({ latest }) => !latest || !(HAS_PATCH as readonly string[]).includes(latest.state));
    },

    // ---- signing keys and verified decisions ----

    /** Registers a public key; a key ID that exists already is refused. */
    async registerKey(key: Omit<SigningKey, 'createdAt' | 'revokedAt'>): Promise<SigningKey> {
      const record = { ...key, createdAt: new Date().toISOString() };
      await db.exclusive('rollout-keys', async (tx) => {
        if ((await tx.all('SELECT key_id FROM signing_keys WHERE key_id = ?', [key.keyId])).length)
          throw new KeyExists(`key ${key.keyId.slice(0, 16)}… is registered already`);
        await tx.run(
          'INSERT INTO signing_keys (key_id, owner, kind, public_key, created_at) VALUES (?, ?, ?, ?, ?)',
          [key.keyId, key.owner, key.kind, key.publicKey, record.createdAt],
        );
      });
      return SigningKey.parse(record);
    },

    /** Marks a key revoked from now on; decisions it signs later are refused. False if unknown. */
    async revokeKey(keyId: string): Promise<boolean> {
      return db.exclusive('rollout-keys', async (tx) => {
        const found = (await tx.all('SELECT key_id FROM signing_keys WHERE key_id = ?', [keyId])).length > 0;
        if (found)
          await tx.run('UPDATE signing_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL', [
            new Date().toISOString(),
            keyId,
          ]);
        return found;
      });
    },

    async signingKey(keyId: string): Promise<SigningKey | undefined> {
      const [row] = await db.all('SELECT * FROM signing_keys WHERE key_id = ?', [keyId]);
      return row ? signingKeyFromRow(row) : undefined;
    },

    async signingKeys(): Promise<SigningKey[]> {
      return (await db.all('SELECT * FROM signing_keys ORDER BY created_at')).map(signingKeyFromRow);
    },

    /**
     * Claims a signature's nonce for one decision. True when it is new, or already claimed by the same
     * campaign and update (a retried verification); false when another decision used it (a replay).
     */
    async claimNonce(nonce: string, campaignId: string, updateId: string): Promise<boolean> {
      return db.exclusive('rollout-nonces', async (tx) => {
        const [row] = await tx.all('SELECT campaign_id, update_id FROM decision_nonces WHERE nonce = ?', [
          nonce,
        ]);
        if (row) return row.campaign_id === campaignId && row.update_id === updateId;
        await tx.run('INSERT INTO decision_nonces (nonce, campaign_id, update_id, at) VALUES (?, ?, ?, ?)', [
          nonce,
          campaignId,
          updateId,
          new Date().toISOString(),
        ]);
        return true;
      });
    },

    /** Keeps a verified decision (idempotent by campaign and nonce). */
    async recordDecision(input: VerifiedDecision): Promise<void> {
      const d = VerifiedDecision.parse(input);
      await db.run(
        `INSERT INTO decisions (campaign_id, nonce, action, identity, role, key_id, key_kind, stage, host_id, at, signature, payload)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (campaign_id, nonce) DO NOTHING`,
        [
          d.campaignId,
          d.nonce,
          d.action,
          d.identity,
          d.role,
          d.keyId,
          d.keyKind,
          d.stage ?? null,
          d.hostId ?? null,
          d.at,
          d.signature,
          d.payload,
        ],
      );
    },

    async decisions(campaignId: string): Promise<VerifiedDecision[]> {
      const rows = await db.all('SELECT * FROM decisions WHERE campaign_id = ? ORDER BY at, nonce', [
        campaignId,
      ]);
      return rows.map((r) =>
        VerifiedDecision.parse(
          defined({
            campaignId: r.campaign_id,
            nonce: r.nonce,
            action: r.action,
            identity: r.identity,
            role: r.role,
            keyId: r.key_id,
            keyKind: r.key_kind,
            stage: r.stage,
            hostId: r.host_id,
            at: r.at,
            signature: r.signature,
            payload: r.payload,
          }),
        ),
      );
    },

    /**
     * Admits a campaign run chain: the first run of a verified start. A continued run must belong to
     * the admitted chain (same first run); a start that names another chain is refused. True if admitted
     * (now or before, for the same chain).
     */
    async admit(
      campaignId: string,
      firstRunId: string,
      fileSha256: string,
      startedBy: string,
    ): Promise<boolean> {
      return db.exclusive('rollout-admissions', async (tx) => {
        const [row] = await tx.all('SELECT first_run_id FROM admissions WHERE campaign_id = ?', [campaignId]);
        if (row) return row.first_run_id === firstRunId;
        await tx.run(
          'INSERT INTO admissions (campaign_id, first_run_id, file_sha256, started_by, at) VALUES (?, ?, ?, ?, ?)',
          [campaignId, firstRunId, fileSha256, startedBy, new Date().toISOString()],
        );
        return true;
      });
    },

    /** The admitted chain of a campaign, if any. */
    async admission(campaignId: string): Promise<{ firstRunId: string; fileSha256: string } | undefined> {
      const [row] = await db.all('SELECT first_run_id, file_sha256 FROM admissions WHERE campaign_id = ?', [
        campaignId,
      ]);
      return row ? { firstRunId: String(row.first_run_id), fileSha256: String(row.file_sha256) } : undefined;
    },

    /** Approvals a campaign's hosts went out under: verified approvals, else (older campaigns) the audit log's. */
    async approvals(campaignId: string): Promise<LedgerApproval[]> {
      const verified = await db.all(
        `SELECT campaign_id, stage, identity, at FROM decisions WHERE campaign_id = ? AND action = 'approve' ORDER BY at`,
        [campaignId],
      );
      if (verified.length)
        return verified.map((r) => ({
          campaignId: String(r.campaign_id),
          stage: String(r.stage ?? ''),
          actor: String(r.identity),
          at: String(r.at),
        }));
      const rows = await db.all(
        `SELECT campaign_id, stage, actor, at FROM audit
         WHERE campaign_id = ? AND action = 'approve' AND outcome = 'accepted' ORDER BY seq`,
        [campaignId],
      );
      return rows.map((r) => ({
        campaignId: String(r.campaign_id),
        stage: String(r.stage ?? ''),
        actor: String(r.actor),
        at: String(r.at),
      }));
    },
  };
  return store;
}

export type RolloutStore = ReturnType<typeof rolloutStore>;
