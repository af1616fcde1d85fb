import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidInputError } from '../src/errors';
import { ConvOffset2D } from '../src/layers/conv_offset2d';
import { saveAndLoad } from './helpers/models';

const INPUT: [number, number, number] = [6, 5, 3];

function randomBatch(size: number, seed: number): { xs: tf.Tensor4D; ys: tf.Tensor2D } {
  return tf.tidy(() => ({
    xs: tf.randomUniform([size, ...INPUT], 0, 1, 'float32', seed) as tf.Tensor4D,
    ys: tf.oneHot(tf.randomUniform([size], 0, 2, 'int32', seed + 1) as tf.Tensor1D, 2) as tf.Tensor2D,
  }));
}

/** input -> ConvOffset2D -> flatten -> dense(2, softmax). */
function classifier(offsetArgs: Partial<ConstructorParameters<typeof ConvOffset2D>[0]> = {}): tf.Sequential {
  const model = tf.sequential();
  model.add(tf.layers.inputLayer({ inputShape: INPUT }));
  model.add(new ConvOffset2D({ name: 'offsets', filters: INPUT[2], ...offsetArgs }));
  model.add(tf.layers.flatten());
  model.add(tf.layers.dense({ units: 2, activation: 'softmax', name: 'fc', kernelInitializer: 'ones' }));
  model.compile({ optimizer: tf.train.sgd(0.5), loss: 'categoricalCrossentropy' });
  return model;
}

