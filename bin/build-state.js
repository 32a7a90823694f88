// Which sources make up the program, and whether `.build/` is current for them (bin/rollout.js).
import { readdirSync, readFileSync, statSync } from 'node:fs';

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

/** True when `.build/` was made from exactly these sources and none changed since. */
export function buildIsCurrent(root) {
  let manifest;
  try {
    manifest = JSON.parse(readFileSync(`${root}/${BUILD_DIR}/manifest.json`, 'utf8'));
  } catch {
    return false;
  }
  const files = sourceFiles(root);
  if (files.length !== manifest.files.length || files.some((f, i) => f !== manifest.files[i])) return false;
  return files.every((f) => statSync(`${root}/${f}`).mtimeMs < manifest.builtAt);
}
