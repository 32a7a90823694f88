#!/usr/bin/env node
// The `rollout` command: runs the TypeScript sources through tsx, so there is no build step to forget.
import { tsImport } from 'tsx/esm/api';

const { run } = await tsImport('../cli/main.ts', import.meta.url);
process.exitCode = await run(process.argv.slice(2));
