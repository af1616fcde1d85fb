import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    // Finds (or unpacks) the headless Chromium of the browser tests once per run.
    globalSetup: ['tests/setup/chromium.ts'],
    // Each file gets its own process: tfjs keeps global backend/kernel registries.
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
