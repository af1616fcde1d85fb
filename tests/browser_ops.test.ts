/**
 * The deformable ops in a real browser: deformSample and deformConv2d, forward and every
 * gradient, on webgl and webgpu (SwiftShader in headless Chromium) and wasm, against the
 * cpu backend in the same page, for the shapes the models use and for strides,
 * dilation, offset groups, masks and bias: the ops on each backend's fused kernels, and
 * their portable compositions, which must run within every backend's limits too.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Browser, Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleWebPage } from '../scripts/web/bundle';
import { startStaticServer, StaticServer } from '../src/demo/static_server';
import type { OpCase } from './browser/ops_page';
import { launchBrowser, openPage } from './helpers/browser';
import { worstError } from './helpers/close';

const TOLERANCE = 1e-4;

const CASES: Record<string, OpCase> = {
  'deformSample, conv21_offset shape [2, 14, 14, 64]': { op: 'deformSample', x: [2, 14, 14, 64], spread: 3 },
  'deformSample, small [1, 5, 7, 3], far offsets': { op: 'deformSample', x: [1, 5, 7, 3], spread: 8 },
  'deformConv2d, conv12 as DCN: [2, 28, 28, 32] -> 64, stride 2, same': {
    op: 'deformConv2d',
    x: [2, 28, 28, 32],
    kernel: [3, 3],
    filters: 64,
    strides: 2,
    padding: 'same',
    dilations: 1,
    offsetGroups: 1,
    mask: false,
    bias: false,
    spread: 2,
  },
  'deformConv2d, conv21 as DCNv2: [2, 14, 14, 64] -> 128, mask and bias': {
    op: 'deformConv2d',
    x: [2, 14, 14, 64],
    kernel: [3, 3],
    filters: 128,
    strides: 1,
    padding: 'same',
    dilations: 1,
    offsetGroups: 1,
    mask: true,
    bias: true,
    spread: 2,
  },
  'deformConv2d, dilation 2, 2 offset groups, valid, 3x2 kernel': {
    op: 'deformConv2d',
    x: [2, 9, 8, 4],
    kernel: [3, 2],
    filters: 5,
    strides: 1,
    padding: 'valid',
    dilations: 2,
    offsetGroups: 2,
    mask: true,
    bias: false,
    spread: 3,
  },
  'deformConv2d, conv22 as DCN: [2, 14, 14, 128] -> 128, stride 2, 4 offset groups': {
    op: 'deformConv2d',
    x: [2, 14, 14, 128],
    kernel: [3, 3],
    filters: 128,
    strides: 2,
    padding: 'same',
    dilations: 1,
    offsetGroups: 4,
    mask: false,
    bias: true,
    spread: 4,
  },
};

/** The portable compositions, on small shapes (webgl's ScatterNd compares every update with every output row). */
const PORTABLE_CASES: Record<string, OpCase> = {
  'portable deformSample, [1, 5, 7, 3], far offsets': { op: 'deformSample', path: 'portable', x: [1, 5, 7, 3], spread: 8 },
  'portable deformConv2d, stride 2, dilation 2, 2 offset groups, mask and bias': {
    op: 'deformConv2d',
    path: 'portable',
    x: [2, 9, 8, 4],
    kernel: [3, 2],
    filters: 5,
    strides: 2,
    padding: 'same',
    dilations: 2,
    offsetGroups: 2,
    mask: true,
    bias: true,
    spread: 3,
  },
};

interface RunResult {
  outputs: number[][];
  ms: number;
  fused: boolean;
}

let browser: Browser;
let server: StaticServer;
let page: Page;
let errors: string[];
let backends: string[];
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'deformconv-browser-ops-'));

beforeAll(async () => {
  await bundleWebPage({ entry: path.join(__dirname, 'browser', 'ops_page.ts'), outDir: tmp });
  server = await startStaticServer({ mounts: [{ prefix: '/', dir: tmp }] });
  browser = await launchBrowser();
  ({ page, errors } = await openPage(browser, server.url));
  await page.waitForFunction(() => 'deformOps' in window);
  backends = await page.evaluate(() => (window as unknown as { deformOps: { backends(): Promise<string[]> } }).deformOps.backends());
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

function run(backend: string, c: OpCase): Promise<RunResult> {
  return page.evaluate(
    (b, k) => (window as unknown as { deformOps: { run(b: string, k: unknown): Promise<RunResult> } }).deformOps.run(b, k),
    backend,
    c as unknown as Record<string, unknown>,
  );
}

/** cpu's results, once per case. */
const expectedRuns = new Map<OpCase, Promise<RunResult>>();

function expected(c: OpCase): Promise<RunResult> {
  if (!expectedRuns.has(c)) expectedRuns.set(c, run('cpu', c));
  return expectedRuns.get(c) as Promise<RunResult>;
}

async function expectMatchesCpu(backend: string, c: OpCase): Promise<RunResult> {
  const cpu = await expected(c);
  const actual = await run(backend, c);
  expect(actual.outputs.map((o) => o.length)).toEqual(cpu.outputs.map((o) => o.length));
  cpu.outputs.forEach((e, i) => {
    const scale = e.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const { error } = worstError(Float32Array.from(actual.outputs[i]), Float32Array.from(e));
    expect(error, `${backend} output ${i} (0: forward, then the inputs' gradients), largest value ${scale}`).toBeLessThanOrEqual(
      TOLERANCE * Math.max(scale, 1e-6),
    );
  });
  expect(errors).toEqual([]);
  return actual;
}

describe('deformable ops in headless Chromium', () => {
  it('offers webgl, webgpu, wasm and cpu', () => {
    expect(backends).toEqual(['webgl', 'webgpu', 'wasm', 'cpu']);
  });

  for (const [name, c] of Object.entries(CASES)) {
    for (const backend of ['webgl', 'webgpu', 'wasm']) {
      it(`${name}: ${backend}'s fused kernels match cpu, forward and gradients`, async () => {
        const actual = await expectMatchesCpu(backend, c);
        expect(actual.fused).toBe(true);
        expect((await expected(c)).fused).toBe(true);
      });
    }
  }

  for (const [name, c] of Object.entries(PORTABLE_CASES)) {
    for (const backend of ['webgl', 'webgpu', 'wasm']) {
      it(`${name}: runs on ${backend} and matches cpu, forward and gradients`, async () => {
        await expectMatchesCpu(backend, c);
      });
    }
  }
});
