/** The headless Chromium that tests/setup/chromium.ts found, for the browser tests. */
import type { Browser } from 'puppeteer-core';
import { inject } from 'vitest';
import { launchChromium } from '../../scripts/web/chromium';

export { openPage } from '../../scripts/web/chromium';

export async function launchBrowser(): Promise<Browser> {
  const chromium = inject('chromium');
  if ('problem' in chromium) throw new Error(`no browser for the browser tests: ${chromium.problem}; set CHROME_PATH`);
  return launchChromium(chromium.path);
}
