/**
 * The embedded Temporal dev server (`temporal server start-dev`), bound to loopback and persisted to a
 * SQLite file so a restart keeps running campaigns.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync } from 'node:fs';
import { createServer, createConnection } from 'node:net';
import { dirname } from 'node:path';
import { requireBinary } from './temporal-binaries.js';

export interface DevServerOptions {
  port: number;
  dbFile: string;
  logFile: string;
  ip?: string;
  /** Extra `--dynamic-config-value KEY=JSON` pairs, e.g. a low continue-as-new threshold for tests. */
  dynamicConfig?: Record<string, unknown>;
}

export interface DevServer {
  address: string;
  /** The server's process (its CPU time is a benchmark figure). */
  pid: number | undefined;
  stop(): Promise<void>;
}

/** A free TCP port on loopback, chosen by the kernel. */
export function freePort(ip = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, ip, () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

/** Resolves once `host:port` accepts a connection; rejects after `timeoutMs`, or at once when `signal` aborts. */
export function waitForTcp(
  host: string,
  port: number,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      if (signal?.aborted) return reject(new Error(`stopped waiting for ${host}:${port}`));
      const socket = createConnection({ host, port });
      socket.once('connect', () => {
        socket.destroy();
        resolve();
      });
      socket.once('error', () => {
        socket.destroy();
        if (Date.now() > deadline)
          reject(new Error(`nothing listens on ${host}:${port} after ${timeoutMs} ms`));
        else setTimeout(attempt, 100);
      });
    };
    attempt();
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(killer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** The port a server was asked to use is taken or cannot be bound: the user's to fix, not a bug. */
export class PortUnavailable extends Error {
  override name = 'PortUnavailable';
}

/** Resolves when nothing listens on `ip:port` (we could bind it); rejects naming the port otherwise. */
export function assertPortFree(ip: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new PortUnavailable(
          err.code === 'EADDRINUSE'
            ? `port ${port} on ${ip} is already taken (another Temporal server?); stop it or choose another --port`
            : `cannot listen on ${ip}:${port}: ${err.message}`,
        ),
      ),
    );
    server.listen(port, ip, () => server.close(() => resolve()));
  });
}

/**
 * The command that runs `binary` so that it dies with this process: `setpriv --pdeathsig KILL` (Linux
 * util-linux) makes the kernel kill the server when its parent goes, even by SIGKILL, so no orphaned
 * Temporal process keeps the port and the database. setpriv execs the binary (same PID).
 */
function tiedToParent(binary: string, args: string[]): [string, string[]] {
  return existsSync(SETPRIV) ? [SETPRIV, ['--pdeathsig', 'KILL', '--', binary, ...args]] : [binary, args];
}
const SETPRIV = '/usr/bin/setpriv';

/**
 * Starts the dev server and waits for its port. Refuses a port that is already taken (it would
 * otherwise "start" by finding someone else's server), and ties the server's life to this process.
 */
export async function startDevServer(options: DevServerOptions): Promise<DevServer> {
  const ip = options.ip ?? '127.0.0.1';
  const binary = requireBinary('cli');
  await assertPortFree(ip, options.port);
  mkdirSync(dirname(options.dbFile), { recursive: true });
  mkdirSync(dirname(options.logFile), { recursive: true });
  const dynamic = {
    'frontend.enableUpdateWorkflowExecution': true,
    'frontend.enableUpdateWorkflowExecutionAsyncAccepted': true,
    ...options.dynamicConfig,
  };
  const args = [
    'server',
    'start-dev',
    '--ip',
    ip,
    '--port',
    String(options.port),
    '--http-port',
    String(await freePort(ip)),
    '--metrics-port',
    String(await freePort(ip)),
    '--headless',
    '--db-filename',
    options.dbFile,
    '--log-level',
    'warn',
    ...Object.entries(dynamic).flatMap(([key, value]) => [
      '--dynamic-config-value',
      `${key}=${JSON.stringify(value)}`,
    ]),
  ];
  const log = openSync(options.logFile, 'a', 0o600);
  const [command, argv] = tiedToParent(binary, args);
  // Temporal's database holds every campaign's history: the files it creates are the owner's only.
  const umask = process.umask(0o077);
  let child: ChildProcess;
  try {
    child = spawn(command, argv, { stdio: ['ignore', log, log] });
  } finally {
    process.umask(umask);
  }
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code) =>
      reject(
        new Error(`the Temporal dev server exited (code ${code}) during start-up; see ${options.logFile}`),
      ),
    ),
  );
  try {
    await Promise.race([waitForTcp(ip, options.port, 30_000), exited]);
  } catch (err) {
    await stopChild(child);
    throw err;
  }
  exited.catch(() => undefined);
  return { address: `${ip}:${options.port}`, pid: child.pid, stop: () => stopChild(child) };
}
