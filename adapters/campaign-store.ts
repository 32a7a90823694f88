/**
 * Content-addressed store of validated campaign files, in the rollout database (SQLite by default,
 * PostgreSQL with ROLLOUT_DATABASE_URL): the client puts a file and starts the campaign with its SHA-256;
 * workers read it back by that checksum, so workflow inputs and histories carry a reference instead of an
 * inventory. Workers on several machines need no shared volume, only the database. A stored text whose
 * bytes do not match its checksum, or that no longer validates, is refused, never used.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RolloutError } from '../domain/errors.js';
import { CampaignFile } from '../domain/schema.js';
import type { SqlDatabase } from './sql.js';

export interface CampaignStore {
  /** Stores the validated file; returns its SHA-256 (the reference workflows carry). Idempotent. */
  put(file: CampaignFile): Promise<string>;
  /** Reads and re-validates a file. Throws CampaignFileMissing or CampaignFileCorrupt. */
  get(sha256: string): Promise<CampaignFile>;
  /**
   * Stores a text another store wrote, byte for byte, under its checksum, after checking that it matches
   * and validates (throws CampaignFileCorrupt otherwise). For the import of an earlier version's files.
   */
  putText(sha256: string, text: string): Promise<void>;
}

const sha256Of = (text: string) => createHash('sha256').update(text).digest('hex');

function checkedName(sha: string): string {
  if (!/^[a-f0-9]{64}$/.test(sha))
    throw new RolloutError('CampaignFileMissing', `"${sha}" is not a checksum`);
  return sha;
}

/** The file a stored text holds, if its bytes match the checksum and it still validates. */
function verified(sha: string, text: string): CampaignFile {
  if (sha256Of(text) !== sha)
    throw new RolloutError('CampaignFileCorrupt', `campaign file ${sha} does not match its checksum`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new RolloutError('CampaignFileCorrupt', `campaign file ${sha} is not JSON`);
  }
  const parsed = CampaignFile.safeParse(json);
  if (!parsed.success)
    throw new RolloutError(
      'CampaignFileCorrupt',
      `campaign file ${sha} no longer validates: ${parsed.error.message}`,
    );
  return parsed.data;
}

export function campaignStore(db: SqlDatabase, cacheSize = 8): CampaignStore {
  // Parsed files by checksum (most recently used last); a file never changes behind its checksum.
  const cache = new Map<string, Promise<CampaignFile>>();
  const remember = (sha: string, file: Promise<CampaignFile>) => {
    cache.delete(sha);
    cache.set(sha, file);
    if (cache.size > cacheSize) cache.delete(cache.keys().next().value as string);
  };
  const load = async (sha: string): Promise<CampaignFile> => {
    const rows = await db.all('SELECT body FROM campaign_files WHERE sha256 = ?', [sha]);
    if (!rows.length)
      throw new RolloutError('CampaignFileMissing', `no campaign file ${sha} in the rollout store`);
    return verified(sha, String(rows[0]!.body));
  };
  // The same bytes under the same key: a second put (a retried start, another client) changes nothing.
  const insert = (sha: string, text: string) =>
    db.run(
      db.dialect === 'postgres'
        ? 'INSERT INTO campaign_files (sha256, body, stored_at) VALUES (?, ?, ?) ON CONFLICT (sha256) DO NOTHING'
        : 'INSERT OR IGNORE INTO campaign_files (sha256, body, stored_at) VALUES (?, ?, ?)',
      [sha, text, new Date().toISOString()],
    );
  return {
    async put(file) {
      const text = JSON.stringify(file);
      const sha = sha256Of(text);
      await insert(sha, text);
      return sha;
    },
    async putText(sha, text) {
      verified(checkedName(sha), text);
      await insert(sha, text);
    },
    get(sha) {
      try {
        checkedName(sha);
      } catch (err) {
        return Promise.reject(err as Error);
      }
      const known = cache.get(sha);
      if (known) {
        remember(sha, known);
        return known;
      }
      const loading = load(sha);
      remember(sha, loading);
      // A failed read is not remembered: the next one asks the database again.
      loading.catch(() => cache.get(sha) === loading && cache.delete(sha));
      return loading;
    },
  };
}

/**
 * Brings the files an earlier version kept in a directory (`<sha256>.json`, ROLLOUT_STORE_DIR) into the
 * database, so campaigns started before the upgrade keep running. Only files whose bytes match their name
 * and that validate are taken; returns how many were imported and the names refused. A missing directory
 * is nothing to import.
 */
export async function importCampaignDirectory(
  store: CampaignStore,
  dir: string,
): Promise<{ imported: number; refused: string[] }> {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => /^[a-f0-9]{64}\.json$/.test(n));
  } catch {
    return { imported: 0, refused: [] };
  }
  const refused: string[] = [];
  let imported = 0;
  for (const name of names) {
    const sha = name.slice(0, 64);
    try {
      // Verbatim: the running campaigns carry this checksum, not that of a re-serialised file.
      await store.putText(sha, readFileSync(join(dir, name), 'utf8'));
      imported++;
    } catch (err) {
      // A file that does not match or validate, or cannot be read, is left out; a database error is not.
      if (!(err instanceof RolloutError) && !(err as NodeJS.ErrnoException).code) throw err;
      refused.push(name);
    }
  }
  return { imported, refused };
}
