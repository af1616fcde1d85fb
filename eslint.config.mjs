// ESLint for src/, scripts/, tests/ and the config files: typescript-eslint's type-aware
// recommended rules. Formatting is Prettier's: eslint-config-prettier turns off the rules
// that would fight it.
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'dist/',
      'node_modules/',
      'data/',
      'checkpoints/',
      'results/',
      '.tmp/',
      'gpu-kit/',
      'gpu-kit-work/',
      'src/kernels/wasm/simd/*_binary.ts',
    ],
  },
  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      globals: globals.node,
      parserOptions: {
        // One program over everything linted: tsconfig.json's settings, with the demo page's and tests' DOM types.
        project: './tsconfig.eslint.json',
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      // Optional packages (tfjs-node, the wasm and webgpu backends, sharp) load lazily, by require().
      '@typescript-eslint/no-require-imports': 'off',
      // Async callbacks satisfy APIs that want a Promise (tfjs save handlers, test doubles) without awaiting.
      '@typescript-eslint/require-await': 'off',
      // `tf.randomNormal(shape) as tf.Tensor4D` is the house idiom; the rule would want tf.randomNormal<tf.Rank.R4>(shape).
      '@typescript-eslint/no-unnecessary-type-assertion': 'off',
      // Messages print shapes as [1,28,28,1] through the template literal.
      '@typescript-eslint/restrict-template-expressions': [
        'error',
        { allowArray: true, allowNullish: true, allowNumber: true, allowBoolean: true },
      ],
      // `const { a: _a, ...rest } = x` omits keys, as tsc's noUnusedLocals allows.
      '@typescript-eslint/no-unused-vars': ['error', { ignoreRestSiblings: true }],
    },
  },
  {
    // Tests assert on parsed JSON (any): the assertions are its check.
    files: ['tests/**'],
    rules: {
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  {
    // Plain JavaScript, and the apps that consume the packed package (their imports resolve once it is installed).
    files: ['**/*.{js,cjs,mjs}', 'tests/fixtures/**'],
    extends: [tseslint.configs.disableTypeChecked],
  },
  {
    files: ['**/*.cjs', 'scripts/build.js', 'tests/helpers/*.js'],
    languageOptions: { sourceType: 'commonjs' },
  },
  {
    files: ['src/web/**', 'tests/fixtures/package_apps/browser_*.js'],
    languageOptions: { globals: globals.browser },
  },
  prettier,
);
