/** A rollout store on a fresh SQLite file for one test file; `cleanup` closes it and deletes the file. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openRolloutStore, type RolloutStore } from '../../adapters/rollout-store.js';

export async function tempRolloutStore(): Promise<{
  store: RolloutStore;
  file: string;
  cleanup(): Promise<void>;
}> {
  const dir = mkdtempSync(join(tmpdir(), 'rollout-db-'));
  const file = join(dir, 'rollout.sqlite');
  const store = await openRolloutStore({ sqliteFile: file });
  return {
    store,
    file,
    async cleanup() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
