import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/**', '.immune/**', 'dist/**', '.dist-*/**', 'test-output/**', 'src/dashboard/vendor/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'error',
    },
  },
  {
    files: ['src/core/**/*.ts', 'src/core/**/*.js'],
    rules: {
      'no-restricted-imports': ['error', { patterns: ['node:*', '../../engine/*', '../../adapters/*', '../../server/*', '../../cli/*'] }],
      'no-restricted-properties': [
        'error',
        { object: 'Date', property: 'now', message: 'core is pure: take the time as an argument' },
        { object: 'Math', property: 'random', message: 'core is pure: take a random source as an argument' },
      ],
    },
  },
);
