/**
 * A real headless Chromium with WebGL 2 and WebGPU running on SwiftShader, for the
 * browser tests (tests/setup/chromium.ts finds it once per run) and the browser
 * benchmark (scripts/web/bench_browser.ts), and pages that report their console errors.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';

/**
 * SwiftShader for WebGL 2 and WebGPU; none of @sparticuz/chromium's own arguments (they
 * break cross-origin isolation); no background traffic (the network is closed); no GPU
 * watchdog (SwiftShader runs shaders on a CPU that other work keeps busy).
 */
const ARGS = [
  '--no-sandbox',
  '--use-angle=swiftshader',
  '--enable-unsafe-swiftshader',
  '--enable-unsafe-webgpu',
  '--enable-features=Vulkan',
  '--use-webgpu-adapter=swiftshader',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-gpu-watchdog',
  '--no-first-run',
];

/** The project's root: the nearest folder up with a package.json (this file runs from scripts/ and from dist/scripts/). */
function projectRoot(dir: string): string {
  return fs.existsSync(path.join(dir, 'package.json')) ? dir : projectRoot(path.dirname(dir));
}
const SYSTEM_BROWSERS = ['/usr/bin/chromium-headless-shell', '/usr/bin/chromium'];

/** The Chromium binary, or why there is none. */
export type ChromiumLocation = { path: string } | { problem: string };

async function unpackSparticuz(): Promise<string> {
  const tmp = path.join(projectRoot(__dirname), '.tmp');
  fs.mkdirSync(tmp, { recursive: true });
  const previous = process.env.TMPDIR;
  // The package unpacks into os.tmpdir() and points FONTCONFIG_PATH and LD_LIBRARY_PATH there (inherited by child processes).
  process.env.TMPDIR = tmp;
  try {
    const { default: chromium } = await import('@sparticuz/chromium');
    return await chromium.executablePath();
  } finally {
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
  }
}

/**
 * CHROME_PATH when set; otherwise @sparticuz/chromium (a devDependency, so `npm ci` alone
 * brings it, offline) unpacked under the project's .tmp/ (not the system's /tmp, which
 * other projects share); failing that, Debian's chromium-headless-shell or chromium.
 */
export async function findChromium(): Promise<ChromiumLocation> {
  if (process.env.CHROME_PATH) return { path: process.env.CHROME_PATH };
  try {
    return { path: await unpackSparticuz() };
  } catch (err) {
    const fallback = SYSTEM_BROWSERS.find((file) => fs.existsSync(file));
    return fallback
      ? { path: fallback }
      : { problem: `@sparticuz/chromium could not unpack (${(err as Error).message}) and no system Chromium is installed` };
  }
}

/** Starts the browser (at `executablePath`, else findChromium's), headless, with SwiftShader for WebGL 2 and WebGPU. */
export async function launchChromium(executablePath?: string): Promise<Browser> {
  const found = executablePath === undefined ? await findChromium() : { path: executablePath };
  if ('problem' in found) throw new Error(`no headless Chromium: ${found.problem}; set CHROME_PATH`);
  return puppeteer.launch({ executablePath: found.path, headless: 'shell', args: ARGS, protocolTimeout: 3_600_000 });
}

/** A page at `url`, and the console errors and uncaught exceptions it has logged so far. */
export async function openPage(browser: Browser, url: string): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  page.on('pageerror', (error) => errors.push(String(error)));
  await page.goto(url, { waitUntil: 'load' });
  return { page, errors };
}
