/**
 * The webgpu kernels of batchNormTraining (forward and gradient) and of the fused Adam,
 * on tfjs's webgpu backend in Node (SwiftShader where there is no GPU), against the cpu
 * backend's results, and that the ops really dispatch to them. Small shapes: SwiftShader
 * emulates the GPU on the CPU. Values are read with data(): webgpu in Node has no
 * synchronous read.
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { useBackend } from '../src/backend/select';
import { EnvironmentError } from '../src/errors';
import { ADAM_UPDATE, BATCH_NORM_TRAINING, BATCH_NORM_TRAINING_GRAD } from '../src/kernels/kernel_names';
import { batchNormTraining } from '../src/ops/batch_norm_training';
import { FusedAdamOptimizer } from '../src/optimizers/adam';
import { mulberry32 } from './helpers/random';

/** Why webgpu cannot start here, or undefined when it runs. */
async function webgpuProblem(): Promise<string | undefined> {
  try {
    await useBackend('webgpu');
    return undefined;
  } catch (error) {
    if (error instanceof EnvironmentError) return error.message;
    throw error;
  }
}
const problem = await webgpuProblem();

/** Numbers in [-1, 1) from `seed`, plus `shift` (an offset that makes the mean matter). */
function numbers(seed: number, size: number, shift = 0): Float32Array {
  const next = mulberry32(seed);
  return Float32Array.from({ length: size }, () => next() * 2 - 1 + shift);
}

/** Runs `compute` on `backend` and reads its tensors back. */
async function on(backend: string, compute: () => tf.Tensor[]): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const tensors = compute();
  const values = await Promise.all(tensors.map(async (t) => (await t.data()) as Float32Array));
  tf.dispose(tensors);
  return values;
}

/** Expects `actual` within 1e-5 of `expected`, relative to the largest magnitude in `expected`. */
function expectClose(actual: Float32Array, expected: Float32Array): void {
  expect(actual.length).toBe(expected.length);
  const magnitude = expected.reduce((most, value) => Math.max(most, Math.abs(value)), 0);
  const worst = actual.reduce((most, value, i) => Math.max(most, Math.abs(value - expected[i])), 0);
  expect(worst).toBeLessThanOrEqual(1e-5 * magnitude);
}

const X_SHAPE = [2, 5, 5, 8];
const CHANNELS = 8;
const EPSILON = 1e-3;

/** batchNormTraining's three outputs, and the gradients of a loss that weights all three. */
function batchNormCase(): tf.Tensor[] {
  const size = tf.util.sizeFromShape(X_SHAPE);
  const x = tf.tensor(numbers(1, size, 0.5), X_SHAPE);
  const scale = tf.tensor1d(numbers(2, CHANNELS, 1));
  const offset = tf.tensor1d(numbers(3, CHANNELS));
  const [wy, wMean, wVariance] = [
    tf.tensor(numbers(4, size), X_SHAPE),
    tf.tensor1d(numbers(5, CHANNELS)),
    tf.tensor1d(numbers(6, CHANNELS)),
  ];
  const loss = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor): tf.Scalar => {
    const { y, mean, variance } = batchNormTraining(a, b as tf.Tensor1D, c as tf.Tensor1D, EPSILON);
    return tf.addN([tf.sum(tf.mul(y, wy)), tf.sum(tf.mul(mean, wMean)), tf.sum(tf.mul(variance, wVariance))]) as tf.Scalar;
  };
  const { y, mean, variance } = batchNormTraining(x, scale, offset, EPSILON);
  const grads = tf.grads(loss)([x, scale, offset]);
  tf.dispose([x, scale, offset, wy, wMean, wVariance]);
  return [y, mean, variance, ...grads];
}

/** Three steps of a FusedAdamOptimizer on three variables; their values and the optimizer's moments. */
function adamCase(): tf.Tensor[] {
  const optimizer = new FusedAdamOptimizer(0.01, 0.9, 0.999, 1e-8);
  const variables = [[7], [3, 4], [2, 2, 3, 5]].map((shape, i) =>
    tf.variable(tf.tensor(numbers(10 + i, tf.util.sizeFromShape(shape)), shape), true, `webgpu_adam_${tf.getBackend()}_${i}`),
  );
  for (let step = 0; step < 3; step++) {
    const grads = variables.map((v, i) => ({ name: v.name, tensor: tf.tensor(numbers(100 * step + i, v.size), v.shape) }));
    optimizer.applyGradients(grads);
    tf.dispose(grads.map((g) => g.tensor));
  }
  const internals = optimizer as unknown as Record<'accumulatedFirstMoment' | 'accumulatedSecondMoment', { variable: tf.Variable }[]>;
  const moments = [...internals.accumulatedFirstMoment, ...internals.accumulatedSecondMoment].map((slot) => slot.variable.clone());
  const values = variables.map((v) => v.clone());
  optimizer.dispose();
  tf.dispose(variables);
  return [...values, ...moments];
}

/** The kernels one run of `compute` dispatches through the engine on webgpu. */
async function kernelNames(compute: () => tf.Tensor[]): Promise<string[]> {
  await tf.setBackend('webgpu');
  const profile = await tf.profile(async () => {
    const tensors = compute();
    await Promise.all(tensors.map((t) => t.data()));
    tf.dispose(tensors);
  });
  return profile.kernelNames;
}

const suite = problem === undefined ? describe : describe.skip;
suite(`webgpu kernels${problem === undefined ? '' : ` (skipped: the webgpu backend cannot start: ${problem})`}`, () => {
  it('registers BatchNormTraining, BatchNormTrainingGrad and AdamUpdate for webgpu', () => {
    for (const name of [BATCH_NORM_TRAINING, BATCH_NORM_TRAINING_GRAD, ADAM_UPDATE]) {
      expect(tf.getKernel(name, 'webgpu'), name).toBeDefined();
    }
  });

  it("batchNormTraining's outputs and gradients match the cpu kernels'", async () => {
    const expected = await on('cpu', batchNormCase);
    const actual = await on('webgpu', batchNormCase);
    actual.forEach((values, i) => expectClose(values, expected[i]));
  });

  it('batchNormTraining forward and backward dispatch only the fused kernels, not the composition', async () => {
    const names = await kernelNames(batchNormCase);
    expect(names).toContain(BATCH_NORM_TRAINING);
    expect(names).toContain(BATCH_NORM_TRAINING_GRAD);
    for (const composed of ['Mean', 'Sub', 'Square', 'SquaredDifference', 'FusedBatchNorm', 'Rsqrt']) {
      expect(names, composed).not.toContain(composed);
    }
  });

  it("FusedAdamOptimizer's steps match tfjs's Adam on cpu", async () => {
    const expected = await on('cpu', adamCase);
    const actual = await on('webgpu', adamCase);
    actual.forEach((values, i) => expectClose(values, expected[i]));
  });

  it("FusedAdamOptimizer runs AdamUpdate on webgpu, not tfjs's elementwise ops", async () => {
    const names = await kernelNames(adamCase);
    expect(names).toContain(ADAM_UPDATE);
    for (const composed of ['Sqrt', 'Square', 'RealDiv']) expect(names, composed).not.toContain(composed);
  });
});
