/**
 * How a worker gets an SSH session: `directSsh` opens one per use (tests, benches, one-off commands);
 * `sshPool` keeps a healthy session to each target open between uses, so the steps of one host (and
 * every host's image and power commands on its controller) stop paying a handshake each: an upload
 * on an open connection took 60 ms against 260 ms with its own, an install 50 against 250.
 *
 * What keeps reuse safe:
 * - Every new connection is checked against the pinned host key (SshSession.open); a reused one was
 *   checked when it was opened, to the same target (the key includes the pin and the credential).
 * - A session that any use failed on is closed, never handed out again, whatever the error: a command
 *   that timed out, a connection that dropped, a check that exited non-zero.
 * - A session that closed while idle (keep-alive lost, the host went away) is dropped when next taken.
 * - A host that reboots, is power-cycled or restored has its idle sessions evicted by the step that
 *   does it (`evict`), so no command is sent down a connection to a machine that is gone.
 * - Idle sessions close after `idleMs`; none lives longer than `maxAgeMs`, so a rotated key or a
 *   changed known_hosts file is picked up within that time.
 * One pool per worker process: a host's activities mostly land on the same worker, and a miss only
 * opens a new connection.
 */
import { SshSession, withSsh, type ConnectOptions, type KeyStore, type SshTarget } from './ssh.js';

export interface SshConnector {
  /** Runs `fn` on a session to `target`; the session is the connector's to close or keep. */
  use<T>(target: SshTarget, fn: (session: SshSession) => Promise<T>, options?: PooledUse): Promise<T>;
  /**
   * Closes every idle session to `target` (it rebooted, was powered off or restored); one in use now is
   * closed when that use ends.
   */
  evict(target: SshTarget): void;
}

/** One session per use, closed after it: the behaviour without a pool. */
export function directSsh(keys: KeyStore): SshConnector {
  return {
    use: (target, fn, options = {}) => {
      const { fresh: _fresh, ...connect } = options;
      return withSsh(target, keys, fn, connect);
    },
    evict() {},
  };
}

export interface SshPoolOptions {
  /** An idle session is closed after this long unused (default 30 s). */
  idleMs?: number;
  /** No session is handed out once it is this old (default 5 minutes). */
  maxAgeMs?: number;
  /** Idle sessions kept per target (default 4): concurrent uses each get their own. */
  maxIdlePerTarget?: number;
  /** Idle sessions kept in all (default 1024). */
  maxIdle?: number;
}

export interface SshPoolStats {
  opened: number;
  reused: number;
  /** Sessions closed because a use failed on them. */
  discarded: number;
  idle: number;
}

export interface SshPool extends SshConnector {
  stats(): SshPoolStats;
  /** Closes every idle session; later uses open new ones. */
  close(): void;
}

interface Entry {
  session: SshSession;
  openedAt: number;
  /** The target's eviction count when the session was opened: an older one is never kept. */
  generation: number;
  timer?: NodeJS.Timeout;
}

export interface PooledUse extends ConnectOptions {
  /**
   * A new connection, not an idle one (it may be kept afterwards): for a step whose point is that a
   * login works now, like the health checks after an install.
   */
  fresh?: boolean;
}

/** Everything that makes two targets the same connection: the name too, so messages stay right. */
export function poolKey(target: SshTarget): string {
  const { name, address, port, user, hostKey, credential, platform, via } = target;
  return JSON.stringify([
    name,
    address,
    port,
    user,
    hostKey ?? '',
    credential,
    platform ?? '',
    via ? poolKey(via) : '',
  ]);
}

export function sshPool(keys: KeyStore, options: SshPoolOptions = {}): SshPool {
  const idleMs = options.idleMs ?? 30_000;
  const maxAgeMs = options.maxAgeMs ?? 300_000;
  const maxIdlePerTarget = options.maxIdlePerTarget ?? 4;
  const maxIdle = options.maxIdle ?? 1024;
  const idle = new Map<string, Entry[]>();
  const generations = new Map<string, number>();
  const generationOf = (key: string) => generations.get(key) ?? 0;
  const counts = { opened: 0, reused: 0, discarded: 0, idle: 0 };

  const drop = (key: string, entry: Entry) => {
    const list = idle.get(key);
    const at = list?.indexOf(entry) ?? -1;
    if (list && at >= 0) {
      list.splice(at, 1);
      counts.idle -= 1;
      if (list.length === 0) idle.delete(key);
    }
    clearTimeout(entry.timer);
    entry.session.close();
  };

  const take = (key: string): Entry | undefined => {
    const list = idle.get(key);
    while (list && list.length > 0) {
      const entry = list.pop()!;
      counts.idle -= 1;
      clearTimeout(entry.timer);
      if (entry.session.alive && Date.now() - entry.openedAt < maxAgeMs) {
        if (list.length === 0) idle.delete(key);
        return entry;
      }
      entry.session.close();
    }
    idle.delete(key);
    return undefined;
  };

  const keep = (key: string, entry: Entry) => {
    const list = idle.get(key) ?? [];
    const young = Date.now() - entry.openedAt < maxAgeMs;
    const current = entry.generation === generationOf(key);
    if (
      !entry.session.alive ||
      !young ||
      !current ||
      list.length >= maxIdlePerTarget ||
      counts.idle >= maxIdle
    ) {
      entry.session.close();
      return;
    }
    entry.timer = setTimeout(() => drop(key, entry), idleMs);
    entry.timer.unref();
    list.push(entry);
    idle.set(key, list);
    counts.idle += 1;
  };

  return {
    async use(target, fn, connect = {}) {
      const key = poolKey(target);
      let entry = connect.fresh ? undefined : take(key);
      if (entry) counts.reused += 1;
      else {
        const { signal: _signal, fresh: _fresh, ...opening } = connect;
        const generation = generationOf(key);
        entry = { session: await SshSession.open(target, keys, opening), openedAt: Date.now(), generation };
        counts.opened += 1;
      }
      const { session } = entry;
      const signal = connect.signal;
      const onAbort = () => session.close();
      if (signal?.aborted) session.close();
      signal?.addEventListener('abort', onAbort, { once: true });
      let succeeded = false;
      try {
        const result = await fn(session);
        succeeded = true;
        return result;
      } finally {
        signal?.removeEventListener('abort', onAbort);
        if (succeeded && !signal?.aborted) keep(key, entry);
        else {
          counts.discarded += 1;
          session.close();
        }
      }
    },
    evict(target) {
      const key = poolKey(target);
      generations.set(key, generationOf(key) + 1);
      for (const entry of [...(idle.get(key) ?? [])]) drop(key, entry);
    },
    stats: () => ({ ...counts }),
    close() {
      for (const [key, list] of [...idle]) for (const entry of [...list]) drop(key, entry);
    },
  };
}
