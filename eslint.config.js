/**
 * Lint that enforces the layers (README, Architecture and Development). Imports are resolved (`.js` specifiers to their
 * `.ts` files, by the TypeScript resolver), so the layer zones and the cycle check see real files, in
 * nested folders too. test/unit/lint-rules.test.ts plants one violation per rule and checks each is
 * reported.
 */
import { builtinModules } from 'node:module';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import importX from 'eslint-plugin-import-x';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import globals from 'globals';

/**
 * Every Node built-in as an exact specifier (`fs`, `fs/promises`, …; as exact names, so the folder
 * domain/ is not taken for Node's `domain` module) and anything `node:`.
 */
const builtinsRule = (message, patterns = []) => [
  'error',
  {
    paths: builtinModules.map((name) => ({ name, message })),
    patterns: [{ group: ['node:*'], message }, ...patterns],
  },
];

/** The layers, bottom up; each may import only the ones listed (and itself). */
const LAYERS = {
  domain: [],
  adapters: ['domain'],
  runtime: ['domain', 'adapters'],
  activities: ['domain', 'adapters', 'runtime'],
  // Workflows import activities as types only (the type-only rule below), never their code.
  workflows: ['domain', 'activities'],
  lab: ['domain', 'runtime'],
  client: ['domain', 'adapters', 'runtime', 'workflows'],
  api: ['domain', 'adapters', 'runtime', 'client'],
  workers: ['domain', 'adapters', 'runtime', 'activities', 'workflows', 'client'],
  cli: ['domain', 'adapters', 'runtime', 'client', 'api', 'workers', 'lab'],
};
const FOLDERS = [...Object.keys(LAYERS), 'bench', 'bin', 'scripts', 'test', 'web'];

const layerZones = Object.entries(LAYERS).flatMap(([layer, allowed]) => {
  const forbidden = FOLDERS.filter((f) => f !== layer && !allowed.includes(f));
  return forbidden.map((from) => ({
    target: `./${layer}`,
    from: `./${from}`,
    message: `${layer}/ may import only ${allowed.length ? allowed.join(', ') + ' and itself' : 'itself'} (README: Architecture)`,
  }));
});

// The dashboard is served as it is: it imports only its own modules.
const webZones = FOLDERS.filter((f) => f !== 'web').map((from) => ({
  target: './web',
  from: `./${from}`,
  message: 'web/ is served as it is: it imports only its own modules',
}));

const restricted = (patterns) => ['error', { patterns }];

export default tseslint.config(
  { ignores: ['node_modules/**', '.data/**', '.tools/**', 'test-artifacts/**', '.build/**', '.build.*/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    plugins: { 'import-x': importX },
    settings: {
      // Without these the cycle check never parses a .ts dependency (and so finds no cycle).
      'import-x/extensions': ['.ts', '.js'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/resolver-next': [
        createTypeScriptImportResolver({ project: `${import.meta.dirname}/tsconfig.json` }),
      ],
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      'import-x/no-restricted-paths': [
        'error',
        { basePath: import.meta.dirname, zones: [...layerZones, ...webZones] },
      ],
    },
  },
  {
    // A promise nobody awaits loses its error (and, in a workflow, its ordering).
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: { '@typescript-eslint/no-floating-promises': 'error' },
  },
  {
    // One config module reads the environment (runtime/config.ts); everything else is handed its
    // settings. bin/rollout.js decides which build to load before any module, config included, exists.
    files: ['**/*.ts', '**/*.js', '**/*.mjs'],
    ignores: ['runtime/config.ts', 'bin/rollout.js'],
    rules: {
      'no-restricted-properties': [
        'error',
        {
          object: 'process',
          property: 'env',
          message: 'read settings from runtime/config.ts (settings(), childEnvironment())',
        },
      ],
    },
  },
  // The dashboard runs in the browser and talks to the API only.
  { files: ['web/**/*.js'], languageOptions: { globals: { ...globals.browser } } },
  {
    files: ['domain/**/*.ts'],
    rules: {
      'no-restricted-imports': builtinsRule('domain/ is pure: no Node built-ins', [
        { regex: '^(?!(zod|yaml)(/|$)|\\.{1,2}/)', message: 'domain/ imports only zod, yaml and itself' },
      ]),
    },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': 'off',
      '@typescript-eslint/no-restricted-imports': builtinsRule(
        'workflow code runs in the deterministic sandbox: no Node built-ins',
        [
          {
            group: ['**/activities/*', '**/activities'],
            message: 'workflows import activities as types only (proxyActivities<typeof …>)',
            allowTypeImports: true,
          },
          {
            group: ['pino', 'node-ssh', 'ssh2', 'better-sqlite3', 'pg', 'fastify'],
            message: 'not allowed in workflows',
          },
          {
            group: ['@temporalio/*', '!@temporalio/workflow', '!@temporalio/common'],
            message: 'workflows use @temporalio/workflow only',
          },
        ],
      ),
    },
  },
  {
    files: ['adapters/**/*.ts'],
    rules: {
      'no-restricted-imports': restricted([
        { group: ['@temporalio/*'], message: 'adapters/ know nothing of Temporal' },
      ]),
    },
  },
  {
    files: ['activities/**/*.ts'],
    rules: {
      'no-restricted-imports': restricted([
        {
          group: ['@temporalio/*', '!@temporalio/activity', '!@temporalio/common'],
          message: 'activities use @temporalio/activity only',
        },
      ]),
    },
  },
  {
    // client/ reaches workflows only through the message contract (and workflow *types*); cli/ and
    // api/ reach them only through client/ (the layer zones above).
    files: ['client/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': restricted([
        {
          group: ['**/workflows/*', '!**/workflows/contract.js'],
          message: 'use client/ and the message contract (workflows/contract.ts)',
          allowTypeImports: true,
        },
      ]),
    },
  },
  {
    files: ['api/**/*.ts'],
    rules: {
      'no-restricted-imports': restricted([
        {
          group: ['@temporalio/*'],
          message: 'api/ acts through client/ (the audited action service), not Temporal directly',
        },
      ]),
    },
  },
);
