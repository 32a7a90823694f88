/** Where the project keeps its git-ignored state: server database, lab, tools. */
import { fileURLToPath } from 'node:url';
import { basename, dirname, resolve } from 'node:path';

/** The project's root, whether this runs from the sources or from the compiled `.build/` copy. */
const here = resolve(fileURLToPath(new URL('..', import.meta.url)));
export const PROJECT_ROOT = basename(here) === '.build' ? dirname(here) : here;

/** Campaign state, lab hosts and the dev server's SQLite file; override with ROLLOUT_DATA_DIR. */
export function dataDir(): string {
  return resolve(process.env.ROLLOUT_DATA_DIR ?? `${PROJECT_ROOT}/.data`);
}

/** Installed server binaries and the bind shim. */
export const TOOLS_DIR = resolve(process.env.ROLLOUT_TOOLS_DIR ?? `${PROJECT_ROOT}/.tools`);
export const BIND_SHIM = `${TOOLS_DIR}/bindaddr.so`;

/** The campaign store (validated campaign files by SHA-256); shared by clients and workers. */
export function storeDir(): string {
  return resolve(process.env.ROLLOUT_STORE_DIR ?? `${dataDir()}/store`);
}

/**
 * The rollout store (users, audit log, ledger): PostgreSQL when ROLLOUT_DATABASE_URL is set, else the
 * SQLite file ROLLOUT_DB_FILE (default `<data dir>/rollout.sqlite`).
 */
export function storeLocation(): { databaseUrl?: string; sqliteFile: string } {
  const databaseUrl = process.env.ROLLOUT_DATABASE_URL || undefined;
  return {
    ...(databaseUrl ? { databaseUrl } : {}),
    sqliteFile: resolve(process.env.ROLLOUT_DB_FILE ?? `${dataDir()}/rollout.sqlite`),
  };
}
