/**
 * finetune-deform --deform-type dcn|dcnv2: conv12, conv21, conv22 as DeformConv2D layers
 * that reuse the trained 3x3 weights, frozen, with only the offset (and mask) convolution
 * learning; the checkpoint records the type, and eval loads and labels it.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../src/backend/select';
// Training on wasm needs the package's backprop kernels.
import '../src/kernels/wasm/replace_tfjs_kernels';
import { buildDeformCnn, buildRegularCnn, DEFORMED_CONV_NAMES, forward } from '../src/models/cnn';
import { transferRegularWeights } from '../src/models/from_regular';
import { namedWeights } from '../src/models/transfer';
import { createAdam } from '../src/optimizers/adam';
import { createStepRunner } from '../src/training/parallel/step_runner';
import { batch, snapshot } from './helpers/models';

const CLI = path.join(__dirname, '..', 'dist', 'src', 'cli', 'main.js');

const LAYERS = [
  'conv11',
  'conv11_relu',
  'conv11_bn',
  'conv12',
  'conv12_relu',
  'conv12_bn',
  'conv21',
  'conv21_relu',
  'conv21_bn',
  'conv22',
  'conv22_relu',
  'conv22_bn',
  'avg_pool',
  'fc1',
  'out',
];

const BN_WEIGHTS = ['conv11_bn', 'conv12_bn', 'conv21_bn', 'conv22_bn'].flatMap((l) => [`${l}/gamma`, `${l}/beta`]);
const OFFSET_WEIGHTS = DEFORMED_CONV_NAMES.flatMap((l) => [`${l}/offset_kernel`, `${l}/offset_bias`]);

/** A deformable model of `deformType` for the fine-tune, started from a seeded regular CNN. */
function fineTuneModel(deformType: 'dcn' | 'dcnv2', freezeBn = false): { model: tf.LayersModel; regular: tf.LayersModel } {
  const regular = buildRegularCnn({ seed: 1 });
  const model = buildDeformCnn({ seed: 2, deformType, trainableBase: false, freezeBn });
  transferRegularWeights(namedWeights(regular), model, deformType);
  return { model, regular };
}

beforeAll(async () => {
  await useBackend('wasm');
});

describe('buildDeformCnn with deformType dcn / dcnv2', () => {
  it('makes conv12, conv21, conv22 DeformConv2D layers under the same names, with nothing in front', () => {
    for (const [deformType, offsetChannels] of [
      ['dcn', 18],
      ['dcnv2', 27],
    ] as const) {
      const model = buildDeformCnn({ seed: 1, deformType });
      expect(model.layers.filter((l) => l.getClassName() !== 'InputLayer').map((l) => l.name)).toEqual(LAYERS);
      const classes = Object.fromEntries(model.layers.map((l) => [l.name, l.getClassName()]));
      for (const name of DEFORMED_CONV_NAMES) {
        expect(classes[name]).toBe('DeformConv2D');
        expect(model.getLayer(name).getConfig()).toMatchObject({ kernelSize: [3, 3], padding: 'same', modulated: deformType === 'dcnv2' });
      }
      expect(classes.conv11).toBe('Conv2D');
      expect(Object.values(classes)).not.toContain('ConvOffset2D');
      const shapes = Object.fromEntries(model.weights.map((w) => [w.originalName, w.shape]));
      expect(shapes['conv12/kernel']).toEqual([3, 3, 32, 64]);
      expect(shapes['conv12/offset_kernel']).toEqual([3, 3, 32, offsetChannels]);
      expect(shapes['conv22/offset_kernel']).toEqual([3, 3, 128, offsetChannels]);
      expect(shapes['conv22/offset_bias']).toEqual([offsetChannels]);
      expect(model.getLayer('conv22').getConfig().strides).toEqual([2, 2]);
      expect(forward(model, tf.zeros([2, 28, 28, 1]), false).shape).toEqual([2, 10]);
      model.dispose();
    }
  });

  it('for the fine-tune, trains only the offset (and mask) convolutions and BatchNorm; with freezeBn only the offsets', () => {
    const names = (model: tf.LayersModel): string[] => model.trainableWeights.map((w) => w.originalName).sort();
    expect(names(buildDeformCnn({ deformType: 'dcnv2', trainableBase: false }))).toEqual([...BN_WEIGHTS, ...OFFSET_WEIGHTS].sort());
    expect(names(buildDeformCnn({ deformType: 'dcn', trainableBase: false, freezeBn: true }))).toEqual([...OFFSET_WEIGHTS].sort());
    expect(names(buildDeformCnn({ deformType: 'dcn' }))).toContain('conv21/kernel');
  });
});

