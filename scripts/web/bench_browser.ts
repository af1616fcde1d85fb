/**
 * The browser benchmark: the experiment's models and the deformable ops in a real
 * headless Chromium, on webgl, webgpu, wasm and cpu (scripts/web/bench_page.ts).
 *
 *   npm run bench:browser                 a report (markdown)
 *   npm run bench:browser -- --json       one JSON object on stdout
 *   options: --backends LIST (webgl,webgpu,wasm,cpu), --rounds N (timed runs per
 *            figure, 3), --budget S (seconds of timed runs per figure, 20),
 *            --out FILE (also write the report there)
 *
 * Headless Chromium runs WebGL 2 and WebGPU on SwiftShader unless the machine has a GPU
 * it uses: the report names the renderer. On SwiftShader the webgl and webgpu figures are
 * a CPU emulation of a GPU: compare them with each other and with the portable path the
 * kernels replace (the figures issue 16 measured), not with wasm.
 *
 * A figure is the median of warm runs (one warm-up first, shader compilation with it).
 * Progress goes to stderr.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import type { Page } from 'puppeteer-core';
import { startStaticServer } from '../../src/demo/static_server';
import { UserError } from '../../src/errors';
import { packageRoot } from '../../src/version';
import type { BenchItem, Timing } from './bench_page';
import { bundleWebPage } from './bundle';
import { findChromium, launchChromium, openPage } from './chromium';

const GPU_BACKENDS = ['webgl', 'webgpu'];
const BATCHES = [1, 8, 32];

interface Options {
  json: boolean;
  backends: string[];
  rounds: number;
  budgetS: number;
  out?: string;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      json: { type: 'boolean', default: false },
      backends: { type: 'string', default: 'webgl,webgpu,wasm,cpu' },
      rounds: { type: 'string', default: '3' },
      budget: { type: 'string', default: '20' },
      out: { type: 'string' },
    },
  });
  const rounds = Number(values.rounds);
  const budgetS = Number(values.budget);
  if (!Number.isInteger(rounds) || rounds < 1) throw new UserError(`--rounds must be a positive integer, got '${values.rounds}'`);
  if (!(budgetS > 0)) throw new UserError(`--budget must be a positive number of seconds, got '${values.budget}'`);
  return { json: values.json, backends: values.backends.split(',').filter(Boolean), rounds, budgetS, out: values.out };
}

/** A row of the report: a figure, on which backends, and what issue 16 measured for it before. */
interface Row {
  section: string;
  label: string;
  item: BenchItem;
  backends: string[];
  /** The portable path's figures in issue 16 (webgl, webgpu), where it gave them. */
  before?: string;
}

/** Every figure, in the report's order. */
function plan(backends: string[]): Row[] {
  const gpus = backends.filter((b) => GPU_BACKENDS.includes(b));
  const rows: Row[] = [];
  const op = (op: 'deformSample' | 'deformConv2d', batch: number, gradients: boolean, portable: boolean): BenchItem => ({
    kind: 'op',
    op,
    batch,
    gradients,
    portable,
  });
  const ops = 'Deformable ops alone, [B, 14, 14, 32] (deformConv2d: 3x3 same, to 64 channels)';
  rows.push(
    { section: ops, label: 'deformSample forward, B = 4', item: op('deformSample', 4, false, false), backends },
    {
      section: ops,
      label: 'deformSample forward + gradients, B = 1',
      item: op('deformSample', 1, true, false),
      backends,
      before: '1.9 s / 23 ms (input gradient)',
    },
    {
      section: ops,
      label: 'deformSample forward + gradients, B = 4',
      item: op('deformSample', 4, true, false),
      backends,
      before: '15.3 s / 62 ms (input gradient)',
    },
    { section: ops, label: 'deformConv2d forward, B = 8', item: op('deformConv2d', 8, false, false), backends, before: '153 ms / 213 ms' },
    {
      section: ops,
      label: 'deformConv2d forward + gradients, B = 8',
      item: op('deformConv2d', 8, true, false),
      backends,
      before: '45.9 s / 2.8 s (gradients)',
    },
    { section: ops, label: 'portable deformSample forward + gradients, B = 1', item: op('deformSample', 1, true, true), backends: gpus },
    { section: ops, label: 'portable deformConv2d forward + gradients, B = 1', item: op('deformConv2d', 1, true, true), backends: gpus },
    {
      section: ops,
      label: 'portable deformConv2d forward + gradients, B = 8',
      item: op('deformConv2d', 8, true, true),
      backends: gpus.filter((b) => b !== 'webgl'),
    },
  );
  const forward = 'Models, forward (inference)';
  for (const model of ['regular', 'seed', 'dcn'] as const) {
    for (const batch of [1, 32])
      rows.push({ section: forward, label: `${model} CNN, batch ${batch}`, item: { kind: 'forward', model, batch }, backends });
  }
  const step = 'Fine-tune step (base frozen; loss, gradients, Adam update)';
  for (const model of ['seed', 'dcn'] as const) {
    for (const batch of BATCHES)
      rows.push({ section: step, label: `${model} CNN, batch ${batch}`, item: { kind: 'step', model, batch }, backends });
  }
  return rows;
}

