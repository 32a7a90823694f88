/**
 * A private PostgreSQL server from Debian's packages (installed by setup): a fresh cluster in a temp
 * directory owned by the `postgres` user (the server refuses to run as root), listening on one loopback
 * address, trust authentication for loopback only, superuser `rollout`. For the tests and the local
 * Temporal cluster (`rollout cluster`); `stop()` shuts it down and deletes the cluster.
 */
import { execFileSync, spawn } from 'node:child_process';
import { appendFileSync, chownSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface LocalPostgres {
  /** `postgres://rollout@host:port/rollout` (a database `rollout` is created). */
  url: string;
  host: string;
  port: number;
  /** The superuser (trust authentication on loopback). */
  user: string;
  /** The postmaster (its backends are its children). */
  pid: number | undefined;
  stop(): Promise<void>;
}

function postgresBin(name: string): string {
  const versions = readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a));
  if (!versions[0]) throw new Error('PostgreSQL server not installed: run `npm run setup`');
  return `/usr/lib/postgresql/${versions[0]}/bin/${name}`;
}

function postgresIds(): { uid: number; gid: number } {
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  return { uid, gid };
}

/** setpriv execs the command as `postgres` (no extra process in between, so signals reach the server). */
const asPostgres = (command: string, args: string[]) => [
  '--reuid=postgres',
  '--regid=postgres',
  '--init-groups',
  '--',
  command,
  ...args,
];

/**
 * `trustedNetworks`: further client networks (CIDR) allowed in without a password, for clients a test
 * puts in network namespaces of its own (their connections come from the veth's address, not loopback).
 */
export async function startPostgres(
  host: string,
  port: number,
  maxConnections = 50,
  trustedNetworks: string[] = [],
): Promise<LocalPostgres> {
  const dir = mkdtempSync(join(tmpdir(), 'rollout-pg-'));
  const { uid, gid } = postgresIds();
  chownSync(dir, uid, gid);
  const data = join(dir, 'data');
  execFileSync(
    'setpriv',
    asPostgres(postgresBin('initdb'), [
      '-D',
      data,
      '-U',
      'rollout',
      '--auth=trust',
      '-E',
      'UTF8',
      '--no-sync',
    ]),
    { stdio: 'ignore', cwd: dir },
  );
  if (trustedNetworks.length)
    appendFileSync(
      join(data, 'pg_hba.conf'),
      trustedNetworks.map((cidr) => `host all all ${cidr} trust\n`).join(''),
    );
  const server = spawn(
    'setpriv',
    asPostgres(postgresBin('postgres'), [
      '-D',
      data,
      '-h',
      host,
      '-p',
      String(port),
      '-k',
      dir,
      '-c',
      'fsync=off',
      '-c',
      `max_connections=${maxConnections}`,
    ]),
    { stdio: ['ignore', 'ignore', 'pipe'], cwd: dir },
  );
  let log = '';
  server.stderr.on('data', (b: Buffer) => (log += b.toString()));
  const deadline = Date.now() + 30_000;
  for (;;) {
    const ready = execFileSyncStatus(postgresBin('pg_isready'), ['-h', host, '-p', String(port)]);
    if (ready) break;
    if (server.exitCode !== null || Date.now() > deadline) {
      server.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`PostgreSQL did not start: ${log.slice(-500)}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  execFileSync(postgresBin('createdb'), ['-h', host, '-p', String(port), '-U', 'rollout', 'rollout']);
  return {
    url: `postgres://rollout@${host}:${port}/rollout`,
    host,
    port,
    user: 'rollout',
    pid: server.pid,
    async stop() {
      // SIGINT is PostgreSQL's "fast" shutdown.
      const exited = new Promise<void>((r) => server.once('exit', () => r()));
      if (server.exitCode === null) server.kill('SIGINT');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (server.exitCode === null) server.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function execFileSyncStatus(command: string, args: string[]): boolean {
  try {
    execFileSync(command, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
