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
  {
    // Browser code: the page scripts and the in-browser verifier. They may use the pure
    // ledger library, domain and @noble/* (and zod through them), never Node, the database
    // adapter or the server.
    files: ['web/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: nodeBuiltins, message: 'web/ runs in the browser: no Node built-ins.' },
            {
              group: [
                '**/ledger/pg',
                '**/ledger/pg/*',
                '**/api/*',
                '**/infra/*',
                '**/activities/*',
                '**/workflows/*',
                '**/agencies/*',
                '**/cli/*',
                'pg',
                'esbuild',
                'fastify',
                '@temporalio/*',
              ],
              allowTypeImports: true,
              message: 'web/ may import only ledger/ (not ledger/pg), domain/ and @noble/*.',
            },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        { name: 'process', message: 'web/ runs in the browser.' },
        { name: 'Buffer', message: 'web/ runs in the browser: use Uint8Array.' },
        { name: 'require', message: 'web/ is ESM for the browser.' },
      ],
    },
  },
);