type Results = Map<Row, Map<string, number | string>>;

async function measure(page: Page, rows: Row[], timing: Timing): Promise<Results> {
  const results: Results = new Map();
  for (const row of rows) {
    const byBackend = new Map<string, number | string>();
    for (const backend of row.backends) {
      process.stderr.write(`${row.label} on ${backend} ... `);
      try {
        const ms = await page.evaluate(
          (b, item, t) => (globalThis as unknown as BenchGlobal).deformBench.run(b, item, t),
          backend,
          row.item as unknown as Record<string, unknown>,
          timing as unknown as Record<string, unknown>,
        );
        byBackend.set(backend, ms);
        process.stderr.write(`${formatMs(ms)}\n`);
      } catch (err) {
        byBackend.set(backend, `failed: ${(err as Error).message.split('\n')[0]}`);
        process.stderr.write(`failed: ${(err as Error).message}\n`);
      }
    }
    results.set(row, byBackend);
  }
  return results;
}

interface BenchGlobal {
  deformBench: {
    run(backend: string, item: unknown, timing: unknown): Promise<number>;
    backends(wanted: string[]): Promise<string[]>;
    renderers(): Promise<Record<string, string>>;
  };
}

function formatMs(value: number | string | undefined): string {
  if (value === undefined) return '';
  if (typeof value === 'string') return value;
  return value >= 10_000 ? `${(value / 1000).toFixed(1)} s` : value >= 100 ? `${Math.round(value)} ms` : `${value.toFixed(1)} ms`;
}

/** Least squares t = a + b * batch over the measured batches, and the worst relative distance from it. */
function linearFit(points: Array<[number, number]>): { intercept: number; slope: number; worst: number } {
  const n = points.length;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const sxy = points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0);
  const sxx = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  const slope = sxy / sxx;
  const intercept = my - slope * mx;
  const worst = Math.max(...points.map(([x, y]) => Math.abs(y - (intercept + slope * x)) / y));
  return { intercept, slope, worst };
}

function linearity(results: Results, backends: string[]): string[] {
  const lines = [
    '',
    '## Fine-tune step against the batch',
    '',
    '| model | backend | batch 1 | batch 8 | batch 32 | per image at 8 / 32 | fit t = a + b·batch | worst deviation from the fit |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const model of ['seed', 'dcn']) {
    for (const backend of backends) {
      const times = BATCHES.map((batch) => {
        const row = [...results.keys()].find((r) => r.item.kind === 'step' && r.item.model === model && r.item.batch === batch);
        return row === undefined ? undefined : results.get(row)?.get(backend);
      });
      if (times.some((t) => typeof t !== 'number')) continue;
      const ms = times as number[];
      const fit = linearFit(BATCHES.map((batch, i) => [batch, ms[i]]));
      lines.push(
        `| ${model} | ${backend} | ${ms.map(formatMs).join(' | ')} | ${formatMs(ms[1] / 8)} / ${formatMs(ms[2] / 32)} | ` +
          `${formatMs(fit.intercept)} + ${formatMs(fit.slope)}·batch | ${(100 * fit.worst).toFixed(0)} % |`,
      );
    }
  }
  return lines;
}

