/**
 * Compiles the program's TypeScript to JavaScript in `.build/` (same layout, one file per module, no
 * bundling), so `rollout` starts without transpiling. Run by `npm install` (prepare), `rollout setup`
 * and `npm run build`. bin/rollout.js uses `.build/` only while it is current (no source newer than the
 * build, no file added or removed); otherwise it runs the sources through tsx, so a stale build can
 * never run old code.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { BUILD_DIR, sourceFiles } from '../bin/build-state.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const startedAt = Date.now();
const files = sourceFiles(root);
rmSync(`${root}/${BUILD_DIR}`, { recursive: true, force: true });
await build({
  entryPoints: files.map((f) => `${root}/${f}`),
  outdir: `${root}/${BUILD_DIR}`,
  outbase: root,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: 'linked',
  logLevel: 'warning',
});
mkdirSync(`${root}/${BUILD_DIR}`, { recursive: true });
writeFileSync(`${root}/${BUILD_DIR}/manifest.json`, JSON.stringify({ builtAt: startedAt, files }));
if (!process.argv.includes('--quiet'))
  process.stderr.write(`built ${files.length} modules into ${BUILD_DIR}/ in ${Date.now() - startedAt} ms\n`);
