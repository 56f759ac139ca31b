// One linter with type-aware rules. Per-folder import limits keep the layering of
// ../shared/ARCHITECTURE.md §5 true in code, not just in prose.
import tseslint from 'typescript-eslint';

const nodeBuiltins = ['node:*', 'fs', 'path', 'crypto', 'os', 'child_process', 'net', 'http'];

export default tseslint.config(
  { ignores: ['node_modules/', '.onewindow/', 'coverage/', 'test/interop/**/*.go'] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['bin/**/*.mjs', 'eslint.config.js'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: nodeBuiltins, message: 'Workflows are deterministic: no Node built-ins.' },
            {
              group: [
                '../activities/*',
                '../ledger/*',
                '../api/*',
                '../infra/*',
                '../agencies/*',
                'pg',
                '@temporalio/client',
                '@temporalio/worker',
                '@temporalio/activity',
              ],
              allowTypeImports: true,
              message: 'Workflows import only @temporalio/workflow, domain and activity types.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['domain/**/*.ts', 'ledger/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: [...nodeBuiltins, 'pg', '@temporalio/*', 'fastify'],
              message: 'domain/ and ledger/ are pure: no I/O.',
            },
          ],
        },
      ],
    },
  },
);
