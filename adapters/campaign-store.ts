/**
 * Content-addressed store of validated campaign files. The client puts a file and starts the campaign
 * with its SHA-256; workers read it back by that checksum, so workflow inputs and histories carry a
 * reference instead of an inventory. Every worker of a deployment must see the same directory
 * (a shared volume); a file whose bytes do not match its name is refused, never used.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RolloutError } from '../domain/errors.js';
import { CampaignFile } from '../domain/schema.js';

export interface CampaignStore {
  /** Stores the validated file; returns its SHA-256 (the reference workflows carry). Idempotent. */
  put(file: CampaignFile): string;
  /** Reads and re-validates a file. Throws CampaignFileMissing or CampaignFileCorrupt. */
  get(sha256: string): CampaignFile;
  readonly dir: string;
}

const sha256Of = (text: string) => createHash('sha256').update(text).digest('hex');

export function fileCampaignStore(dir: string, cacheSize = 8): CampaignStore {
  const cache = new Map<string, CampaignFile>();
  const pathOf = (sha: string) => {
    if (!/^[a-f0-9]{64}$/.test(sha))
      throw new RolloutError('CampaignFileMissing', `"${sha}" is not a checksum`);
    return join(dir, `${sha}.json`);
  };
  return {
    dir,
    put(file) {
      const text = JSON.stringify(file);
      const sha = sha256Of(text);
      mkdirSync(dir, { recursive: true });
      const tmp = `${pathOf(sha)}.${process.pid}.tmp`;
      writeFileSync(tmp, text, { mode: 0o640 });
      renameSync(tmp, pathOf(sha));
      return sha;
    },
    get(sha) {
      const cached = cache.get(sha);
      if (cached) return cached;
      let text: string;
      try {
        text = readFileSync(pathOf(sha), 'utf8');
      } catch {
        throw new RolloutError('CampaignFileMissing', `no campaign file ${sha} in ${dir}`);
      }
      if (sha256Of(text) !== sha)
        throw new RolloutError(
          'CampaignFileCorrupt',
          `campaign file ${sha} in ${dir} does not match its checksum`,
        );
      const parsed = CampaignFile.safeParse(JSON.parse(text));
      if (!parsed.success)
        throw new RolloutError(
          'CampaignFileCorrupt',
          `campaign file ${sha} no longer validates: ${parsed.error.message}`,
        );
      cache.set(sha, parsed.data);
      if (cache.size > cacheSize) cache.delete(cache.keys().next().value as string);
      return parsed.data;
    },
  };
}
