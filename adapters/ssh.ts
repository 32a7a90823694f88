/**
 * SSH to fleet hosts and controllers with node-ssh: key auth (key file with optional passphrase, or the
 * worker's SSH agent), host keys pinned by fingerprint or known_hosts, an optional jump host, connect
 * and command timeouts, keep-alive, and typed errors. Keys are read here from the worker's key store
 * and never leave this module.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { NodeSSH, type Config } from 'node-ssh';
import { RolloutError } from '../domain/errors.js';
import type { Platform } from '../domain/platform.js';
import { CredentialManifest, type CredentialKind } from '../domain/schema.js';
import { dialectFor, type HostDialect } from './dialects/index.js';
import { renderTemplate } from './dialects/dialect.js';
import { posixBatch, shellQuote, splitPosixBatch } from './dialects/posix.js';

export { shellQuote };

export interface SshTarget {
  /** For messages only, e.g. the host ID. */
  name: string;
  address: string;
  port: number;
  user: string;
  /** Pinned key fingerprint, "SHA256:..."; without it the key store's known_hosts must list the target. */
  hostKey?: string | undefined;
  credential: string;
  /** What the machine runs: its commands are rendered in that dialect (default posix). */
  platform?: Platform | undefined;
  /** A jump host (bastion) to connect through. */
  via?: SshTarget | undefined;
}

export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** How to authenticate with one credential: a private key (maybe with passphrase), or an SSH agent. */
export type SshAuth = { privateKey: string; passphrase?: string } | { agent: string };

/** The worker's secrets: SSH keys by credential name, other secrets (BMC passwords), known_hosts. */
export interface KeyStore {
  sshAuth(credential: string): Promise<SshAuth>;
  /**
   * A secret that is sent somewhere (`user:password` for a Redfish BMC), released only when the key
   * store declares the credential of this kind for this destination's origin. Throws
   * CredentialNotAllowed otherwise: an SSH key never leaves the worker, whatever a campaign file says.
   */
  secretFor(
    credential: string,
    kind: Exclude<CredentialKind, 'ssh-key'>,
    destination: string,
  ): Promise<string>;
  /** Entries of the worker's known_hosts file; empty when there is none. */
  knownHosts(): Promise<KnownHost[]>;
}

/** The credential name that means "the worker's SSH agent" (SSH_AUTH_SOCK). */
export const AGENT_CREDENTIAL = 'agent';

/**
 * Credentials are files in `dir`: `<credential>` (a private key; `<credential>.passphrase` beside it
 * when the key is encrypted), or a secret such as `user:password`, declared with its kind and
 * destinations in `credentials.json`. `known_hosts` there pins host keys for machines whose inventory
 * entry has no `hostKey`. The credential `agent` uses SSH_AUTH_SOCK.
 */
export function directoryKeyStore(dir: string, agentSocket?: string): KeyStore {
  const manifest = async (): Promise<CredentialManifest> => {
    const text = await readFile(`${dir}/credentials.json`, 'utf8').catch(() => undefined);
    if (text === undefined) return {};
    const parsed = CredentialManifest.safeParse(JSON.parse(text));
    if (!parsed.success)
      throw new RolloutError(
        'UnknownCredential',
        `credentials.json in the key directory is not valid: ${parsed.error.issues
          .map((i) => `${i.path.join('.')}: ${i.message}`)
          .join('; ')}`,
      );
    return parsed.data;
  };
  const read = async (credential: string): Promise<string> => {
    if (!/^[a-z0-9][a-z0-9._-]*$/.test(credential))
      throw new RolloutError('UnknownCredential', `invalid credential name ${credential}`);
    return readFile(`${dir}/${credential}`, 'utf8').catch(() => {
      throw new RolloutError(
        'UnknownCredential',
        `no secret for credential "${credential}" in the key directory`,
      );
    });
  };
  return {
    async sshAuth(credential) {
      const declared = (await manifest())[credential];
      if (declared && declared.kind !== 'ssh-key')
        throw new RolloutError(
          'CredentialNotAllowed',
          `credential "${credential}" is a ${declared.kind} secret, not an SSH key`,
        );
      if (credential === AGENT_CREDENTIAL) {
        const agent = agentSocket;
        if (!agent)
          throw new RolloutError(
            'UnknownCredential',
            'credential "agent" needs SSH_AUTH_SOCK set for the worker',
          );
        return { agent };
      }
      const privateKey = await read(credential);
      const passphrase = await readFile(`${dir}/${credential}.passphrase`, 'utf8').catch(() => undefined);
      return passphrase === undefined
        ? { privateKey }
        : { privateKey, passphrase: passphrase.replace(/\r?\n$/, '') };
    },
    async secretFor(credential, kind, destination) {
      const declared = (await manifest())[credential];
      let origin: string;
      try {
        origin = new URL(destination).origin;
      } catch {
        throw new RolloutError('CredentialNotAllowed', `"${destination}" is not a URL`);
      }
      if (!declared || declared.kind !== kind)
        throw new RolloutError(
          'CredentialNotAllowed',
          `credential "${credential}" is not declared as ${kind} in the key directory's credentials.json`,
        );
      if (!declared.destinations.some((d) => new URL(d).origin === origin))
        throw new RolloutError(
          'CredentialNotAllowed',
          `credential "${credential}" may not be sent to ${origin} (credentials.json lists where it may go)`,
        );
      return (await read(credential)).trim();
    },
    async knownHosts() {
      const text = await readFile(`${dir}/known_hosts`, 'utf8').catch(() => '');
      return parseKnownHosts(text);
    },
  };
}

