/**
 * SSH to fleet hosts and controllers with node-ssh: key auth, pinned host keys, command timeouts and
 * typed errors. The private key is read here from the worker's key store and never leaves this module.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { NodeSSH } from 'node-ssh';
import { RolloutError } from '../domain/errors.js';

export interface SshTarget {
  /** For messages only, e.g. the host ID. */
  name: string;
  address: string;
  port: number;
  user: string;
  /** Pinned key fingerprint, "SHA256:..." */
  hostKey: string;
  credential: string;
}

export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Maps a credential name from the inventory to a private key on the worker's disk. */
export interface KeyStore {
  privateKey(credential: string): Promise<{ key: string; passphrase?: string }>;
}

/** Credentials are files `<dir>/<credential>` (and optional passphrase files `<credential>.passphrase`). */
export function directoryKeyStore(dir: string): KeyStore {
  return {
    async privateKey(credential) {
      if (!/^[a-z0-9][a-z0-9._-]*$/.test(credential))
        throw new RolloutError('UnknownCredential', `invalid credential name ${credential}`);
      const key = await readFile(`${dir}/${credential}`, 'utf8').catch(() => {
        throw new RolloutError(
          'UnknownCredential',
          `no SSH key for credential "${credential}" in the key directory`,
        );
      });
      const passphrase = await readFile(`${dir}/${credential}.passphrase`, 'utf8').catch(() => undefined);
      return passphrase === undefined ? { key } : { key, passphrase: passphrase.trim() };
    },
  };
}

/** The OpenSSH fingerprint of a raw public key blob: "SHA256:" + unpadded base64. */
export function fingerprintOf(rawKey: Buffer): string {
  return `SHA256:${createHash('sha256').update(rawKey).digest('base64').replace(/=+$/, '')}`;
}

/** Quotes one value for a POSIX shell, so host data never becomes shell syntax. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** Replaces `{name}` placeholders with shell-quoted values; an unknown placeholder is an error. */
export function renderCommand(template: string, values: Record<string, string>): string {
  return template.replace(/\{([a-zA-Z]+)\}/g, (_, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`unknown placeholder {${name}} in command template`);
    return shellQuote(value);
  });
}

export interface ConnectOptions {
  readyTimeoutMs?: number;
  signal?: AbortSignal;
}

/** An open SSH session to one target. Always `close()` it (or use `withSsh`). */
export class SshSession {
  private constructor(
    private readonly ssh: NodeSSH,
    readonly target: SshTarget,
  ) {}

  static async open(target: SshTarget, keys: KeyStore, options: ConnectOptions = {}): Promise<SshSession> {
    const { key, passphrase } = await keys.privateKey(target.credential);
    const ssh = new NodeSSH();
    let presented: string | undefined;
    try {
      await ssh.connect({
        host: target.address,
        port: target.port,
        username: target.user,
        privateKey: key,
        passphrase,
        readyTimeout: options.readyTimeoutMs ?? 10_000,
        keepaliveInterval: 5_000,
        keepaliveCountMax: 3,
        hostVerifier: (raw: Buffer) => {
          presented = fingerprintOf(raw);
          return presented === target.hostKey;
        },
      });
    } catch (err) {
      ssh.dispose();
      const message = (err as Error).message ?? String(err);
      if (presented !== undefined && presented !== target.hostKey)
        throw new RolloutError(
          'HostKeyMismatch',
          `${target.name} presented host key ${presented}, pinned is ${target.hostKey}`,
          {
            presented,
            pinned: target.hostKey,
          },
        );
      if (/authentication methods failed/i.test(message))
        throw new RolloutError('AuthenticationFailed', `${target.name} refused the key for ${target.user}`);
      throw new RolloutError(
        'HostUnreachable',
        `cannot reach ${target.name} at ${target.address}:${target.port}: ${message}`,
      );
    }
    const session = new SshSession(ssh, target);
    options.signal?.addEventListener('abort', () => session.close(), { once: true });
    return session;
  }

  /**
   * Runs one command. Resolves with its exit code; `code: null` means the connection went away before
   * the command ended (as it does when a host reboots). Throws CommandTimeout past `timeoutMs`.
   */
  async run(command: string, timeoutMs: number, onOutput?: () => void): Promise<CommandResult> {
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
        this.ssh.execCommand(command, { onStdout: onOutput, onStderr: onOutput }),
        timeout,
      ]);
      return { code: result.code, stdout: result.stdout, stderr: result.stderr };
    } catch (err) {
      if (err instanceof RolloutError) throw err;
      throw new RolloutError('ConnectionLost', `${this.target.name}: ${(err as Error).message}`);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Runs a command that must exit 0; returns its trimmed stdout. */
  async check(command: string, timeoutMs: number, what: string): Promise<string> {
    const result = await this.run(command, timeoutMs);
    if (result.code === null)
      throw new RolloutError('ConnectionLost', `${this.target.name}: connection lost during ${what}`);
    if (result.code !== 0)
      throw new RolloutError(
        'InstallFailed',
        `${this.target.name}: ${what} exited ${result.code}: ${tail(result.stderr, 300)}`,
      );
    return result.stdout.trim();
  }

  async upload(localPath: string, remotePath: string): Promise<void> {
    try {
      await this.ssh.putFile(localPath, remotePath);
    } catch (err) {
      throw new RolloutError(
        'ConnectionLost',
        `${this.target.name}: upload failed: ${(err as Error).message}`,
      );
    }
  }

  close(): void {
    this.ssh.dispose();
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
