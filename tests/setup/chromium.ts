/**
 * vitest globalSetup: a headless Chromium for the browser tests, found once per run (see
 * scripts/web/chromium.ts: CHROME_PATH, else @sparticuz/chromium unpacked under .tmp/,
 * else a system Chromium). Unpacking runs here, in one process, so that test files
 * running in parallel never race to unpack it.
 */
import type { TestProject } from 'vitest/node';
import { ChromiumLocation, findChromium } from '../../scripts/web/chromium';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The Chromium binary, or why there is none. */
    chromium: ChromiumLocation;
  }
}

export default async function setup(project: TestProject): Promise<void> {
  project.provide('chromium', await findChromium());
}