export interface KnownHost {
  patterns: string[];
  /** The key blob, base64, as in the file. */
  key: string;
  revoked: boolean;
}

/** Parses an OpenSSH known_hosts file (plain, hashed `|1|salt|hash`, wildcard and negated patterns). */
export function parseKnownHosts(text: string): KnownHost[] {
  const entries: KnownHost[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const fields = line.split(/\s+/);
    let marker: string | undefined;
    if (fields[0]?.startsWith('@')) marker = fields.shift();
    if (marker === '@cert-authority') continue;
    const [hosts, , key] = fields;
    if (!hosts || !key) continue;
    entries.push({ patterns: hosts.split(','), key, revoked: marker === '@revoked' });
  }
  return entries;
}

function patternMatches(pattern: string, name: string): boolean {
  if (pattern.startsWith('|1|')) {
    const [, , salt, hash] = pattern.split('|');
    if (!salt || !hash) return false;
    return createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64') === hash;
  }
  const regex = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
  );
  return regex.test(name);
}

/** The entries that apply to a host: its name is `address`, or `[address]:port` off port 22. */
export function knownHostEntries(entries: KnownHost[], address: string, port: number): KnownHost[] {
  const name = port === 22 ? address : `[${address}]:${port}`;
  return entries.filter((entry) => {
    const negated = entry.patterns.filter((p) => p.startsWith('!')).map((p) => p.slice(1));
    if (negated.some((p) => patternMatches(p, name))) return false;
    return entry.patterns.filter((p) => !p.startsWith('!')).some((p) => patternMatches(p, name));
  });
}

/** Decides whether a presented key is the one pinned for `target`; the reason says why not. */
export function checkHostKey(
  target: SshTarget,
  rawKey: Buffer,
  known: KnownHost[],
): { ok: true } | { ok: false; reason: string } {
  const presented = fingerprintOf(rawKey);
  if (target.hostKey !== undefined)
    return presented === target.hostKey
      ? { ok: true }
      : { ok: false, reason: `presented host key ${presented}, pinned is ${target.hostKey}` };
  const entries = knownHostEntries(known, target.address, target.port);
  const blob = rawKey.toString('base64');
  if (entries.some((e) => e.revoked && e.key === blob))
    return { ok: false, reason: `presented host key ${presented}, which known_hosts marks revoked` };
  if (entries.some((e) => !e.revoked && e.key === blob)) return { ok: true };
  if (entries.length === 0)
    return {
      ok: false,
      reason: `presented host key ${presented}; no hostKey in the inventory and no known_hosts entry for ${target.address}`,
    };
  return { ok: false, reason: `presented host key ${presented}, which is not the key known_hosts lists` };
}

/** The OpenSSH fingerprint of a raw public key blob: "SHA256:" + unpadded base64. */
export function fingerprintOf(rawKey: Buffer): string {
  return `SHA256:${createHash('sha256').update(rawKey).digest('base64').replace(/=+$/, '')}`;
}

/** Replaces `{name}` placeholders with shell-quoted values; an unknown placeholder is an error. */
export function renderCommand(template: string, values: Record<string, string>): string {
  return renderTemplate(shellQuote, template, values);
}

export interface ConnectOptions {
  readyTimeoutMs?: number;
  signal?: AbortSignal;
}

/**
 * An open SSH session to one target. Always `close()` it (or use `withSsh`). Scripts are written in the
 * target's dialect (`session.dialect`) and sent as it wants them (a Windows host: PowerShell, encoded).
 */
export class SshSession {
  readonly dialect: HostDialect;
  private closed = false;

