/**
 * The fused Adam of src/training/optimizer.ts: on wasm (its AdamUpdate kernel) it must
 * give tfjs's AdamOptimizer's results bit for bit, and the same state.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import '../src/kernels/wasm/replace_tfjs_kernels';
import { ADAM_BETA1, ADAM_BETA2, ADAM_EPSILON, createAdam, FusedAdamOptimizer } from '../src/optimizers/adam';
import { mulberry32 } from './helpers/random';

function values(seed: number, shape: number[]): tf.Tensor {
  const next = mulberry32(seed);
  return tf.tensor(
    Float32Array.from({ length: tf.util.sizeFromShape(shape) }, () => next() * 2 - 1),
    shape,
  );
}

/** Three steps of `optimizer` on fresh variables (sizes with and without a remainder of 4); their values and the optimizer's weights. */
async function run(optimizer: tf.Optimizer, tag: string): Promise<{ values: number[][]; weights: { name: string; values: number[] }[] }> {
  const shapes = [[7], [3, 4], [2, 2, 3, 5]];
  const variables = shapes.map((shape, i) => tf.variable(values(i, shape), true, `${tag}_w${i}`));
  for (let step = 0; step < 3; step++) {
    const grads = variables.map((v, i) => ({ name: v.name, tensor: values(100 * step + i, v.shape) }));
    optimizer.applyGradients(grads);
    tf.dispose(grads.map((g) => g.tensor));
  }
  const weights = (await optimizer.getWeights()).map((w) => ({ name: w.name.replace(tag, ''), values: Array.from(w.tensor.dataSync()) }));
  const result = { values: variables.map((v) => Array.from(v.dataSync())), weights };
  variables.forEach((v) => v.dispose());
  return result;
}

describe('fused Adam', () => {
  beforeAll(async () => {
    await tf.setBackend('wasm');
  });

  it('runs the AdamUpdate kernel on wasm and matches tfjs Adam bit for bit', async () => {
    const ours = createAdam(0.01);
    expect(ours).toBeInstanceOf(FusedAdamOptimizer);
    const profile = await tf.profile(async () => {
      await run(createAdam(0.01), 'profiled');
    });
    expect(profile.kernels.some((k) => k.name === 'AdamUpdate')).toBe(true);
    const expected = await run(tf.train.adam(0.01, ADAM_BETA1, ADAM_BETA2, ADAM_EPSILON), 'tfjs');
    const actual = await run(ours, 'ours');
    expect(actual).toEqual(expected);
  });

  it('is tfjs Adam on a backend without the kernel (cpu)', async () => {
    await tf.setBackend('cpu');
    try {
      const expected = await run(tf.train.adam(0.01, ADAM_BETA1, ADAM_BETA2, ADAM_EPSILON), 'tfjs');
      const actual = await run(createAdam(0.01), 'ours');
      expect(actual).toEqual(expected);
    } finally {
      await tf.setBackend('wasm');
    }
  });
});
