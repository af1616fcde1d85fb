/**
 * A real headless Chromium for tests (found once by tests/setup/chromium.ts), with WebGL 2
 * and WebGPU running on SwiftShader, and pages that report their console errors.
 */
import type { Browser, Page } from 'puppeteer-core';
import { inject } from 'vitest';
import { launchChromium } from '../../scripts/web/chromium';

export async function launchBrowser(): Promise<Browser> {
  const chromium = inject('chromium');
  if ('problem' in chromium) throw new Error(`no browser for the browser tests: ${chromium.problem}; set CHROME_PATH`);
  return launchChromium(chromium.path);
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