  private constructor(
    private readonly ssh: NodeSSH,
    readonly target: SshTarget,
    private readonly jump: SshSession | undefined,
  ) {
    this.dialect = dialectFor(target.platform);
  }

  /**
   * Connects with the credential's key or agent, refusing any host key that is not the pinned one
   * (HostKeyMismatch, with the presented fingerprint). Goes through `target.via` when set.
   */
  static async open(target: SshTarget, keys: KeyStore, options: ConnectOptions = {}): Promise<SshSession> {
    const auth = await keys.sshAuth(target.credential);
    const known = target.hostKey === undefined ? await keys.knownHosts() : [];
    const jump = target.via ? await SshSession.open(target.via, keys, options) : undefined;
    const ssh = new NodeSSH();
    let refusal: string | undefined;
    let presented: string | undefined;
    try {
      const config: Config = {
        username: target.user,
        readyTimeout: options.readyTimeoutMs ?? 10_000,
        keepaliveInterval: 5_000,
        keepaliveCountMax: 3,
        hostVerifier: (raw: Buffer) => {
          presented = fingerprintOf(raw);
          const verdict = checkHostKey(target, raw, known);
          if (!verdict.ok) refusal = verdict.reason;
          return verdict.ok;
        },
        ...('agent' in auth ? { agent: auth.agent } : auth),
      };
      if (jump) config.sock = await jump.forward(target.address, target.port);
      else config.host = target.address;
      if (!jump) config.port = target.port;
      await ssh.connect(config);
    } catch (err) {
      ssh.dispose();
      jump?.close();
      if (err instanceof RolloutError) throw err;
      const message = (err as Error).message ?? String(err);
      if (refusal !== undefined)
        throw new RolloutError('HostKeyMismatch', `${target.name} ${refusal}`, {
          presented,
          pinned: target.hostKey ?? 'known_hosts',
        });
      if (/parse privateKey|passphrase|encrypted/i.test(message))
        throw new RolloutError(
          'CredentialUnusable',
          `credential "${target.credential}" cannot be used for ${target.name}: ${message}`,
        );
      if (/authentication methods failed/i.test(message))
        throw new RolloutError('AuthenticationFailed', `${target.name} refused the key for ${target.user}`);
      const via = jump ? ` via ${jump.target.name}` : '';
      throw new RolloutError(
        'HostUnreachable',
        `cannot reach ${target.name} at ${target.address}:${target.port}${via}: ${message}`,
      );
    }
    // node-ssh stops listening for client errors once connected: a socket reset later (a host that
    // reboots or is powered off under an open session) would be an uncaught exception that kills the
    // worker. The command in flight sees the connection close and fails as ConnectionLost instead.
    ssh.connection?.on('error', () => undefined);
    // Small request-answer exchanges: without TCP_NODELAY each command waits ~40 ms on delayed ACKs
    // (measured on the lab: 45 ms for `true`, 14 ms with it).
    ssh.connection?.setNoDelay(true);
    const session = new SshSession(ssh, target, jump);
    options.signal?.addEventListener('abort', () => session.close(), { once: true });
    return session;
  }

  /** A TCP stream to `address:port` opened from this host (the jump-host hop). */
  private async forward(address: string, port: number): Promise<NonNullable<Config['sock']>> {
    try {
      return await this.ssh.forwardOut('127.0.0.1', 0, address, port);
    } catch (err) {
      throw new RolloutError(
        'HostUnreachable',
        `jump host ${this.target.name} cannot reach ${address}:${port}: ${(err as Error).message}`,
      );
    }
  }

