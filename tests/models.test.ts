import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../src/backend/select';
// Training on wasm needs the package's backprop kernels.
import '../src/kernels/wasm/replace_tfjs_kernels';
import { buildDeformCnn, buildRegularCnn, forward, OFFSET_LAYER_NAMES } from '../src/models/cnn';
import { namedWeights, transferWeights } from '../src/models/transfer';
import { createAdam } from '../src/optimizers/adam';
import { createStepRunner } from '../src/training/parallel/step_runner';
import { batch, snapshot } from './helpers/models';

const REGULAR_LAYERS = [
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

function layerNames(model: tf.LayersModel): string[] {
  return model.layers.filter((l) => l.getClassName() !== 'InputLayer').map((l) => l.name);
}

beforeAll(async () => {
  await useBackend('wasm');
});

describe('buildRegularCnn', () => {
  it('has the reference layers, names, shapes and BatchNorm settings', () => {
    const model = buildRegularCnn({ seed: 1 });
    expect(layerNames(model)).toEqual(REGULAR_LAYERS);
    expect(model.outputs[0].shape).toEqual([null, 10]);
    const shapes = Object.fromEntries(model.weights.map((w) => [w.originalName, w.shape]));
    expect(shapes['conv11/kernel']).toEqual([3, 3, 1, 32]);
    expect(shapes['conv12/kernel']).toEqual([3, 3, 32, 64]);
    expect(shapes['conv21/kernel']).toEqual([3, 3, 64, 128]);
    expect(shapes['conv22/kernel']).toEqual([3, 3, 128, 128]);
    expect(shapes['fc1/kernel']).toEqual([128, 10]);
    expect(model.countParams()).toBe(242954);
    const strides = ['conv11', 'conv12', 'conv21', 'conv22'].map((n) => (model.getLayer(n).getConfig() as { strides: number[] }).strides);
    expect(strides).toEqual([
      [1, 1],
      [2, 2],
      [1, 1],
      [2, 2],
    ]);
    for (const name of ['conv11_bn', 'conv12_bn', 'conv21_bn', 'conv22_bn']) {
      const config = model.getLayer(name).getConfig() as { momentum: number; epsilon: number };
      expect(config.momentum).toBe(0.99);
      expect(config.epsilon).toBe(1e-3);
    }
    const y = forward(model, tf.zeros([2, 28, 28, 1]), false);
    expect(y.shape).toEqual([2, 10]);
    expect(Array.from(tf.sum(y, 1).dataSync()).every((s) => Math.abs(s - 1) < 1e-5)).toBe(true);
  });

  it('builds the same weights from the same seed, different ones from another', () => {
    const a = snapshot(buildRegularCnn({ seed: 5 }));
    const b = snapshot(buildRegularCnn({ seed: 5 }));
    const c = snapshot(buildRegularCnn({ seed: 6 }));
    expect(b).toEqual(a);
    expect(c['conv21/kernel']).not.toEqual(a['conv21/kernel']);
  });
});

describe('buildDeformCnn', () => {
  it('puts an offset layer before conv12, conv21 and conv22', () => {
    const model = buildDeformCnn({ seed: 1 });
    const expected = REGULAR_LAYERS.flatMap((n) => (['conv12', 'conv21', 'conv22'].includes(n) ? [`${n}_offset`, n] : [n]));
    expect(layerNames(model)).toEqual(expected);
    const shapes = Object.fromEntries(model.weights.map((w) => [w.originalName, w.shape]));
    expect(shapes['conv12_offset/kernel']).toEqual([3, 3, 32, 64]);
    expect(shapes['conv21_offset/kernel']).toEqual([3, 3, 64, 128]);
    expect(shapes['conv22_offset/kernel']).toEqual([3, 3, 128, 256]);
    for (const name of OFFSET_LAYER_NAMES) expect(model.getLayer(name).weights).toHaveLength(1); // no bias
    const offsets = model.getLayer('conv21_offset').weights[0].read();
    const std = Math.sqrt(tf.moments(offsets).variance.dataSync()[0]);
    expect(std).toBeGreaterThan(0.008);
    expect(std).toBeLessThan(0.012);
    expect(forward(model, tf.zeros([2, 28, 28, 1]), false).shape).toEqual([2, 10]);
  });

  it('freezes conv11, conv12, conv21, conv22 and fc1 for the fine-tune; BatchNorm too with freezeBn', () => {
    const fineTune = buildDeformCnn({ trainableBase: false });
    expect(fineTune.trainableWeights.map((w) => w.originalName).sort()).toEqual(
      [
        'conv11_bn/beta',
        'conv11_bn/gamma',
        'conv12_bn/beta',
        'conv12_bn/gamma',
        'conv21_bn/beta',
        'conv21_bn/gamma',
        'conv22_bn/beta',
        'conv22_bn/gamma',
        'conv12_offset/kernel',
        'conv21_offset/kernel',
        'conv22_offset/kernel',
      ].sort(),
    );
    const offsetsOnly = buildDeformCnn({ trainableBase: false, freezeBn: true });
    expect(offsetsOnly.trainableWeights.map((w) => w.originalName).sort()).toEqual([
      'conv12_offset/kernel',
      'conv21_offset/kernel',
      'conv22_offset/kernel',
    ]);
  });
});

describe('transferWeights', () => {
  it('loads a regular CNN into the deformable one by layer name, leaving the offsets alone', () => {
    const regular = buildRegularCnn({ seed: 1 });
    const deform = buildDeformCnn({ seed: 2 });
    const offsetsBefore = snapshot(deform)['conv21_offset/kernel'];
    transferWeights(regular, deform, { newLayers: OFFSET_LAYER_NAMES });
    const from = snapshot(regular);
    const to = snapshot(deform);
    for (const name of Object.keys(from)) expect(to[name]).toEqual(from[name]);
    expect(to['conv21_offset/kernel']).toEqual(offsetsBefore);
  });

  it('fails clearly on a missing layer, a missing weight, a shape mismatch, a deformable source, a foreign weight', () => {
    const regular = buildRegularCnn({ seed: 1 });
    const deform = buildDeformCnn({ seed: 2 });
    const weights = (): tf.NamedTensorMap => ({ ...namedWeights(regular) });
    const opts = { newLayers: OFFSET_LAYER_NAMES, sourceLabel: 'checkpoint X' };

    const noConv21 = weights();
    delete noConv21['conv21/kernel'];
    delete noConv21['conv21/bias'];
    expect(() => transferWeights(noConv21, deform, opts)).toThrow("checkpoint X has no layer 'conv21'");

    const noBias = weights();
    delete noBias['conv22/bias'];
    expect(() => transferWeights(noBias, deform, opts)).toThrow("checkpoint X has no weight 'conv22/bias'");

    const wrongShape = { ...weights(), 'fc1/kernel': tf.zeros([64, 10]) };
    expect(() => transferWeights(wrongShape, deform, opts)).toThrow("weight 'fc1/kernel' has shape [64,10] in checkpoint X but [128,10]");

    expect(() => transferWeights(buildDeformCnn(), deform, opts)).toThrow("already has layer 'conv12_offset'");

    const foreign = { ...weights(), 'dense_7/kernel': tf.zeros([3, 3]) };
    expect(() => transferWeights(foreign, deform, opts)).toThrow('has weights the deform_cnn model lacks: dense_7/kernel');

    // Strict by default: a regular source cannot fill a deformable model's offset layers.
    expect(() => transferWeights(regular, deform)).toThrow("has no layer 'conv12_offset'");
  });
});

describe('a fine-tune step', () => {
  it('leaves frozen weights bit-identical and moves the offsets and BatchNorm', async () => {
    const model = buildDeformCnn({ seed: 3, trainableBase: false });
    transferWeights(buildRegularCnn({ seed: 1 }), model, { newLayers: OFFSET_LAYER_NAMES });
    const before = snapshot(model);
    const runner = await createStepRunner({ model, optimizer: createAdam(5e-4) });
    const { xs, ys } = batch(8, 1);
    const { loss } = await runner.step(xs, ys);
    expect(Number.isFinite(loss)).toBe(true);
    const after = snapshot(model);
    for (const name of ['conv11', 'conv12', 'conv21', 'conv22', 'fc1']) {
      expect(after[`${name}/kernel`]).toEqual(before[`${name}/kernel`]);
      expect(after[`${name}/bias`]).toEqual(before[`${name}/bias`]);
    }
    for (const name of OFFSET_LAYER_NAMES) expect(after[`${name}/kernel`]).not.toEqual(before[`${name}/kernel`]);
    expect(after['conv21_bn/gamma']).not.toEqual(before['conv21_bn/gamma']);
    expect(after['conv21_bn/moving_mean']).not.toEqual(before['conv21_bn/moving_mean']);
  });

  it('with freezeBn moves only the offsets (BatchNorm runs on its moving statistics)', async () => {
    const model = buildDeformCnn({ seed: 3, trainableBase: false, freezeBn: true });
    const before = snapshot(model);
    const { xs, ys } = batch(8, 2);
    await (await createStepRunner({ model, optimizer: createAdam(5e-4) })).step(xs, ys);
    const after = snapshot(model);
    for (const name of Object.keys(before)) {
      if ((OFFSET_LAYER_NAMES as readonly string[]).includes(name.split('/')[0])) {
        expect(after[name]).not.toEqual(before[name]);
      } else {
        expect(after[name]).toEqual(before[name]);
      }
    }
  });
});
