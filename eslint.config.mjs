import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'bench/results/**', 'data/**', 'demo-out/**', '.tmp/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-constant-condition': ['error', { checkLoops: false }],
      // Type-aware: a promise nobody awaits or handles is an unhandled rejection waiting to happen.
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
    },
  },
  {
    // The pure core: decisions are functions of data. It may not reach into the shell.
    files: ['controller/engine/**/*.ts', 'controller/policy/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['../runtime/*', '../store/*', '../api/*', '../operator/*', '../cli/*', '../analysis/*', '../telemetry/*', '../notify/*', '../crypto/*', '!../crypto/ed25519', '../ui/*', '../http/*', '../../*'],
              message: 'controller/engine and controller/policy are pure: they may import only each other, ../spec, ../crypto/ed25519 (signatures, no I/O) and node built-ins without I/O.',
            },
            { group: ['node:fs', 'node:fs/*', 'node:http', 'node:https', 'node:net', 'node:child_process', 'better-sqlite3', 'express', 'undici', 'pino', 'prom-client', '@kubernetes/*'], message: 'no I/O in the pure core.' },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    languageOptions: { globals: { require: 'readonly', module: 'writable', process: 'readonly', console: 'readonly', __dirname: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