  /**
   * Runs one script of the target's dialect. Resolves with its exit code; `code: null` means the
   * connection went away before the command ended (as it does when a host reboots). Throws
   * CommandTimeout past `timeoutMs`.
   */
  async run(command: string, timeoutMs: number, onOutput?: () => void): Promise<CommandResult> {
    const sent = this.dialect.wrap(command);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.close();
        reject(
          new RolloutError('CommandTimeout', `${this.target.name}: command ran longer than ${timeoutMs} ms`),
        );
      }, timeoutMs);
    });
    try {
      const result = await Promise.race([
        this.ssh.execCommand(sent.command, {
          onStdout: onOutput,
          onStderr: onOutput,
          ...(sent.stdin !== undefined ? { stdin: sent.stdin } : {}),
        }),
        timeout,
      ]);
      return {
        code: result.code,
        stdout: this.dialect.readStdout(result.stdout),
        stderr: this.dialect.readStderr(result.stderr),
      };
    } catch (err) {
      if (err instanceof RolloutError) throw err;
      throw new RolloutError('ConnectionLost', `${this.target.name}: ${(err as Error).message}`);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Runs a command that must exit 0; returns its trimmed stdout. */
  async check(command: string, timeoutMs: number, what: string): Promise<string> {
    return this.checked(await this.run(command, timeoutMs), what);
  }

  /**
   * Runs several scripts, each as `run` would, and returns each one's result in order. On a POSIX host
   * they go in one command (one channel and one shell instead of one each: about 50 ms saved a script
   * on the lab); on others one after the other. `timeoutMs` bounds them all. Every script runs, whatever
   * the one before it did.
   */
  async runAll(scripts: string[], timeoutMs: number): Promise<CommandResult[]> {
    const deadline = Date.now() + timeoutMs;
    const oneByOne = async () => {
      const results: CommandResult[] = [];
      for (const script of scripts) results.push(await this.run(script, Math.max(1, deadline - Date.now())));
      return results;
    };
    if (this.dialect.platform !== 'posix' || scripts.length < 2) return oneByOne();
    const boundary = randomBytes(12).toString('hex');
    const result = await this.run(posixBatch(scripts, boundary), timeoutMs);
    if (result.code === null) return scripts.map(() => ({ ...result, code: null }));
    // A host that could not run the batch (no temporary space: a full disk is what preflight must be
    // able to report) runs the scripts one by one.
    return splitPosixBatch(result.stdout, boundary, scripts.length) ?? oneByOne();
  }

  /** `check` for several scripts (`runAll`): each must exit 0; returns their trimmed outputs in order. */
  async checkAll(scripts: Array<{ script: string; what: string }>, timeoutMs: number): Promise<string[]> {
    const results = await this.runAll(
      scripts.map((s) => s.script),
      timeoutMs,
    );
    return results.map((result, i) => this.checked(result, scripts[i]!.what));
  }

  private checked(result: CommandResult, what: string): string {
    if (result.code === null)
      throw new RolloutError('ConnectionLost', `${this.target.name}: connection lost during ${what}`);
    if (result.code !== 0)
      throw new RolloutError(
        'CommandFailed',
        `${this.target.name}: ${what} exited ${result.code}: ${tail(result.stderr, 300)}`,
      );
    return result.stdout.trim();
  }

  /**
   * Copies a file over SFTP to `remotePath` (a path in the target's own form); `onProgress` is called as
   * chunks go out (heartbeats for large artifacts).
   */
  async upload(localPath: string, remotePath: string, onProgress?: () => void): Promise<void> {
    try {
      await this.ssh.putFile(
        localPath,
        this.dialect.sftpPath(remotePath),
        undefined,
        onProgress ? { step: () => onProgress() } : undefined,
      );
    } catch (err) {
      throw new RolloutError(
        'ConnectionLost',
        `${this.target.name}: upload failed: ${(err as Error).message}`,
      );
    }
  }

  /** Still connected (and so is its jump host): not closed, not dropped by the other side. */
  get alive(): boolean {
    return !this.closed && this.ssh.isConnected() && (this.jump?.alive ?? true);
  }

  close(): void {
    this.closed = true;
    this.ssh.dispose();
    this.jump?.close();
  }
}

export async function withSsh<T>(
  target: SshTarget,
  keys: KeyStore,
  fn: (session: SshSession) => Promise<T>,
  options: ConnectOptions = {},
): Promise<T> {
  const session = await SshSession.open(target, keys, options);
  try {
    return await fn(session);
  } finally {
    session.close();
  }
}

export function tail(text: string, chars: number): string {
  return text.length <= chars ? text : `…${text.slice(-chars)}`;
}

/** The SSH target of a host, controller or jump host record, resolving its jump host by ID. */
export function sshTarget(
  name: string,
  endpoint: {
    address: string;
    port: number;
    user: string;
    hostKey?: string | undefined;
    credential: string;
    platform?: Platform | undefined;
    jumpHost?: string | undefined;
  },
  jumpHosts: ReadonlyArray<{
    id: string;
    address: string;
    port: number;
    user: string;
    hostKey?: string | undefined;
    credential: string;
  }>,
): SshTarget {
  const { address, port, user, hostKey, credential, platform } = endpoint;
  let via: SshTarget | undefined;
  if (endpoint.jumpHost !== undefined) {
    const jump = jumpHosts.find((j) => j.id === endpoint.jumpHost);
    if (!jump) throw new RolloutError('HostUnreachable', `${name}: unknown jump host ${endpoint.jumpHost}`);
    via = sshTarget(`jump host ${jump.id}`, jump, []);
  }
  return { name, address, port, user, hostKey, credential, platform, via };
}
