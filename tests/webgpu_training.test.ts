/**
 * The experiment's training step on tfjs's webgpu backend in Node (Dawn). Here Dawn's
 * adapter is SwiftShader, a CPU emulation, so the batches stay small: one step of each
 * stage's model equals the cpu backend's step, and 200 steps leave memory where 20 did.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../src/backend/select';
import { BatchNormalization } from '../src/layers/batch_normalization';
import { Conv2D } from '../src/layers/conv2d_layer';
import { ConvOffset2D } from '../src/layers/conv_offset2d';
import { buildDeformCnn, buildRegularCnn, DeformType } from '../src/models/cnn';
import { createAdam } from '../src/optimizers/adam';
import { shardGradientTensors, statefulWeights, trainableVariables } from '../src/training/parallel/replica';
import { createStepRunner } from '../src/training/parallel/step_runner';
import { batch } from './helpers/models';

/** What one step computes, read back: the loss, every gradient, the moving statistics after it. */
interface StepValues {
  loss: number;
  grads: Record<string, Float32Array>;
  state: Record<string, Float32Array>;
}

type Build = () => tf.LayersModel;

const MODELS: Record<string, Build> = {
  'regular CNN (train-regular)': () => buildRegularCnn({ seed: 1 }),
  ...Object.fromEntries(
    (['seed', 'dcn', 'dcnv2'] as DeformType[]).map((deformType) => [
      `deformable CNN, ${deformType} (finetune-deform)`,
      () => buildDeformCnn({ seed: 2, deformType, trainableBase: false }),
    ]),
  ),
};

/** One training step's values of a model built by `build` on `backend`, from the weights `weights`. */
async function stepOn(backend: string, build: Build, weights: tf.Tensor[] | undefined, n: number): Promise<StepValues> {
  await tf.setBackend(backend);
  const model = build();
  if (weights !== undefined) model.setWeights(weights);
  const { xs, ys } = batch(n, 5);
  const variables = trainableVariables(model);
  const t = shardGradientTensors(model, variables, xs, ys);
  const read = async (tensors: { name: string; value: tf.Tensor }[]): Promise<Record<string, Float32Array>> =>
    Object.fromEntries(await Promise.all(tensors.map(async ({ name, value }) => [name, (await value.data()) as Float32Array])));
  const values: StepValues = {
    loss: (await t.loss.data())[0],
    grads: await read(model.trainableWeights.map((w, i) => ({ name: w.originalName, value: t.grads[i] }))),
    state: await read(statefulWeights(model).map((w) => ({ name: w.originalName, value: w.read() }))),
  };
  tf.dispose([xs, ys, t.loss, t.correct, t.outputSum, ...t.grads]);
  model.dispose();
  return values;
}

/** max |a - b| over max |b|: the error relative to the tensor's scale. */
function relativeError(a: Float32Array, b: Float32Array): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return scale === 0 ? diff : diff / scale;
}

beforeAll(async () => {
  // The software adapter: explicit webgpu takes SwiftShader where no GPU answers.
  const description = await useBackend('webgpu');
  expect(description.adapter?.software).toBe(true);
  // Every kernel of a step on the GPU: no small tensor computed by tfjs's CPU forwarding.
  expect(tf.env().getBool('WEBGPU_CPU_FORWARD')).toBe(false);
});

describe('a training step on webgpu', () => {
  for (const [name, build] of Object.entries(MODELS)) {
    it(`${name}: loss, every gradient and the moving statistics equal the cpu step within 1e-4`, async () => {
      await tf.setBackend('cpu');
      const weights = build()
        .getWeights()
        .map((w) => w.clone());
      const cpu = await stepOn('cpu', build, weights, 2);
      const gpu = await stepOn('webgpu', build, weights, 2);
      tf.dispose(weights);
      expect(Math.abs(gpu.loss - cpu.loss) / Math.abs(cpu.loss)).toBeLessThan(1e-4);
      expect(Object.keys(gpu.grads)).toEqual(Object.keys(cpu.grads));
      for (const key of Object.keys(cpu.grads)) expect(relativeError(gpu.grads[key], cpu.grads[key]), key).toBeLessThan(1e-4);
      expect(Object.keys(gpu.state)).toEqual(Object.keys(cpu.state));
      for (const key of Object.keys(cpu.state)) expect(relativeError(gpu.state[key], cpu.state[key]), key).toBeLessThan(1e-4);
    });
  }
});

describe('memory on webgpu', () => {
  it('tf.memory() after step 200 equals tf.memory() after step 20 (the library layers, Adam, the step runner)', async () => {
    await tf.setBackend('webgpu');
    // The experiment's layer kinds on a small input, so that 200 steps run in seconds on SwiftShader.
    const model = tf.sequential({
      layers: [
        new ConvOffset2D({ filters: 1, inputShape: [8, 8, 1], kernelInitializer: tf.initializers.randomNormal({ stddev: 0.01, seed: 1 }) }),
        new Conv2D({
          filters: 4,
          kernelSize: 3,
          padding: 'same',
          activation: 'relu',
          kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }),
        }),
        new BatchNormalization({}),
        tf.layers.flatten(),
        tf.layers.dense({ units: 10, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) }),
      ],
    });
    const runner = await createStepRunner({ model, optimizer: createAdam(1e-3) });
    const xs = tf.randomUniform([4, 8, 8, 1], 0, 1, 'float32', 4);
    const ys = tf.oneHot(tf.tensor1d([1, 2, 3, 4], 'int32'), 10);
    let after20: tf.MemoryInfo | undefined;
    for (let step = 1; step <= 200; step++) {
      const result = await runner.step(xs, ys);
      expect(Number.isFinite(result.loss)).toBe(true);
      if (step === 20) after20 = tf.memory();
    }
    const after200 = tf.memory();
    expect(after200.numTensors).toBe(after20?.numTensors);
    expect(after200.numBytes).toBe(after20?.numBytes);
    await runner.dispose();
    tf.dispose([xs, ys]);
    model.dispose();
  });
});
