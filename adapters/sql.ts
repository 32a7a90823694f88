/**
 * One small SQL surface over the two databases the store runs on: SQLite (better-sqlite3, a file on the
 * orchestrator) and PostgreSQL (pg). Statements use `?` placeholders; the PostgreSQL side numbers them.
 * `exclusive` runs a function in a transaction that no other writer of the same store can interleave with
 * (SQLite: BEGIN IMMEDIATE plus an in-process queue; PostgreSQL: a transaction-scoped advisory lock).
 */
import { chmodSync, closeSync, existsSync, openSync } from 'node:fs';
import Database from 'better-sqlite3';
import pg from 'pg';

export type Row = Record<string, unknown>;

export interface Queryable {
  all(sql: string, params?: unknown[]): Promise<Row[]>;
  run(sql: string, params?: unknown[]): Promise<void>;
}

export interface SqlDatabase extends Queryable {
  readonly dialect: 'sqlite' | 'postgres';
  exclusive<T>(lock: string, fn: (tx: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** Runs promises one after another: a better-sqlite3 connection has one transaction at a time. */
function serialQueue() {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(fn: () => Promise<T>): Promise<T> => {
    const next = tail.then(fn, fn);
    tail = next.catch(() => undefined);
    return next;
  };
}

/**
 * The store holds token hashes, public keys and the audit log: the file and its journal are for the
 * owner only (0600), whatever the umask says.
 */
export function openSqlite(file: string): SqlDatabase {
  if (!existsSync(file)) closeSync(openSync(file, 'a', 0o600));
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  for (const f of [file, `${file}-wal`, `${file}-shm`]) if (existsSync(f)) chmodSync(f, 0o600);
  db.pragma('busy_timeout = 10000');
  db.pragma('foreign_keys = ON');
  const raw: Queryable = {
    all: async (sql, params = []) => db.prepare(sql).all(...(params as unknown[])) as Row[],
    run: async (sql, params = []) => {
      if (params.length === 0 && !sql.includes('?')) db.exec(sql);
      else db.prepare(sql).run(...(params as unknown[]));
    },
  };
  const queue = serialQueue();
  return {
    dialect: 'sqlite',
    all: (sql, params) => queue(() => raw.all(sql, params)),
    run: (sql, params) => queue(() => raw.run(sql, params)),
    exclusive: (_lock, fn) =>
      queue(async () => {
        db.exec('BEGIN IMMEDIATE');
        try {
          const result = await fn(raw);
          db.exec('COMMIT');
          return result;
        } catch (err) {
          db.exec('ROLLBACK');
          throw err;
        }
      }),
    close: async () => {
      await queue(async () => db.close());
    },
  };
}

const numbered = (sql: string) => {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
};

/** Stable 32-bit key for pg_advisory_xact_lock from a lock name. */
function lockKey(name: string): number {
  let h = 0;
  for (const c of name) h = (Math.imul(h, 31) + c.charCodeAt(0)) | 0;
  return h;
}

export function openPostgres(url: string): SqlDatabase {
  const pool = new pg.Pool({ connectionString: url, max: 5, connectionTimeoutMillis: 10_000 });
  // An idle client losing its server must not crash the process; the next query reports the problem.
  pool.on('error', () => undefined);
  const on = (client: pg.Pool | pg.PoolClient): Queryable => ({
    all: async (sql, params = []) => (await client.query(numbered(sql), params)).rows as Row[],
    run: async (sql, params = []) => {
      await client.query(numbered(sql), params);
    },
  });
  return {
    dialect: 'postgres',
    ...on(pool),
    exclusive: async (lock, fn) => {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        await client.query('SELECT pg_advisory_xact_lock($1)', [lockKey(lock)]);
        const result = await fn(on(client));
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      } finally {
        client.release();
      }
    },
    close: () => pool.end(),
  };
}
