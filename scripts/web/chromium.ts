/**
 * The headless Chromium of the browser tests and the browser scripts: CHROME_PATH when
 * set; else @sparticuz/chromium (a devDependency, so `npm ci` alone brings it, offline),
 * unpacked with its fonts and SwiftShader under the project's .tmp/ (not the shared
 * /tmp); else Debian's chromium-headless-shell or chromium. Launched with WebGL 2 and
 * WebGPU on SwiftShader and no background traffic.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import puppeteer, { type Browser } from 'puppeteer-core';
import { packageRoot } from '../../src/version';

/**
 * SwiftShader for WebGL 2 and WebGPU; none of @sparticuz/chromium's own arguments (they
 * break cross-origin isolation); no background traffic (the network is closed); no GPU
 * watchdog (SwiftShader runs shaders on a CPU that tests keep busy).
 */
export const CHROMIUM_ARGS = [
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

const SYSTEM_BROWSERS = ['/usr/bin/chromium-headless-shell', '/usr/bin/chromium'];

async function unpackSparticuz(): Promise<string> {
  const tmp = path.join(packageRoot(), '.tmp');
  fs.mkdirSync(tmp, { recursive: true });
  const previous = process.env.TMPDIR;
  // The package unpacks into os.tmpdir() and points FONTCONFIG_PATH and LD_LIBRARY_PATH there (child processes inherit them).
  process.env.TMPDIR = tmp;
  try {
    const { default: chromium } = await import('@sparticuz/chromium');
    return await chromium.executablePath();
  } finally {
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
  }
}

/** The Chromium binary to use, or why there is none. */
export async function findChromium(): Promise<{ path: string } | { problem: string }> {
  if (process.env.CHROME_PATH) return { path: process.env.CHROME_PATH };
  try {
    return { path: await unpackSparticuz() };
  } catch (err) {
    const fallback = SYSTEM_BROWSERS.find((file) => fs.existsSync(file));
    return fallback ? { path: fallback } : { problem: `@sparticuz/chromium could not unpack (${(err as Error).message}) and no system Chromium is installed` };
  }
}

/** Starts headless Chromium (the binary of findChromium unless given). */
export async function launchChromium(executablePath?: string): Promise<Browser> {
  const found = executablePath === undefined ? await findChromium() : { path: executablePath };
  if ('problem' in found) throw new Error(`no headless Chromium: ${found.problem}; set CHROME_PATH`);
  return puppeteer.launch({ executablePath: found.path, headless: 'shell', args: CHROMIUM_ARGS, protocolTimeout: 600_000 });
}
