/** Where the project is: its root, whether this runs from the sources or from the compiled `.build/`. */
import { fileURLToPath } from 'node:url';
import { basename, dirname, resolve } from 'node:path';

const here = resolve(fileURLToPath(new URL('..', import.meta.url)));
export const PROJECT_ROOT = basename(here) === '.build' ? dirname(here) : here;
