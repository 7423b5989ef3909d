import js from '@eslint/js';
import pulumi from '@pulumi/eslint-plugin';
import security from 'eslint-plugin-security';
import tseslint from 'typescript-eslint';

import { slipwayPlugin } from './pipelines/src/lint/workspace-boundaries.js';

export default tseslint.config(
  { ignores: ['**/node_modules/**', '**/dist/**', '**/coverage/**', '.local/**', '.tools/**', '**/generated/**'] },
  js.configs.recommended,
  tseslint.configs.strictTypeChecked,
  tseslint.configs.stylisticTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      '@typescript-eslint/no-confusing-void-expression': ['error', { ignoreArrowShorthand: true }],
    },
  },
  { files: ['**/*.js'], ...tseslint.configs.disableTypeChecked },
  {
    // the direction between workspaces, read from CONTRIBUTING.md ("Workspace boundaries")
    files: ['**/*.ts'],
    plugins: { slipway: slipwayPlugin },
    rules: { 'slipway/workspace-boundaries': 'error' },
  },
  {
    files: ['app/**/*.ts', 'pipelines/**/*.ts'],
    ...security.configs.recommended,
    rules: {
      ...security.configs.recommended.rules,
      // Typed index access is checked by TypeScript (noUncheckedIndexedAccess); this rule only adds noise.
      'security/detect-object-injection': 'off',
    },
  },
  {
    // The release CLI and the platform supervisor work on repository files by design.
    files: ['pipelines/**/*.ts'],
    rules: { 'security/detect-non-literal-fs-filename': 'off', 'security/detect-child-process': 'off' },
  },
  {
    files: ['infra/**/*.ts', 'policies/**/*.ts'],
    plugins: { '@pulumi': pulumi },
    rules: {
      '@pulumi/no-output-in-template-literal': 'error',
      '@pulumi/no-output-instance-in-template-literal': 'error',
    },
  },
);
