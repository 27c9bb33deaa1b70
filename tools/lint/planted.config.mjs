// Only the architecture rules, with the TypeScript parser: lints planted code from stdin in tests.
import tseslint from 'typescript-eslint';
import { storeAccessRules } from './store-access.mjs';

export default tseslint.config(
  { languageOptions: { parser: tseslint.parser }, plugins: { '@typescript-eslint': tseslint.plugin } },
  ...storeAccessRules,
);
