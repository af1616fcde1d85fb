/**
 * vitest globalSetup: a headless Chromium for the browser tests, found once per run.
 * CHROME_PATH wins when set; otherwise @sparticuz/chromium (a devDependency, so `npm ci`
 * alone brings it, offline) unpacks its binary, fonts and SwiftShader under the project's
 * .tmp/ (not the system's /tmp, which other projects share); failing that, Debian's
 * chromium-headless-shell or chromium. Unpacking runs here, in one process, so that test
 * files running in parallel never race to unpack it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The Chromium binary, or why there is none. */
    chromium: { path: string } | { problem: string };
  }
}

const ROOT = path.resolve(__dirname, '..', '..');
const SYSTEM_BROWSERS = ['/usr/bin/chromium-headless-shell', '/usr/bin/chromium'];

async function unpackSparticuz(): Promise<string> {
  const tmp = path.join(ROOT, '.tmp');
  fs.mkdirSync(tmp, { recursive: true });
  const previous = process.env.TMPDIR;
  // The package unpacks into os.tmpdir() and points FONTCONFIG_PATH and LD_LIBRARY_PATH there (inherited by the test processes).
  process.env.TMPDIR = tmp;
  try {
    const { default: chromium } = await import('@sparticuz/chromium');
    return await chromium.executablePath();
  } finally {
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
  }
}

export default async function setup(project: TestProject): Promise<void> {
  if (process.env.CHROME_PATH) {
    project.provide('chromium', { path: process.env.CHROME_PATH });
    return;
  }
  try {
    project.provide('chromium', { path: await unpackSparticuz() });
  } catch (err) {
    const fallback = SYSTEM_BROWSERS.find((file) => fs.existsSync(file));
    project.provide('chromium', fallback ? { path: fallback } : { problem: `@sparticuz/chromium could not unpack (${(err as Error).message}) and no system Chromium is installed` });
  }
}
