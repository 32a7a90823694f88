/**
 * VMware's vSphere API simulator (vcsim, from govmomi, built by `npm run setup`) on a loopback address,
 * with its own self-signed certificate and login, and a key directory whose `vcenter` credential is
 * allowed for it. Every test that starts one stops it.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { GOVMOMI_DIR } from '../../runtime/setup.js';
import { settings } from '../../runtime/config.js';

export const GOVC = `${GOVMOMI_DIR}/govc`;
const VCSIM = `${GOVMOMI_DIR}/vcsim`;

export interface Vcsim {
  /** https://ADDRESS:PORT/sdk, without credentials. */
  url: string;
  user: string;
  password: string;
  /** The PEM certificate vcsim serves (its own CA). */
  caFile: string;
  /** A key directory: `vcenter` holds user:password, declared for this URL in credentials.json. */
  keyDir: string;
  /** Runs govc against the simulator (for assertions); returns stdout. */
  govc(...args: string[]): string;
  stop(): Promise<void>;
}

export async function startVcsim(address = '127.0.64.1'): Promise<Vcsim> {
  const dir = mkdtempSync(`${tmpdir()}/rollout-vcsim-`);
  const user = 'rollout-svc';
  const password = `pw-${Math.random().toString(36).slice(2)}!`;
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      `${dir}/key.pem`,
      '-out',
      `${dir}/cert.pem`,
      '-days',
      '1',
      '-subj',
      '/CN=vcsim',
      '-addext',
      `subjectAltName=IP:${address}`,
    ],
    { stdio: 'ignore' },
  );
  const child: ChildProcess = spawn(
    VCSIM,
    [
      '-l',
      `${address}:0`,
      '-username',
      user,
      '-password',
      password,
      '-tlscert',
      `${dir}/cert.pem`,
      '-tlskey',
      `${dir}/key.pem`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  // Both pipes are read for the simulator's whole life (a full pipe would stall it); the stderr tail
  // is kept for the error a failed start reports.
  let stderrTail = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderrTail = (stderrTail + chunk.toString()).slice(-2000);
  });
  const url = await new Promise<string>((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`vcsim did not start: ${seen} ${stderrTail}`)), 20_000);
    child.once('error', reject);
    child.stdout!.on('data', (chunk: Buffer) => {
      seen = (seen + chunk.toString()).slice(-4000);
      const match = /GOVC_URL=https:\/\/[^@\s]*@([^/\s]+)\/sdk/.exec(seen);
      if (match) {
        clearTimeout(timer);
        resolve(`https://${match[1]}/sdk`);
      }
    });
    child.once('exit', (code) => reject(new Error(`vcsim exited ${code}: ${seen} ${stderrTail}`)));
  });
  const keyDir = `${dir}/keys`;
  execFileSync('mkdir', ['-p', keyDir]);
  writeFileSync(`${keyDir}/vcenter`, `${user}:${password}\n`, { mode: 0o600 });
  writeFileSync(
    `${keyDir}/credentials.json`,
    JSON.stringify({ vcenter: { kind: 'vsphere', destinations: [new URL(url).origin] } }),
  );
  return {
    url,
    user,
    password,
    caFile: `${dir}/cert.pem`,
    keyDir,
    govc: (...args) =>
      execFileSync(GOVC, args, {
        env: {
          PATH: settings().searchPath.join(':'),
          GOVC_URL: url,
          GOVC_USERNAME: user,
          GOVC_PASSWORD: password,
          GOVC_TLS_CA_CERTS: `${dir}/cert.pem`,
          GOVC_PERSIST_SESSION: 'false',
        },
        encoding: 'utf8',
      }),
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(killer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
