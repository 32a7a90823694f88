/**
 * The lint rules enforce the layers: in a temporary copy of the project, one file per rule imports what
 * its folder must not (nested folders too, where relative-path patterns used to miss), and ESLint must
 * report each with the rule named. A file with only allowed imports must pass (the control).
 */
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ESLint } from 'eslint';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../runtime/paths.js';

const ZONE = 'import-x/no-restricted-paths';
const IMPORTS = 'no-restricted-imports';
const TS_IMPORTS = '@typescript-eslint/no-restricted-imports';

/** [file in the copy, its text, the rule that must report it]. */
const PROBES: Array<[string, string, string]> = [
  [
    'domain/zz-node-prefixed.ts',
    "import { readFileSync } from 'node:fs';\nexport const f = readFileSync;\n",
    IMPORTS,
  ],
  ['domain/zz-node-bare.ts', "import { readFileSync } from 'fs';\nexport const f = readFileSync;\n", IMPORTS],
  ['domain/zz-package.ts', "import pino from 'pino';\nexport const p = pino;\n", IMPORTS],
  [
    'domain/zz-adapters.ts',
    "import { sshTarget } from '../adapters/ssh.js';\nexport const s = sshTarget;\n",
    ZONE,
  ],
  [
    'domain/zz-sub/nested.ts',
    "import { sshTarget } from '../../adapters/ssh.js';\nexport const s = sshTarget;\n",
    ZONE,
  ],
  [
    'adapters/zz-activities.ts',
    "import { createHostActivities } from '../activities/host-activities.js';\nexport const a = createHostActivities;\n",
    ZONE,
  ],
  [
    'adapters/dialects/zz-nested.ts',
    "import { campaignStatusQuery } from '../../workflows/contract.js';\nexport const q = campaignStatusQuery;\n",
    ZONE,
  ],
  [
    'adapters/zz-temporal.ts',
    "import { Connection } from '@temporalio/client';\nexport const c = Connection;\n",
    IMPORTS,
  ],
  [
    'activities/zz-workflows.ts',
    "import { hostPatchWorkflow } from '../workflows/host-patch.js';\nexport const w = hostPatchWorkflow;\n",
    ZONE,
  ],
  [
    'activities/zz-temporal.ts',
    "import { sleep } from '@temporalio/workflow';\nexport const s = sleep;\n",
    IMPORTS,
  ],
  [
    'workflows/zz-node-bare.ts',
    "import { randomUUID } from 'crypto';\nexport const r = randomUUID;\n",
    TS_IMPORTS,
  ],
  [
    'workflows/zz-node-prefixed.ts',
    "import { randomUUID } from 'node:crypto';\nexport const r = randomUUID;\n",
    TS_IMPORTS,
  ],
  [
    'workflows/zz-activity-value.ts',
    "import { createHostActivities } from '../activities/host-activities.js';\nexport const a = createHostActivities;\n",
    TS_IMPORTS,
  ],
  [
    'workflows/zz-adapters.ts',
    "import { sshTarget } from '../adapters/ssh.js';\nexport const s = sshTarget;\n",
    ZONE,
  ],
  ['workflows/zz-package.ts', "import pino from 'pino';\nexport const p = pino;\n", TS_IMPORTS],
  [
    'workflows/zz-temporal.ts',
    "import { Connection } from '@temporalio/client';\nexport const c = Connection;\n",
    TS_IMPORTS,
  ],
  ['client/zz-api.ts', "import { createApi } from '../api/server.js';\nexport const a = createApi;\n", ZONE],
  [
    'client/zz-workflow-code.ts',
    "import { hostPatchWorkflow } from '../workflows/host-patch.js';\nexport const w = hostPatchWorkflow;\n",
    TS_IMPORTS,
  ],
  ['api/zz-workers.ts', "import * as worker from '../workers/worker.js';\nexport const w = worker;\n", ZONE],
  [
    'api/zz-temporal.ts',
    "import { Connection } from '@temporalio/client';\nexport const c = Connection;\n",
    IMPORTS,
  ],
  ['workers/zz-cli.ts', "import { run } from '../cli/main.js';\nexport const r = run;\n", ZONE],
  [
    'runtime/zz-client.ts',
    "import * as actions from '../client/actions.js';\nexport const a = actions;\n",
    ZONE,
  ],
  [
    'lab/zz-adapters.ts',
    "import { sshTarget } from '../adapters/ssh.js';\nexport const s = sshTarget;\n",
    ZONE,
  ],
  [
    'domain/zz-cycle-a.ts',
    "import { b } from './zz-cycle-b.js';\nexport const a = () => b;\n",
    'import-x/no-cycle',
  ],
  [
    'adapters/zz-floating.ts',
    'export function f(p: Promise<void>) {\n  p.then(() => 1);\n}\n',
    '@typescript-eslint/no-floating-promises',
  ],
  ['adapters/zz-env.ts', 'export const home = process.env.HOME;\n', 'no-restricted-properties'],
  ['cli/commands/zz-env.ts', "export const port = process.env['PORT'];\n", 'no-restricted-properties'],
  [
    'web/zz-server.js',
    "import { planCampaign } from '../domain/planner.js';\nexport const p = planCampaign;\n",
    ZONE,
  ],
];

