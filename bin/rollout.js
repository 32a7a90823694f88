#!/usr/bin/env node
// The `rollout` command: runs the TypeScript sources through tsx, so there is no build step to forget.
import { tsImport } from 'tsx/esm/api';

// A reader that stops early (`rollout plan … | head`) is not an error: stop quietly, as other tools do.
process.stdout.on('error', (err) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});

const { run } = await tsImport('../cli/main.ts', import.meta.url);
process.exitCode = await run(process.argv.slice(2));
