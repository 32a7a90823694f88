#!/usr/bin/env node
// The `rollout` command: the compiled program in .build/ while it is current (scripts/build.mjs), else
// the TypeScript sources through tsx, so an edit takes effect at once and a stale build never runs.
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { BUILD_DIR, buildIsCurrent } from './build-state.js';

// A reader that stops early (`rollout plan … | head`) is not an error: stop quietly, as other tools do.
process.stdout.on('error', (err) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
// ROLLOUT_FROM_SOURCES=1 runs the sources even when the build is current (bench:cli compares both).
const compiled = process.env.ROLLOUT_FROM_SOURCES !== '1' && buildIsCurrent(root);
const { run } = compiled
  ? await import(pathToFileURL(`${root}/${BUILD_DIR}/cli/main.js`).href)
  : await (await import('tsx/esm/api')).tsImport('../cli/main.ts', import.meta.url);
process.exitCode = await run(process.argv.slice(2));
