/**
 * The CLI on `--backend webgpu` (Dawn in Node), as a user runs it. Here Dawn's adapter is
 * SwiftShader, a CPU emulation, so every run is a handful of images: the experiment end to
 * end, a webgpu checkpoint scored on wasm, kill -9 on webgpu and --resume on wasm, and the
 * failures (no package, no adapter, a device lost mid-run) as one line and exit 2.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { useBackend } from '../src/backend/select';
import { latestCheckpointName, readCheckpoint } from '../src/training/checkpoint';
import { CliRun, dataDirWith, expectOneLineError, LiveCli, output, runCli } from './helpers/cli';

vi.setConfig({ testTimeout: 600_000 });
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'deformconv-webgpu-cli-'));
const DATA = dataDirWith(path.join(scratch, 'data'));
const HELPERS = path.join(__dirname, 'helpers');
/** Two epochs of two steps of the regular CNN. */
const TRAIN = [
  'train-regular',
  '--epochs',
  '2',
  '--limit',
  '4',
  '--batch-size',
  '2',
  '--val-limit',
  '2',
  '--seed',
  '5',
  '--data-dir',
  DATA,
];

beforeAll(async () => {
  await useBackend('cpu'); // to read checkpoints in this process
});

afterAll(() => {
  fs.rmSync(scratch, { recursive: true, force: true });
});

function webgpu(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  return runCli(['--backend', 'webgpu', ...args], { env });
}

/** The latest checkpoint's weights, by name. */
async function weights(out: string): Promise<Record<string, Float32Array>> {
  const checkpoint = readCheckpoint(out);
  const values = Object.fromEntries(
    await Promise.all(Object.entries(checkpoint.weights).map(async ([name, t]) => [name, (await t.data()) as Float32Array] as const)),
  );
  tf.dispose([...Object.values(checkpoint.weights), ...checkpoint.optimizerWeights.map((w) => w.tensor)]);
  return values;
}

/** Two runs' latest weights agree to float32 rounding (their epochs ran on different backends). */
async function expectSameWeights(out: string, reference: string): Promise<void> {
  const [a, b] = [await weights(out), await weights(reference)];
  expect(Object.keys(a)).toEqual(Object.keys(b));
  for (const name of Object.keys(b)) {
    const scale = b[name].reduce((most, v) => Math.max(most, Math.abs(v)), 1e-3);
    const diff = b[name].reduce((most, v, i) => Math.max(most, Math.abs(v - a[name][i])), 0);
    expect(diff / scale, name).toBeLessThan(1e-3);
  }
}

describe('the experiment on webgpu', () => {
  it('reproduce --preset smoke runs end to end, records the adapter, and its checkpoints score the same on wasm', async () => {
    const out = path.join(scratch, 'smoke');
    const sizes = ['--limit', '4', '--val-limit', '4', '--test-limit', '8'];
    const run = await webgpu(['reproduce', '--preset', 'smoke', ...sizes, '--out', out, '--data-dir', DATA]);
    expect(run.code, output(run)).toBe(0);
    expect(run.stderr).toMatch(
      /^backend: webgpu \(@tensorflow\/tfjs-backend-webgpu [\d.]+, adapter: .*software adapter.*a CPU emulation, slow\)$/m,
    );
    expect(run.stdout).toMatch(/^\| Scaled MNIST \| \d+\.\d\d% \| \d+\.\d\d% \| 57\.01% \| 92\.55% \|$/m);
    const metrics = JSON.parse(fs.readFileSync(path.join(out, 'results', 'metrics.json'), 'utf8'));
    expect(metrics.backend).toMatchObject({ name: 'webgpu', adapterSoftware: true });
    expect(metrics.scaledTest.count).toBe(8);

    const checkpoints = path.join(out, 'checkpoints');
    const onWasm = await runCli([
      '--backend',
      'wasm',
      'eval',
      '--json',
      '--limit',
      '8',
      '--data-dir',
      DATA,
      '--regular',
      path.join(checkpoints, 'regular'),
      '--deform',
      path.join(checkpoints, 'deform'),
    ]);
    expect(onWasm.code, output(onWasm)).toBe(0);
    const scored = JSON.parse(onWasm.stdout);
    for (const model of ['regular', 'deform']) {
      expect({ plain: scored[model].plain, scaled: scored[model].scaled }, model).toEqual(metrics.results[model]);
    }
  });

  it('kill -9 mid-epoch on webgpu, --resume on wasm (and wasm then webgpu): ends where an uninterrupted webgpu run ends', async () => {
    const straight = path.join(scratch, 'straight');
    const [uninterrupted, killed] = await Promise.all([
      webgpu([...TRAIN, '--out', straight]),
      (async () => {
        const live = new LiveCli(['--backend', 'webgpu', ...TRAIN, '--out', path.join(scratch, 'killed')]);
        await live.waitFor(/^epoch 1\/2: /m);
        // Killed once epoch 1's checkpoint is committed, while epoch 2 trains.
        while (latestCheckpointName(path.join(scratch, 'killed')) !== 'epoch-0001') await new Promise((r) => setTimeout(r, 10));
        live.child.kill('SIGKILL');
        return live.done;
      })(),
    ]);
    expect(uninterrupted.code, output(uninterrupted)).toBe(0);
    expect(killed.signal, output(killed)).toBe('SIGKILL');
    const out = path.join(scratch, 'killed');
    expect(latestCheckpointName(out)).toBe('epoch-0001');
    const resumed = await runCli(['--backend', 'wasm', ...TRAIN, '--out', out, '--resume']);
    expect(resumed.code, output(resumed)).toBe(0);
    expect(latestCheckpointName(out)).toBe(latestCheckpointName(straight));
    await expectSameWeights(out, straight);

    // And back: epoch 1 on wasm, epoch 2 on webgpu, against two epochs on wasm (the same epoch 1).
    const [back, wasmStraight] = [path.join(scratch, 'back'), path.join(scratch, 'wasm-straight')];
    const [first, reference] = await Promise.all([
      runCli(['--backend', 'wasm', ...TRAIN, '--epochs', '1', '--out', back]),
      runCli(['--backend', 'wasm', ...TRAIN, '--out', wasmStraight]),
    ]);
    expect(first.code, output(first)).toBe(0);
    expect(reference.code, output(reference)).toBe(0);
    const second = await webgpu([...TRAIN, '--out', back, '--resume']);
    expect(second.code, output(second)).toBe(0);
    expect(second.stderr).toMatch(/trained on wasm and continues on webgpu/);
    expect(latestCheckpointName(back)).toBe(latestCheckpointName(wasmStraight));
    await expectSameWeights(back, wasmStraight);
  });

  it('report on webgpu: the controls, dcn and dcnv2 fine-tuned, six models evaluated, the pictures drawn', async () => {
    const out = path.join(scratch, 'smoke');
    const run = await webgpu(['report', '--out', out, '--data-dir', DATA]);
    expect(run.code, output(run)).toBe(0);
    const report = fs.readFileSync(path.join(out, 'results', 'REPORT.md'), 'utf8');
    for (const model of ['dcn', 'dcnv2', 'bn-only', 'offsets-only']) expect(report, model).toMatch(new RegExp(model, 'i'));
    for (const picture of ['offsets.png', 'offset-field.png', 'offsets-epochs.gif', 'scaled-samples.png', 'curves.png'])
      expect(fs.existsSync(path.join(out, 'results', picture)), picture).toBe(true);
  });
});