/** Allowed imports in each layer: must pass. */
const CONTROLS: Array<[string, string]> = [
  [
    'domain/zz-ok.ts',
    "import { z } from 'zod';\nimport { Duration } from './duration.js';\nexport const d = [z, Duration];\n",
  ],
  [
    'workflows/zz-ok.ts',
    "import { proxyActivities } from '@temporalio/workflow';\nimport type { createHostActivities } from '../activities/host-activities.js';\nimport { planCampaign } from '../domain/planner.js';\nexport const w = [proxyActivities<ReturnType<typeof createHostActivities>>, planCampaign];\n",
  ],
  [
    'adapters/dialects/zz-ok.ts',
    "import { readFileSync } from 'node:fs';\nimport { planCampaign } from '../../domain/planner.js';\nexport const a = [readFileSync, planCampaign];\n",
  ],
  [
    'client/zz-ok.ts',
    "import { campaignStatusQuery } from '../workflows/contract.js';\nimport type { hostPatchWorkflow } from '../workflows/host-patch.js';\nexport const c: [unknown, typeof hostPatchWorkflow | undefined] = [campaignStatusQuery, undefined];\n",
  ],
];

let copy: string;

beforeAll(() => {
  copy = mkdtempSync(join(tmpdir(), 'rollout-lint-'));
  for (const entry of ['package.json', 'tsconfig.json', 'eslint.config.js'])
    cpSync(join(PROJECT_ROOT, entry), join(copy, entry));
  for (const folder of [
    'domain',
    'adapters',
    'activities',
    'workflows',
    'client',
    'api',
    'workers',
    'runtime',
    'lab',
    'cli',
    'web',
  ])
    cpSync(join(PROJECT_ROOT, folder), join(copy, folder), { recursive: true });
  symlinkSync(join(PROJECT_ROOT, 'node_modules'), join(copy, 'node_modules'));
  writeFileSync(
    join(copy, 'domain/zz-cycle-b.ts'),
    "import { a } from './zz-cycle-a.js';\nexport const b = () => a;\n",
  );
  for (const [file, text] of [...PROBES, ...CONTROLS]) {
    mkdirSync(dirname(join(copy, file)), { recursive: true });
    writeFileSync(join(copy, file), text);
  }
});

afterAll(() => {
  if (copy) rmSync(copy, { recursive: true, force: true });
});

describe('lint enforces the layers', () => {
  it('reports every planted violation with its rule, and passes the allowed imports', async () => {
    const eslint = new ESLint({ cwd: copy });
    const results = await eslint.lintFiles([...PROBES, ...CONTROLS].map(([file]) => join(copy, file)));
    const byFile = new Map(results.map((r) => [r.filePath.slice(copy.length + 1), r.messages]));
    const missed = PROBES.filter(
      ([file, , rule]) => !(byFile.get(file) ?? []).some((m) => m.ruleId === rule),
    ).map(
      ([file, , rule]) =>
        `${file}: expected ${rule}, got ${JSON.stringify(byFile.get(file)?.map((m) => m.ruleId))}`,
    );
    expect(missed).toEqual([]);
    const noisy = CONTROLS.flatMap(([file]) =>
      (byFile.get(file) ?? []).map((m) => `${file}: ${m.ruleId}: ${m.message}`),
    );
    expect(noisy).toEqual([]);
  }, 120_000);
});
