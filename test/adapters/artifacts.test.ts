/**
 * The artifact policy on real files: only regular files inside the artifact directories, bounded in
 * size and time, and no checksum oracle for files outside. Artifacts by URL from a real HTTPS server
 * (node:https with a certificate from an openssl CA).
 */
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  allowedArtifact,
  localArtifact,
  sha256File,
  verifySourceArtifact,
  type ArtifactPolicy,
} from '../../adapters/artifacts.js';
import { RolloutError } from '../../domain/errors.js';
import { Patch } from '../../domain/schema.js';
import { issueCertificate } from '../../runtime/certificates.js';

const dir = mkdtempSync(`${tmpdir()}/rollout-artifacts-`);
const artifacts = `${dir}/artifacts`;
mkdirSync(artifacts);
writeFileSync(`${artifacts}/fix.sh`, 'echo fixed\n');
symlinkSync('/etc/passwd', `${artifacts}/escape.sh`);
writeFileSync(`${artifacts}/big.bin`, Buffer.alloc(64 * 1024));
const policy: ArtifactPolicy = { dirs: [artifacts], maxBytes: 32 * 1024, hashTimeoutMs: 10_000 };
const patch = (path: string, sha256 = '0'.repeat(64)) => ({ artifact: { path, sha256 } }) as Patch;

afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function refusal(promise: Promise<unknown>): Promise<RolloutError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(RolloutError);
    return err as RolloutError;
  }
  throw new Error('allowed');
}

describe('the artifact policy', () => {
  it('refuses a path outside the artifact directories the same way whether it exists or not', async () => {
    const shadow = await refusal(allowedArtifact('/etc/shadow', policy));
    const ghost = await refusal(allowedArtifact('/etc/no-such-file', policy));
    expect([shadow.type, ghost.type]).toEqual(['SourceArtifactRefused', 'SourceArtifactRefused']);
    expect(shadow.message.replace('/etc/shadow', 'X')).toBe(ghost.message.replace('/etc/no-such-file', 'X'));
  });

  it('refuses a symbolic link that leads out, a device, and a file over the size limit', async () => {
    expect((await refusal(allowedArtifact(`${artifacts}/escape.sh`, policy))).message).toMatch(
      /leads outside/,
    );
    expect((await refusal(allowedArtifact('/dev/zero', { ...policy, dirs: ['/dev'] }))).message).toMatch(
      /not a regular file/,
    );
    expect((await refusal(allowedArtifact(`${artifacts}/big.bin`, policy))).message).toMatch(
      /larger than 32768/,
    );
  });

  it('says a checksum does not match without saying what the file hashes to', async () => {
    const actual = await sha256File(`${artifacts}/fix.sh`, 10_000);
    const err = await refusal(verifySourceArtifact(patch(`${artifacts}/fix.sh`), policy));
    expect(err.type).toBe('SourceArtifactInvalid');
    expect(err.message).not.toContain(actual);
    await expect(verifySourceArtifact(patch(`${artifacts}/fix.sh`, actual), policy)).resolves.toBe(
      `${artifacts}/fix.sh`,
    );
  });

  it('stops hashing at its time limit and when the request goes away', async () => {
    const slow = await refusal(sha256File('/dev/zero', 200));
    expect(slow.type).toBe('SourceArtifactUnreadable');
    expect(slow.message).toMatch(/took longer than 200 ms/);
    const gone = new AbortController();
    setTimeout(() => gone.abort(), 100);
    const aborted = await refusal(sha256File('/dev/zero', 60_000, { signal: gone.signal }));
    expect(aborted.message).toMatch(/the request went away/);
  });
});

