/**
 * The screenshots of `deformconv demo` in docs/CLI.md, taken in headless Chromium (webgl on
 * SwiftShader) from trained checkpoints:
 *
 *   node dist/scripts/demo_screenshots.js --regular DIR --deform DIR [--data-dir data] [--out docs]
 *
 * demo-drawn.png: a digit drawn with the mouse, then shrunk with the sliders;
 * demo-traced.png: a test digit as the scaled test set shows it, with the sampling points
 * of the unit on its ink. Also prints the milliseconds per update of both models on each
 * backend the browser offers (mean of 10 updates after a warm-up).
 */
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import type { Page } from 'puppeteer-core';
import { demoMounts } from '../src/demo/site';
import { startStaticServer } from '../src/demo/static_server';
import { launchChromium } from './web/chromium';

/** A hand-drawn 7, in pad pixels (of 28): a top bar, then the downstroke. */
const SEVEN: [number, number][][] = [
  [
    [7, 8],
    [7, 19],
  ],
  [
    [7, 19],
    [14, 15],
    [22, 11],
  ],
];

type Demo = {
  page: { settled(): Promise<{ milliseconds: Record<string, number> }> } & Record<string, (...args: never[]) => unknown>;
  ready: Promise<void>;
};

async function call(page: Page, method: string, ...args: unknown[]): Promise<void> {
  await page.evaluate((m, a) => (globalThis as unknown as { deformDemo: Demo }).deformDemo.page[m](...(a as never[])), method, args);
  await page.evaluate(() => (globalThis as unknown as { deformDemo: Demo }).deformDemo.page.settled());
}

async function drawSeven(page: Page): Promise<void> {
  const box = await (await page.$('#pad'))?.boundingBox();
  if (!box) throw new Error('no drawing pad');
  const at = ([y, x]: [number, number]): [number, number] => [box.x + ((x + 0.5) / 28) * box.width, box.y + ((y + 0.5) / 28) * box.height];
  await call(page, 'setScaling', { zoomRow: 1, zoomCol: 1, shiftRow: 0, shiftCol: 0 });
  await page.click('#clear');
  for (const stroke of SEVEN) {
    await page.mouse.move(...at(stroke[0]));
    await page.mouse.down();
    for (const point of stroke.slice(1)) await page.mouse.move(...at(point), { steps: 12 });
    await page.mouse.up();
  }
}

/** Mean milliseconds per update of each model on `backend`, after a warm-up. */
async function updateTimes(page: Page, backend: string): Promise<Record<string, number>> {
  await call(page, 'useBackend', backend);
  const sums: Record<string, number> = {};
  for (let i = 0; i < 12; i++) {
    await call(page, 'setScaling', { zoomRow: 1 + i / 10, zoomCol: 1.5, shiftRow: 0, shiftCol: 0 });
    const { milliseconds } = await page.evaluate(() => (globalThis as unknown as { deformDemo: Demo }).deformDemo.page.settled());
    if (i < 2) continue;
    for (const [role, ms] of Object.entries(milliseconds)) sums[role] = (sums[role] ?? 0) + ms / 10;
  }
  return sums;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      regular: { type: 'string' },
      deform: { type: 'string' },
      'data-dir': { type: 'string', default: 'data' },
      out: { type: 'string', default: 'docs' },
    },
  });
  if (!values.regular || !values.deform) throw new Error('--regular and --deform are required');
  const server = await startStaticServer({
    mounts: demoMounts({ regular: values.regular, deform: values.deform, dataDir: values['data-dir'] as string }),
  });
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1100, height: 1000 });
    await page.goto(server.url);
    await page.waitForFunction(() => 'deformDemo' in globalThis);
    await page.evaluate(() => (globalThis as unknown as { deformDemo: Demo }).deformDemo.ready);

    await drawSeven(page);
    await call(page, 'setScaling', { zoomRow: 2.1, zoomCol: 1.9, shiftRow: 1.4, shiftCol: -1.1 });
    await page.screenshot({ path: path.join(values.out as string, 'demo-drawn.png'), fullPage: true });

    await call(page, 'showTestDigit', 12, true);
    const seen = await page.$('#seen');
    const unit = await page.evaluate(() => {
      const u = (globalThis as unknown as { deformDemo: { page: { latest: { seen: Float32Array } } } }).deformDemo.page.latest.seen;
      let [total, y, x] = [0, 0, 0];
      u.forEach((v, i) => ([total, y, x] = [total + v, y + v * Math.floor(i / 28), x + v * (i % 28)]));
      return [y / total, x / total];
    });
    const box = await seen?.boundingBox();
    if (!box) throw new Error('no scaled image');
    await page.mouse.click(box.x + ((unit[1] + 0.5) / 28) * box.width, box.y + ((unit[0] + 0.5) / 28) * box.height);
    await page.evaluate(() => (globalThis as unknown as { deformDemo: Demo }).deformDemo.page.settled());
    await page.screenshot({ path: path.join(values.out as string, 'demo-traced.png'), fullPage: true });

    const offered = await page.$$eval('#backend option', (options) => options.map((o) => (o as unknown as { value: string }).value));
    for (const backend of offered) {
      const times = await updateTimes(page, backend);
      process.stdout.write(
        `${backend}: ${Object.entries(times)
          .map(([role, ms]) => `${role} ${ms.toFixed(1)} ms`)
          .join(', ')} per update (SwiftShader)\n`,
      );
    }
  } finally {
    await browser.close();
    await server.close();
  }
}

main().catch((err) => {
  process.stderr.write(`demo_screenshots: ${(err as Error).message}\n`);
  process.exitCode = 1;
});
