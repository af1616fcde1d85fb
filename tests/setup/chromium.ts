/**
 * vitest globalSetup: finds (or unpacks) the headless Chromium of the browser tests once
 * per run (scripts/web/chromium.ts), so that test files running in parallel never race to
 * unpack it, and hands its path to the tests.
 */
import type { TestProject } from 'vitest/node';
import { findChromium } from '../../scripts/web/chromium';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The Chromium binary, or why there is none. */
    chromium: { path: string } | { problem: string };
  }
}

export default async function setup(project: TestProject): Promise<void> {
  project.provide('chromium', await findChromium());
}
