import * as os from 'node:os';
import { defineConfig } from 'vitest/config';
import { SlowestFirst } from './tests/setup/slowest_first';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    // Finds (or unpacks) the headless Chromium of the browser tests once per run.
    globalSetup: ['tests/setup/chromium.ts'],
    // Each file gets its own process: tfjs keeps global backend/kernel registries.
    pool: 'forks',
    // One file per core (vitest's default leaves one core to itself, which here only waits).
    maxWorkers: os.availableParallelism(),
    sequence: { sequencer: SlowestFirst },
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
