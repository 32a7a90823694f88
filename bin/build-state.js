// Which sources make up the program, and whether `.build/` is current for them (bin/rollout.js).
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';

export const BUILD_DIR = '.build';
const SOURCE_DIRS = [
  'activities',
  'adapters',
  'api',
  'cli',
  'client',
  'domain',
  'lab',
  'runtime',
  'workers',
  'workflows',
];
/** What else decides the compiled output: the compiler settings, the build script, the compiler. */
const BUILD_INPUTS = ['tsconfig.json', 'scripts/build.mjs', 'node_modules/esbuild/package.json'];

/** Every program source, relative to the project root, sorted. */
export function sourceFiles(root) {
  const out = [];
  const walk = (dir) => {
    for (const entry of readdirSync(`${root}/${dir}`, { withFileTypes: true })) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) out.push(path);
    }
  };
  for (const dir of SOURCE_DIRS) walk(dir);
  return out.sort();
}

/** One SHA-256 over the names and contents of the sources and the build inputs (a few ms). */
export function sourceDigest(root) {
  const hash = createHash('sha256');
  for (const file of [...sourceFiles(root), ...BUILD_INPUTS]) {
    hash.update(`${file}\0`);
    try {
      hash.update(readFileSync(`${root}/${file}`));
    } catch {
      hash.update('missing');
    }
    hash.update('\0');
  }
  return hash.digest('hex');
}

/** True when `.build/` was compiled from exactly these contents (a stale or odd manifest is not). */
export function buildIsCurrent(root) {
  try {
    const manifest = JSON.parse(readFileSync(`${root}/${BUILD_DIR}/manifest.json`, 'utf8'));
    return typeof manifest?.digest === 'string' && manifest.digest === sourceDigest(root);
  } catch {
    return false;
  }
}
