/**
 * A real headless Chromium for tests (found by tests/setup/chromium.ts), with WebGL 2 and
 * WebGPU running on SwiftShader, and pages that report their console errors.
 */
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { inject } from 'vitest';

/**
 * SwiftShader for WebGL 2 and WebGPU; none of @sparticuz/chromium's own arguments (they
 * break cross-origin isolation); no background traffic (the network is closed).
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
  '--no-first-run',
];

export async function launchBrowser(): Promise<Browser> {
  const chromium = inject('chromium');
  if ('problem' in chromium) throw new Error(`no browser for the browser tests: ${chromium.problem}; set CHROME_PATH`);
  return puppeteer.launch({ executablePath: chromium.path, headless: 'shell', args: ARGS, protocolTimeout: 600_000 });
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
