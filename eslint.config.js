import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import importX from 'eslint-plugin-import-x';
import globals from 'globals';

const nodeBuiltins = ['node:*', 'fs', 'path', 'os', 'child_process', 'net', 'crypto', 'http', 'https'];
const pattern = (group, message) => ({ group, message });

export default tseslint.config(
  { ignores: ['node_modules/**', '.data/**', '.tools/**', 'test-artifacts/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    plugins: { 'import-x': importX },
    settings: { 'import-x/resolver': { node: { extensions: ['.ts', '.js'] } } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'import-x/no-cycle': 'error',
    },
  },
  // The dashboard runs in the browser and talks to the API only.
  { files: ['web/**/*.js'], languageOptions: { globals: { ...globals.browser } } },
  {
    files: ['domain/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            pattern(nodeBuiltins, 'domain/ is pure: no Node built-ins'),
            pattern(['@temporalio/*'], 'domain/ must not depend on Temporal'),
            pattern(['../*', '!../domain/*'], 'domain/ imports only zod and itself'),
          ],
        },
      ],
    },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            pattern(nodeBuiltins, 'workflow code runs in the deterministic sandbox: no Node built-ins'),
            pattern(
              ['../adapters/*', '../workers/*', '../cli/*', '../client/*', 'pino', 'node-ssh'],
              'not allowed in workflows',
            ),
            pattern(
              ['@temporalio/activity', '@temporalio/client', '@temporalio/worker'],
              'workflows use @temporalio/workflow only',
            ),
          ],
        },
      ],
    },
  },
  {
    files: ['activities/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            pattern(['../workflows/*', '@temporalio/workflow'], 'activities must not import workflow code'),
            pattern(['../cli/*', '../client/*', '../workers/*'], 'activities sit below the composition root'),
          ],
        },
      ],
    },
  },
  {
    files: ['adapters/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            pattern(['@temporalio/*'], 'adapters/ know nothing of Temporal'),
            pattern(
              ['../workflows/*', '../activities/*', '../workers/*', '../cli/*', '../client/*'],
              'adapters/ are the bottom layer',
            ),
          ],
        },
      ],
    },
  },
  {
    // The people's interfaces reach workflows only through the message contract (and workflow *types*).
    files: ['cli/**/*.ts', 'client/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['../activities/*', '../workflows/*.js', '!../workflows/contract.js'],
              message: 'use client/ and domain/',
              allowTypeImports: true,
            },
          ],
        },
      ],
    },
  },
);