describe('transferRegularWeights', () => {
  it('starts dcn and dcnv2 as exactly the regular CNN: kernels reused (doubled against the 0.5 mask), offsets zero', () => {
    const xs = batch(4, 3).xs;
    for (const deformType of ['dcn', 'dcnv2'] as const) {
      const { model, regular } = fineTuneModel(deformType);
      const from = snapshot(regular);
      const to = snapshot(model);
      for (const name of Object.keys(from)) {
        const deformedKernel = deformType === 'dcnv2' && /^conv(12|21|22)\/kernel$/.test(name);
        expect(to[name]).toEqual(deformedKernel ? from[name].map((v) => 2 * v) : from[name]);
      }
      for (const name of OFFSET_WEIGHTS) expect(to[name].every((v) => v === 0)).toBe(true);
      const diff = tf.max(tf.abs(tf.sub(forward(model, xs, false), forward(regular, xs, false)))).dataSync()[0];
      expect(diff).toBeLessThan(1e-5);
    }
  });

  it('is strict: a source that is not a regular CNN fails naming the weight, and leaves the target untouched', () => {
    const { model, regular } = fineTuneModel('dcn');
    const before = snapshot(model);
    const noConv21 = { ...namedWeights(regular) };
    delete noConv21['conv21/bias'];
    expect(() => transferRegularWeights(noConv21, model, 'dcn', 'checkpoint X')).toThrow("checkpoint X has no weight 'conv21/bias'");
    expect(() => transferRegularWeights(namedWeights(model), model, 'dcn', 'checkpoint Y')).toThrow(
      /checkpoint Y has weights the regular_cnn model lacks: conv12\/offset_kernel/,
    );
    expect(snapshot(model)).toEqual(before);
  });
});

describe('a dcn / dcnv2 fine-tune step', () => {
  it('leaves the frozen kernels bit-identical and moves the offset (and mask) convolutions and BatchNorm', async () => {
    for (const deformType of ['dcn', 'dcnv2'] as const) {
      const { model } = fineTuneModel(deformType);
      const before = snapshot(model);
      const { xs, ys } = batch(8, 1);
      const { loss } = await (await createStepRunner({ model, optimizer: createAdam(5e-4) })).step(xs, ys);
      expect(Number.isFinite(loss)).toBe(true);
      const after = snapshot(model);
      for (const name of ['conv11', 'conv12', 'conv21', 'conv22', 'fc1']) {
        expect(after[`${name}/kernel`]).toEqual(before[`${name}/kernel`]);
        expect(after[`${name}/bias`]).toEqual(before[`${name}/bias`]);
      }
      for (const name of DEFORMED_CONV_NAMES) expect(after[`${name}/offset_kernel`]).not.toEqual(before[`${name}/offset_kernel`]);
      expect(after['conv21_bn/gamma']).not.toEqual(before['conv21_bn/gamma']);
    }
  });
});

describe('finetune-deform --deform-type dcnv2 through the CLI', () => {
  let tmp: string;
  const env = { ...process.env, DEFORMCONV_BACKEND: '', DEBUG: '' };
  const cli = (args: string[]): { status: number | null; stdout: string; stderr: string } => {
    const r = spawnSync(process.execPath, [CLI, '--backend', 'wasm', ...args], { encoding: 'utf8', env });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'deformconv-deform-type-'));
  });

  afterAll(() => {
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('fine-tunes (2 threads), records the type, resumes, and eval loads and labels the checkpoint', () => {
    const dataDir = path.join(tmp, 'data');
    const regular = path.join(tmp, 'regular');
    const deform = path.join(tmp, 'dcnv2');
    const data = ['--data-dir', dataDir];
    expect(cli(['download', '--source', 'package', ...data]).status).toBe(0);
    expect(cli(['train-regular', '--epochs', '1', '--limit', '64', '--val-limit', '50', '--out', regular, ...data]).status).toBe(0);

    const tune = ['finetune-deform', '--from', regular, '--epochs', '1', '--limit', '32', '--batch-size', '16', '--val-limit', '50'];
    const r = cli([...tune, '--deform-type', 'dcnv2', '--threads', '2', '--out', deform, ...data]);
    expect(r.stderr).toMatch(/epoch 1\/1: loss \d+\.\d+, acc .* \| val scaled \(50\)/);
    expect(r.status).toBe(0);
    const metrics = JSON.parse(fs.readFileSync(path.join(deform, 'metrics.json'), 'utf8'));
    expect(metrics.config).toMatchObject({ stage: 'deform', deformType: 'dcnv2', freezeBn: false });
    const latest = JSON.parse(fs.readFileSync(path.join(deform, 'checkpoint.json'), 'utf8')).latest as string;
    const topology = fs.readFileSync(path.join(deform, latest, 'model.json'), 'utf8');
    expect(topology).toContain('"DeformConv2D"');
    expect(topology).not.toContain('ConvOffset2D');

    // --resume continues the saved type (rebuilt from the config, every weight and the Adam state reloaded); another is refused.
    const other = cli([...tune, '--deform-type', 'dcn', '--out', deform, '--resume', ...data]);
    expect(other.status).toBe(1);
    expect(other.stderr).toMatch(/^error: --deform-type dcn differs from the checkpoint's dcnv2/m);
    const resumed = cli(['finetune-deform', '--epochs', '2', '--out', deform, '--resume', ...data]);
    expect(resumed.stderr).toContain('(1 of 2 epochs done)');
    expect(resumed.status).toBe(0);

    const json = cli(['eval', '--regular', regular, '--deform', deform, '--limit', '100', '--json', ...data]);
    expect(json.status).toBe(0);
    const report = JSON.parse(json.stdout);
    expect(report.deformType).toBe('dcnv2');
    expect(report.deform.scaled).toBeGreaterThanOrEqual(0);
    expect(report.deform.scaled).toBeLessThanOrEqual(1);
    const table = cli(['eval', '--deform', deform, '--regular', regular, '--limit', '100', ...data]);
    expect(table.status).toBe(0);
    expect(table.stdout).toMatch(/^\| Test accuracy \| Regular CNN \| Deformable CNN \(dcnv2\) \|/m);
  });
});
