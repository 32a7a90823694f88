/**
 * A machine of its own for a worker, as far as one Linux host can make one: a network namespace joined
 * to this machine by a veth pair, reaching only the loopback networks it is given (the cluster, the lab)
 * through it, and a mount namespace in which the named directories (the cluster's, the lab's, the other
 * worker's) are covered by an empty tmpfs, so the process shares no directory with them. Its own UTS
 * namespace names it (`worker-a`), so Temporal's default identity `pid@hostname` tells the workers apart.
 *
 * Loopback addresses are routed over the veth with `route_localnet` on both ends; inside the namespace
 * only 127.0.0.1 stays local, so 127.0.70.x and the lab's 127.0.7x.x go to this machine. The namespace,
 * its veth pair and its processes are removed by `remove()`.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { openSync } from 'node:fs';

export interface Namespace {
  name: string;
  /** This machine's end of the veth: clients inside come from `address`. */
  hostAddress: string;
  address: string;
  /** The /30 both ends share (e.g. for a server's trust list). */
  network: string;
  /**
   * Runs `command` inside, as a machine named `hostname`, with `hide` covered by an empty tmpfs; stdout and
   * stderr go to `logFile`. The process is the command itself (each wrapper execs), so its PID is the
   * one to kill.
   */
  run(
    command: string[],
    options: { hostname: string; hide: string[]; env: NodeJS.ProcessEnv; logFile: string },
  ): ChildProcess;
  remove(): void;
}

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });
const inside = (name: string, ...args: string[]) => ip('netns', 'exec', name, ...args);

/**
 * The /30 for namespace `index` of this process, inside 10.231.0.0/16, the third octet from the PID.
 * The suite runs one file at a time; two processes making namespaces at once would share addresses only
 * if their PIDs are equal modulo 256.
 */
export function namespaceNetwork(index: number): { network: string; host: string; peer: string } {
  const third = process.pid % 256;
  const base = 4 * index;
  return {
    network: `10.231.${third}.${base}/30`,
    host: `10.231.${third}.${base + 1}`,
    peer: `10.231.${third}.${base + 2}`,
  };
}

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export function createNamespace(index: number, reach: string[]): Namespace {
  if (index < 1 || index > 60) throw new Error('namespace index must be 1 to 60');
  const tag = `${process.pid % 100000}x${index}`;
  const name = `rollout-${tag}`;
  const hostEnd = `rvh${tag}`;
  const peerEnd = `rvp${tag}`;
  const { network, host, peer } = namespaceNetwork(index);
  const children: ChildProcess[] = [];
  ip('netns', 'add', name);
  try {
    ip('link', 'add', hostEnd, 'type', 'veth', 'peer', 'name', peerEnd, 'netns', name);
    ip('addr', 'add', `${host}/30`, 'dev', hostEnd);
    ip('link', 'set', hostEnd, 'up');
    execFileSync('sysctl', ['-qw', `net.ipv4.conf.${hostEnd}.route_localnet=1`]);
    inside(name, 'ip', 'link', 'set', 'lo', 'up');
    inside(name, 'ip', 'addr', 'add', `${peer}/30`, 'dev', peerEnd);
    inside(name, 'ip', 'link', 'set', peerEnd, 'up');
    inside(name, 'sysctl', '-qw', `net.ipv4.conf.${peerEnd}.route_localnet=1`);
    // Only 127.0.0.1 is this namespace's own; the rest of 127/8 is routed to this machine as given.
    inside(name, 'ip', 'route', 'del', 'local', '127.0.0.0/8', 'dev', 'lo', 'table', 'local');
    for (const cidr of reach) inside(name, 'ip', 'route', 'add', cidr, 'via', host, 'dev', peerEnd);
  } catch (err) {
    ip('netns', 'del', name);
    throw err;
  }
  return {
    name,
    hostAddress: host,
    address: peer,
    network,
    run(command, { hostname, hide, env, logFile }) {
      const covers = hide.map((d) => `mount -t tmpfs -o size=1m,mode=0700 none ${quote(d)}`).join(' && ');
      const script = `hostname ${quote(hostname)} && ${covers || 'true'} && exec "$@"`;
      const log = openSync(logFile, 'a');
      const child = spawn(
        'ip',
        [
          'netns',
          'exec',
          name,
          'unshare',
          '--mount',
          '--uts',
          '--propagation',
          'private',
          '--',
          'sh',
          '-c',
          script,
          'sh',
          ...command,
        ],
        { env, stdio: ['ignore', log, log] },
      );
      children.push(child);
      return child;
    },
    remove() {
      for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
      try {
        ip('netns', 'del', name);
      } catch {
        // Already gone.
      }
    },
  };
}
