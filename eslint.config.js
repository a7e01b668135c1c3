// ESLint for TypeScript and RxJS: the rules that catch leaked subscriptions, lost errors and unordered pipelines.
import js from '@eslint/js';
import rxjsX from 'eslint-plugin-rxjs-x';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bench/results/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.tsx'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { 'rxjs-x': rxjsX },
    rules: {
      ...rxjsX.configs.recommended.rules,
      // The issue-14 set: each names a bug class seen in stream code.
      'rxjs-x/no-nested-subscribe': 'error',
      'rxjs-x/no-unbound-methods': 'error',
      'rxjs-x/no-ignored-subscription': 'error',
      'rxjs-x/no-unsafe-takeuntil': 'error',
      '@typescript-eslint/no-floating-promises': 'error',
      // Unused names are allowed when they start with an underscore (ignored callback arguments).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  // Specs read JSON replies whose shape they then assert.
  { files: ['spec/**'], rules: { '@typescript-eslint/no-explicit-any': 'off' } },
  // Solid assigns `let el!: T` through `ref={el}`, which this rule cannot see.
  { files: ['**/*.tsx'], rules: { 'no-unassigned-vars': 'off' } },
);