function report(results: Results, backends: string[], renderers: Record<string, string>, timing: Timing): string {
  const label = (backend: string) =>
    backend === 'wasm'
      ? 'wasm (1 thread)'
      : GPU_BACKENDS.includes(backend) && /swiftshader/i.test(renderers[backend] ?? '')
        ? `${backend} (SwiftShader)`
        : backend;
  const lines = [
    '# Browser benchmark (npm run bench:browser)',
    '',
    `Headless Chromium; ${Object.entries(renderers)
      .map(([b, r]) => `${b}: ${r}`)
      .join('; ')}. ${os.cpus().length} CPU cores (${os.cpus()[0]?.model ?? 'unknown'}), ${os.platform()}.`,
    '',
    'Where the renderer is SwiftShader, webgl and webgpu are a CPU emulation of a GPU on the cores above, not a GPU: ' +
      "compare them with each other and with the portable path the kernels replace (issue 16's figures, same emulation), not with wasm or cpu.",
    '',
    `Median of up to ${timing.timedRuns} warm runs (after ${timing.warmupRuns} warm-up) within ${timing.budgetMs / 1000} s per figure.`,
  ];
  let section = '';
  for (const [row, byBackend] of results) {
    if (row.section !== section) {
      section = row.section;
      lines.push(
        '',
        `## ${section}`,
        '',
        `| figure | ${backends.map(label).join(' | ')} | portable path before (issue 16: webgl / webgpu) |`,
        `| --- |${backends.map(() => ' --- |').join('')} --- |`,
      );
    }
    lines.push(`| ${row.label} | ${backends.map((b) => formatMs(byBackend.get(b))).join(' | ')} | ${row.before ?? ''} |`);
  }
  lines.push(
    ...linearity(results, backends.filter((b) => GPU_BACKENDS.includes(b)).concat(backends.filter((b) => !GPU_BACKENDS.includes(b)))),
  );
  return lines.join('\n') + '\n';
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const chromium = await findChromium();
  if ('problem' in chromium) throw new UserError(`no browser: ${chromium.problem}; set CHROME_PATH`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'deformconv-bench-browser-'));
  const server = await startStaticServer({ mounts: [{ prefix: '/', dir }] });
  const browser = await launchChromium(chromium.path);
  try {
    await bundleWebPage({ entry: path.join(packageRoot(), 'scripts', 'web', 'bench_page.ts'), outDir: dir });
    const { page } = await openPage(browser, server.url);
    await page.waitForFunction(() => 'deformBench' in globalThis);
    const backends = await page.evaluate((wanted) => (globalThis as unknown as BenchGlobal).deformBench.backends(wanted), options.backends);
    const renderers = await page.evaluate(() => (globalThis as unknown as BenchGlobal).deformBench.renderers());
    const timing: Timing = { warmupRuns: 1, timedRuns: options.rounds, budgetMs: options.budgetS * 1000 };
    const results = await measure(page, plan(backends), timing);
    if (options.json) {
      const figures = [...results].map(([row, byBackend]) => ({
        section: row.section,
        label: row.label,
        item: row.item,
        ms: Object.fromEntries(byBackend),
      }));
      process.stdout.write(JSON.stringify({ renderers, timing, figures }, null, 2) + '\n');
      return;
    }
    const text = report(results, backends, renderers, timing);
    process.stdout.write(text);
    if (options.out !== undefined) fs.writeFileSync(options.out, text);
  } finally {
    await browser.close();
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`${err instanceof UserError ? err.message : (err as Error).stack}\n`);
  process.exit(1);
});
