/**
 * The artifact policy on real files: only regular files inside the artifact directories, bounded in
 * size and time, and no checksum oracle for files outside.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { afterAll, describe, expect, it } from 'vitest';
import {
  allowedArtifact,
  sha256File,
  verifySourceArtifact,
  type ArtifactPolicy,
} from '../../adapters/artifacts.js';
import { RolloutError } from '../../domain/errors.js';
import type { Patch } from '../../domain/schema.js';

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
