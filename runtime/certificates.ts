/**
 * A private certificate authority made with openssl, for the local Temporal cluster and its tests: a CA,
 * a server certificate for the cluster (its loopback address and name), and one client certificate per
 * identity (worker, API, CLI). ECDSA P-256; keys 0600 in the directory given. Production uses the
 * hospital's own PKI; the file names are what TEMPORAL_TLS_* point at.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';

export interface CertificatePair {
  certFile: string;
  keyFile: string;
}

const openssl = (args: string[], cwd: string) => execFileSync('openssl', args, { cwd, stdio: 'pipe' });

function newKey(file: string, cwd: string): void {
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', file], cwd);
  chmodSync(`${cwd}/${file}`, 0o600);
}

/** The CA's certificate (`ca.pem`) in `dir`, made on first use. */
export function certificateAuthority(dir: string): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (!existsSync(`${dir}/ca.pem`)) {
    newKey('ca.key', dir);
    openssl(
      [
        'req',
        '-x509',
        '-new',
        '-key',
        'ca.key',
        '-out',
        'ca.pem',
        '-days',
        '30',
        '-subj',
        '/CN=rollout local CA',
      ],
      dir,
    );
  }
  return `${dir}/ca.pem`;
}

/**
 * A certificate signed by the CA in `dir`: `name.pem` / `name.key`. `altNames` are subjectAltName
 * entries (`IP:127.0.0.1`, `DNS:temporal`); a client certificate needs none.
 */
export function issueCertificate(
  dir: string,
  name: string,
  usage: 'server' | 'client',
  altNames: string[] = [],
): CertificatePair {
  certificateAuthority(dir);
  const certFile = `${dir}/${name}.pem`;
  const keyFile = `${dir}/${name}.key`;
  if (existsSync(certFile)) return { certFile, keyFile };
  newKey(`${name}.key`, dir);
  openssl(['req', '-new', '-key', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`], dir);
  const extensions = [
    `extendedKeyUsage=${usage === 'server' ? 'serverAuth,clientAuth' : 'clientAuth'}`,
    ...(altNames.length ? [`subjectAltName=${altNames.join(',')}`] : []),
  ];
  writeFileSync(`${dir}/${name}.ext`, `${extensions.join('\n')}\n`);
  openssl(
    [
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      `${name}.pem`,
      '-days',
      '30',
      '-extfile',
      `${name}.ext`,
    ],
    dir,
  );
  return { certFile, keyFile };
}