describe('webgpu failures: one line, exit 2, checkpoints untouched', () => {
  it('without the webgpu package: names the package to install', async () => {
    const run = await webgpu(['info'], {
      NODE_OPTIONS: `--require ${path.join(HELPERS, 'hide_packages.js')}`,
      DEFORMCONV_HIDE_PACKAGES: 'webgpu',
    });
    // info lists it as unavailable; a command that needs it fails.
    expect(run.code, output(run)).toBe(0);
    expect(run.stdout).toMatch(
      /^ {2}webgpu +not available: backend 'webgpu' needs webgpu \(Dawn for Node\), which is not installed: run npm install webgpu$/m,
    );
    const train = await webgpu([...TRAIN, '--out', path.join(scratch, 'no-package')], {
      NODE_OPTIONS: `--require ${path.join(HELPERS, 'hide_packages.js')}`,
      DEFORMCONV_HIDE_PACKAGES: 'webgpu',
    });
    expectOneLineError(
      train,
      2,
      /^error: backend 'webgpu' needs webgpu \(Dawn for Node\), which is not installed: run npm install webgpu$/,
    );
    expect(fs.existsSync(path.join(scratch, 'no-package'))).toBe(false);
  });

  it('no adapter at all: says which driver was tried and what to set', async () => {
    const icd = path.join(scratch, 'nowhere_icd.json');
    fs.writeFileSync(icd, JSON.stringify({ file_format_version: '1.0.0', ICD: { library_path: './missing.so', api_version: '1.0.5' } }));
    const run = await webgpu([...TRAIN, '--out', path.join(scratch, 'no-adapter')], { DEFORMCONV_VULKAN_ICD: icd });
    expectOneLineError(
      run,
      2,
      /^error: backend 'webgpu': the Vulkan driver .*nowhere_icd\.json names .*missing\.so, which does not exist; check DEFORMCONV_VULKAN_ICD$/,
    );
    const missing = await webgpu(['info'], { DEFORMCONV_VULKAN_ICD: path.join(scratch, 'absent.json') });
    expect(missing.stdout).toMatch(/^ {2}webgpu +not available: DEFORMCONV_VULKAN_ICD is '.*absent\.json', which does not exist$/m);
  });

  it('the device lost mid-run: one line, exit 2, the last checkpoint kept and resumable', async () => {
    const out = path.join(scratch, 'lost');
    // The device goes away right after epoch 1's checkpoint is committed.
    const lose = { call: 'renameSync', path: 'epoch-0001', when: 'after', do: 'LOSE_GPU' };
    const env = { NODE_OPTIONS: `--require ${path.join(HELPERS, 'fault_inject.js')}`, DEFORMCONV_FAULT_INJECT: JSON.stringify(lose) };
    const run = await webgpu([...TRAIN, '--out', out], env);
    expectOneLineError(run, 2, /^error: the WebGPU device was lost \(destroyed.*\); the last checkpoint is kept: rerun with --resume/);
    expect(latestCheckpointName(out)).toBe('epoch-0001');
    const resumed = await runCli(['--backend', 'wasm', ...TRAIN, '--out', out, '--resume']);
    expect(resumed.code, output(resumed)).toBe(0);
    expect(latestCheckpointName(out)).toBe('epoch-0002');
  });
});
