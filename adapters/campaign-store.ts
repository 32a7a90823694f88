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
   * Returns whether it was new to the store.
   */
  putText(sha256: string, text: string): Promise<boolean>;
  /** Whether the store holds a file under this checksum (not read or checked). */
  has(sha256: string): Promise<boolean>;
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
  // Both databases return the row only when it was inserted.
  const insert = async (sha: string, text: string) =>
    (
      await db.all(
        'INSERT INTO campaign_files (sha256, body, stored_at) VALUES (?, ?, ?) ON CONFLICT (sha256) DO NOTHING RETURNING sha256',
        [sha, text, new Date().toISOString()],
      )
    ).length > 0;
  return {
    async put(file) {
      const text = JSON.stringify(file);
      const sha = sha256Of(text);
      await insert(sha, text);
      return sha;
    },
    async has(sha) {
      return (await db.all('SELECT 1 FROM campaign_files WHERE sha256 = ?', [sha])).length > 0;
    },
    async putText(sha, text) {
      verified(checkedName(sha), text);
      return insert(sha, text);
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

/** The directory of an earlier version's campaign files exists but cannot be listed: a setting to fix. */
export class StoreDirectoryUnreadable extends Error {
  override name = 'StoreDirectoryUnreadable';
}

export interface DirectoryImport {
  /** Files new to the database (a second import of the same directory imports none). */
  imported: number;
  /** Files left out: unreadable, not matching their name, or no longer valid. */
  refused: string[];
}

/**
 * Brings the files an earlier version kept in a directory (`<sha256>.json`, ROLLOUT_STORE_DIR) into the
 * database, so campaigns started before the upgrade keep running. Only files whose bytes match their name
 * and that validate are taken. A directory that does not exist is nothing to import; one that cannot be
 * read, or a database that refuses the write, fails the import (and the process that opens the store).
 */
export async function importCampaignDirectory(store: CampaignStore, dir: string): Promise<DirectoryImport> {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => /^[a-f0-9]{64}\.json$/.test(n));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { imported: 0, refused: [] };
    throw new StoreDirectoryUnreadable(
      `ROLLOUT_STORE_DIR: cannot read ${dir}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`,
    );
  }
  const refused: string[] = [];
  let imported = 0;
  for (const name of names) {
    // Opened by every CLI command: a file already imported is not read and hashed again.
    if (await store.has(name.slice(0, 64))) continue;
    let text: string;
    try {
      text = readFileSync(join(dir, name), 'utf8');
    } catch {
      refused.push(name);
      continue;
    }
    try {
      // Verbatim: the running campaigns carry this checksum, not that of a re-serialised file.
      if (await store.putText(name.slice(0, 64), text)) imported++;
    } catch (err) {
      // A file that does not match or validate is left out; a database error is not.
      if (!(err instanceof RolloutError)) throw err;
      refused.push(name);
    }
  }
  return { imported, refused };
}