function weightValues(layer: tf.layers.Layer): Float32Array[] {
  return layer.getWeights().map((w) => w.dataSync() as Float32Array);
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('ConvOffset2D', () => {
  it('keeps the input shape and has one 3x3 C->2C kernel, no bias', () => {
    const model = classifier();
    const layer = model.getLayer('offsets');
    expect(layer.outputShape).toEqual([null, ...INPUT]);
    expect(layer.getWeights().map((w) => w.shape)).toEqual([[3, 3, 3, 6]]);
    expect(layer.weights[0].name).toBe('offsets/kernel');
    model.dispose();
  });

  it('initialises the kernel from RandomNormal(0, 0.01) by default', () => {
    const layer = new ConvOffset2D({ filters: 16 });
    layer.apply(tf.input({ shape: [8, 8, 16] }));
    const values = layer.getWeights()[0].dataSync();
    const mean = values.reduce((s, v) => s + v, 0) / values.length;
    const std = Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / values.length);
    expect(Math.abs(mean)).toBeLessThan(0.002);
    expect(std).toBeGreaterThan(0.008);
    expect(std).toBeLessThan(0.012);
    expect(layer.getConfig().kernelInitializer).toMatchObject({
      className: 'RandomNormal',
      config: { mean: 0, stddev: 0.01 },
    });
    layer.dispose();
  });

  it('returns its input exactly when the offset kernel is zero', () => {
    const layer = new ConvOffset2D({ filters: 3, kernelInitializer: tf.initializers.zeros() });
    const { xs, ys } = randomBatch(2, 1);
    const out = layer.apply(xs) as tf.Tensor;
    expect(Array.from(out.dataSync())).toEqual(Array.from(xs.dataSync()));
    tf.dispose([out, xs, ys]);
    layer.dispose();
  });

  it('works inside tf.model (functional API) between ordinary layers', () => {
    const input = tf.input({ shape: [8, 7, 2] });
    const conv = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same' }).apply(input) as tf.SymbolicTensor;
    const deformed = new ConvOffset2D({ filters: 4 }).apply(conv) as tf.SymbolicTensor;
    const pooled = tf.layers.globalAveragePooling2d({}).apply(deformed) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: pooled });
    expect(deformed.shape).toEqual([null, 8, 7, 4]);
    const out = tf.tidy(() => (model.predict(tf.ones([3, 8, 7, 2])) as tf.Tensor).shape);
    expect(out).toEqual([3, 4]);
    model.dispose();
  });

  it('trains its offset kernel in fit', async () => {
    const model = classifier();
    const { xs, ys } = randomBatch(8, 2);
    const before = weightValues(model.getLayer('offsets'));
    const history = await model.fit(xs, ys, { epochs: 2, batchSize: 4, verbose: 0 });
    const after = weightValues(model.getLayer('offsets'));
    expect(history.history.loss.every((l) => Number.isFinite(l as number))).toBe(true);
    expect(after[0]).not.toEqual(before[0]);
    tf.dispose([xs, ys]);
    model.dispose();
  });

  it('stays fixed in fit with trainable=false while the rest trains', async () => {
    const model = classifier({ trainable: false });
    const layer = model.getLayer('offsets');
    expect(layer.trainableWeights).toHaveLength(0);
    const { xs, ys } = randomBatch(8, 3);
    const before = weightValues(layer);
    const fcBefore = weightValues(model.getLayer('fc'));
    await model.fit(xs, ys, { epochs: 2, batchSize: 4, verbose: 0 });
    expect(weightValues(layer)).toEqual(before);
    expect(weightValues(model.getLayer('fc'))[0]).not.toEqual(fcBefore[0]);
    tf.dispose([xs, ys]);
    model.dispose();
  });

  it('round-trips through model.save and tf.loadLayersModel', async () => {
    const model = classifier({ trainable: false });
    const { xs, ys } = randomBatch(4, 4);
    const loaded = await saveAndLoad(model);
    const layer = loaded.getLayer('offsets');
    expect(layer).toBeInstanceOf(ConvOffset2D);
    expect(layer.trainable).toBe(false);
    expect(layer.getConfig()).toMatchObject({
      name: 'offsets',
      trainable: false,
      filters: 3,
      kernelInitializer: { className: 'RandomNormal', config: { mean: 0, stddev: 0.01 } },
    });
    expect(weightValues(layer)).toEqual(weightValues(model.getLayer('offsets')));
    const [a, b] = tf.tidy(() => [model, loaded].map((m) => (m.predict(xs) as tf.Tensor).dataSync()));
    expect(Array.from(b)).toEqual(Array.from(a));
    tf.dispose([xs, ys]);
    model.dispose();
    loaded.dispose();
  });

  it('captures the last offsets only when asked, disposing the one it replaces', () => {
    const model = classifier();
    const layer = model.getLayer('offsets') as ConvOffset2D;
    const { xs, ys } = randomBatch(2, 5);
    (model.predict(xs) as tf.Tensor).dispose();
    expect(layer.lastOffsets).toBeNull();

    layer.captureOffsets = true;
    (model.predict(xs) as tf.Tensor).dispose();
    const tensorsAfterOne = tf.memory().numTensors;
    (model.predict(xs) as tf.Tensor).dispose();
    expect(tf.memory().numTensors).toBe(tensorsAfterOne);

    const captured = layer.lastOffsets as tf.Tensor4D;
    expect(captured.shape).toEqual([2, 6, 5, 6]);
    const expected = tf.tidy(() => tf.conv2d(xs, layer.getWeights()[0] as tf.Tensor4D, 1, 'same').dataSync());
    expect(Array.from(captured.dataSync())).toEqual(Array.from(expected));

    layer.captureOffsets = false;
    expect(layer.lastOffsets).toBeNull();
    expect(captured.isDisposed).toBe(true);
    expect(tf.memory().numTensors).toBe(tensorsAfterOne - 1);
    tf.dispose([xs, ys]);
    model.dispose();
  });

  it('rejects an input whose channels differ from filters, naming the shape', () => {
    const layer = new ConvOffset2D({ name: 'conv21_offset', filters: 64 });
    expect(() => layer.apply(tf.input({ shape: [14, 14, 32] }))).toThrow(InvalidInputError);
    expect(() => layer.apply(tf.input({ shape: [14, 14, 32] }))).toThrow(
      "ConvOffset2D 'conv21_offset': expects input [batch, height, width, 64], got [null, 14, 14, 32]",
    );
    expect(() => new ConvOffset2D({ filters: 0 })).toThrow(/filters must be a positive integer/);
  });
});
