/**
 * Compiles the program's TypeScript to JavaScript in `.build/` (same layout, one file per module, no
 * bundling), so `rollout` starts without transpiling. Run by `npm install` (prepare), `rollout setup`
 * and `npm run build`; does nothing when `.build/` is current (`--force` builds anyway). The new build
 * is written beside the old one and swapped in by rename. bin/rollout.js uses `.build/` only while its
 * manifest's digest matches the sources (contents, tsconfig, this script, the esbuild version);
 * otherwise it runs the sources through tsx, so a stale build never runs.
 */
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { BUILD_DIR, buildIsCurrent, sourceDigest, sourceFiles } from '../bin/build-state.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const quiet = process.argv.includes('--quiet');
if (!process.argv.includes('--force') && buildIsCurrent(root)) {
  if (!quiet) process.stderr.write(`${BUILD_DIR}/ is current\n`);
  process.exit(0);
}
const startedAt = Date.now();
const digest = sourceDigest(root);
const files = sourceFiles(root);
const fresh = `${root}/${BUILD_DIR}.new-${process.pid}`;
const old = `${root}/${BUILD_DIR}.old-${process.pid}`;
rmSync(fresh, { recursive: true, force: true });
try {
  await build({
    entryPoints: files.map((f) => `${root}/${f}`),
    outdir: fresh,
    outbase: root,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    sourcemap: 'linked',
    logLevel: 'warning',
  });
  writeFileSync(`${fresh}/manifest.json`, JSON.stringify({ digest, builtAt: startedAt, files }));
  let moved = false;
  try {
    renameSync(`${root}/${BUILD_DIR}`, old);
    moved = true;
  } catch {
    // no build yet (or another build just took it: ours goes in all the same)
  }
  try {
    renameSync(fresh, `${root}/${BUILD_DIR}`);
  } catch (err) {
    // Another build won the race: keep its result, or put the old one back.
    if (moved) renameSync(old, `${root}/${BUILD_DIR}`);
    if (!buildIsCurrent(root)) throw err;
  }
} finally {
  rmSync(fresh, { recursive: true, force: true });
  rmSync(old, { recursive: true, force: true });
}
if (!quiet)
  process.stderr.write(`built ${files.length} modules into ${BUILD_DIR}/ in ${Date.now() - startedAt} ms\n`);