describe('an artifact by URL, from a real HTTPS server with its own CA', () => {
  const body = Buffer.from('echo fixed from the vendor portal\n');
  const sha = createHash('sha256').update(body).digest('hex');
  const pki = `${dir}/pki`;
  const cacheDir = `${dir}/cache`;
  const hits: string[] = [];
  let server: Server;
  let base = '';
  let closedPort = 0;
  const urlPolicy = (): ArtifactPolicy => ({
    ...policy,
    cacheDir,
    caFile: `${pki}/ca.pem`,
    urlPrefixes: [`${base}/`, `https://127.0.0.1:${closedPort}/`],
  });
  const byUrl = (url: string, sha256 = sha) => ({ artifact: { url, sha256 } }) as Patch;

  beforeAll(async () => {
    const cert = issueCertificate(pki, 'portal', 'server', ['IP:127.0.0.1']);
    server = createServer(
      { cert: readFileSync(cert.certFile), key: readFileSync(cert.keyFile) },
      (req, res) => {
        hits.push(req.url ?? '');
        if (req.url === '/fix.sh' || req.url === '/v2/fix.sh') return void res.end(body);
        if (req.url === '/big.bin') return void res.end(Buffer.alloc(64 * 1024));
        if (req.url === '/stream.bin') {
          // No Content-Length: the limit must hold while the bytes arrive.
          res.write(Buffer.alloc(20 * 1024));
          res.write(Buffer.alloc(20 * 1024));
          return void res.end();
        }
        if (req.url === '/moved') {
          res.writeHead(302, { location: '/fix.sh' });
          return void res.end();
        }
        if (req.url === '/hang') return; // never answers
        res.writeHead(404);
        res.end();
      },
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const spare = createServer();
    await new Promise<void>((r) => spare.listen(0, '127.0.0.1', r));
    closedPort = (spare.address() as AddressInfo).port;
    await new Promise((r) => spare.close(r));
  });
  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
  });

  it('fetches it once, checks it, serves the cached copy by checksum, and fetches again a copy that changed on disk', async () => {
    const url = `${base}/fix.sh`;
    const first = await verifySourceArtifact(byUrl(url), urlPolicy());
    expect(first).toBe(`${cacheDir}/${sha}`);
    expect(readFileSync(first)).toEqual(body);
    expect(await localArtifact(byUrl(url), urlPolicy())).toBe(first);
    expect(hits.filter((h) => h === '/fix.sh')).toHaveLength(1);
    writeFileSync(first, 'bit rot\n');
    expect(await verifySourceArtifact(byUrl(url), urlPolicy())).toBe(first);
    expect(readFileSync(first)).toEqual(body);
    expect(hits.filter((h) => h === '/fix.sh')).toHaveLength(2);
  });

  it('keeps nothing of bytes that do not match, and says so without their checksum', async () => {
    const err = await refusal(verifySourceArtifact(byUrl(`${base}/v2/fix.sh`, 'e'.repeat(64)), urlPolicy()));
    expect(err.type).toBe('SourceArtifactInvalid');
    expect(err.message).toBe(
      `artifact ${base}/v2/fix.sh does not match the SHA-256 the campaign file gives (${'e'.repeat(64)}); nothing was kept`,
    );
    expect(err.message).not.toContain(sha);
    expect(readdirSync(cacheDir).filter((n) => !n.startsWith(sha))).toEqual([]);
  });

  it('refuses a URL outside the allowed prefixes before connecting, and tells every failure apart', async () => {
    const other = 'f'.repeat(64);
    const before = hits.length;
    const cases = await Promise.all([
      refusal(
        localArtifact(byUrl(`${base}/fix.sh`, other), { ...urlPolicy(), urlPrefixes: [`${base}/v2/`] }),
      ),
      refusal(
        localArtifact(byUrl(`${base}/v2/../fix.sh`, other), { ...urlPolicy(), urlPrefixes: [`${base}/v2/`] }),
      ),
      refusal(localArtifact(byUrl(`https://127.0.0.1:${closedPort}/fix.sh`, other), urlPolicy())),
      refusal(localArtifact(byUrl(`${base}/fix.sh`, other), { ...urlPolicy(), caFile: undefined })),
      refusal(localArtifact(byUrl(`${base}/moved`, other), urlPolicy())),
      refusal(localArtifact(byUrl(`${base}/absent`, other), urlPolicy())),
      refusal(localArtifact(byUrl(`${base}/big.bin`, other), urlPolicy())),
      refusal(localArtifact(byUrl(`${base}/stream.bin`, other), urlPolicy())),
      refusal(localArtifact(byUrl(`${base}/hang`, other), { ...urlPolicy(), hashTimeoutMs: 300 })),
      refusal(localArtifact(byUrl(`${base}/fix.sh`, other), { ...urlPolicy(), cacheDir: undefined })),
    ]);
    expect(cases.map((e) => [e.type, e.message])).toEqual([
      [
        'SourceArtifactRefused',
        `artifact ${base}/fix.sh is not under an artifact URL prefix of this installation (ROLLOUT_ARTIFACT_URLS)`,
      ],
      [
        'SourceArtifactRefused',
        `artifact ${base}/v2/../fix.sh is not under an artifact URL prefix of this installation (ROLLOUT_ARTIFACT_URLS)`,
      ],
      [
        'SourceArtifactUnreadable',
        `artifact https://127.0.0.1:${closedPort}/fix.sh: cannot fetch it (ECONNREFUSED)`,
      ],
      [
        'SourceArtifactUnreadable',
        `artifact ${base}/fix.sh: cannot fetch it (UNABLE_TO_VERIFY_LEAF_SIGNATURE)`,
      ],
      [
        'SourceArtifactUnreadable',
        `artifact ${base}/moved: the server answered 302 (a redirect: give the final URL)`,
      ],
      ['SourceArtifactUnreadable', `artifact ${base}/absent: the server answered 404`],
      [
        'SourceArtifactRefused',
        `artifact ${base}/big.bin is larger than 32768 bytes (ROLLOUT_ARTIFACT_MAX_BYTES)`,
      ],
      [
        'SourceArtifactRefused',
        `artifact ${base}/stream.bin is larger than 32768 bytes (ROLLOUT_ARTIFACT_MAX_BYTES)`,
      ],
      ['SourceArtifactUnreadable', `artifact ${base}/hang: no complete answer within 300 ms`],
      [
        'SourceArtifactRefused',
        `artifact ${base}/fix.sh: this worker has no artifact cache directory (ROLLOUT_ARTIFACT_CACHE_DIR)`,
      ],
    ]);
    // Refused by prefix or by cache before connecting, and the unknown CA fails the handshake: no request.
    expect(hits.slice(before).filter((h) => h === '/fix.sh')).toEqual([]);
    expect(existsSync(`${cacheDir}/${other}`)).toBe(false);
    expect(readdirSync(cacheDir).filter((n) => n.includes('.part-'))).toEqual([]);
  });

  it('is refused by the campaign schema unless it is https, without credentials or query, and the only source', () => {
    const artifact = (a: object) => Patch.shape.artifact.safeParse({ sha256: sha, ...a });
    expect(artifact({ url: `${base}/fix.sh` }).success).toBe(true);
    expect(artifact({ url: 'http://portal.example/fix.sh' }).error?.issues[0]?.message).toBe(
      'use an https URL',
    );
    expect(artifact({ url: 'https://u:p@portal.example/fix.sh' }).error?.issues[0]?.message).toBe(
      'must not carry a user name or password',
    );
    expect(
      artifact({ url: 'https://portal.example/fix.sh?X-Signature=s' }).error?.issues[0]?.message,
    ).toMatch(/^must not have a query string/);
    expect(artifact({ url: `${base}/fix.sh`, path: '/srv/fix.sh' }).error?.issues[0]?.message).toBe(
      'give exactly one of path and url',
    );
    expect(artifact({}).error?.issues[0]?.message).toBe('give exactly one of path and url');
  });
});
