/**
 * The Conv2D layer: tfjs-layers' results, and gradients only where the tape needs them.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { Conv2D } from '../src/layers/conv2d_layer';
import { useFastLayersWhenLoading } from '../src/layers/fast_layers';
import { mulberry32 } from './helpers/random';

function random(shape: number[], seed: number): tf.Tensor {
  const next = mulberry32(seed);
  return tf.tensor(
    Float32Array.from({ length: tf.util.sizeFromShape(shape) }, () => next() * 2 - 1),
    shape,
  );
}

const ARGS = { filters: 4, kernelSize: 3, strides: 2, padding: 'same' as const, activation: 'linear' as const, useBias: true };

/** Kernel names run by `f`. */
async function kernelsRun(f: () => void): Promise<string[]> {
  const profile = await tf.profile(() => {
    f();
  });
  return profile.kernels.map((k) => k.name);
}

describe('Conv2D layer', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('matches tf.layers.conv2d in inference and in its gradients', () => {
    const ours = new Conv2D(ARGS);
    const theirs = tf.layers.conv2d(ARGS);
    const x = random([2, 7, 7, 3], 1);
    ours.build(x.shape);
    theirs.build(x.shape);
    theirs.setWeights(ours.getWeights());
    const r = random([2, 4, 4, 4], 2);
    const results = [ours, theirs].map((layer) => {
      const variables = layer.trainableWeights.map((w) => w.read() as tf.Variable);
      const dx = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(layer.apply(a) as tf.Tensor, r)))(x);
      const { grads } = tf.variableGrads(() => tf.sum(tf.mul(layer.apply(x) as tf.Tensor, r)) as tf.Scalar, variables);
      return [layer.apply(x) as tf.Tensor, dx, ...variables.map((v) => grads[v.name])].map((t) => Array.from(t.dataSync()));
    });
    results[0].forEach((values, i) => {
      values.forEach((v, j) => expect(v).toBeCloseTo(results[1][i][j], 5));
    });
  });

  it("computes no input gradient for the model's input and no kernel gradient for a frozen layer", async () => {
    const first = new Conv2D(ARGS);
    const frozen = new Conv2D({ ...ARGS, strides: 1 });
    const x = random([2, 7, 7, 3], 3);
    first.build(x.shape);
    frozen.build([2, 4, 4, 4]);
    frozen.trainable = false;
    const variables = first.trainableWeights.map((w) => w.read() as tf.Variable);
    const kernels = await kernelsRun(() => {
      const { value, grads } = tf.variableGrads(() => tf.sum(frozen.apply(first.apply(x)) as tf.Tensor) as tf.Scalar, variables);
      tf.dispose([value, ...Object.values(grads)]);
    });
    // first: its kernel gradient only; frozen: its input gradient only.
    expect(kernels.filter((k) => k === 'Conv2DBackpropFilter')).toHaveLength(1);
    expect(kernels.filter((k) => k === 'Conv2DBackpropInput')).toHaveLength(1);
  });

  it("deserialises as tfjs's Conv2D by default, and as this class after useFastLayersWhenLoading", async () => {
    const model = tf.sequential({ layers: [new Conv2D({ ...ARGS, inputShape: [7, 7, 3] })] });
    const plain = await tf.models.modelFromJSON({ modelTopology: model.toJSON(null, false) });
    expect(plain.layers[0]).not.toBeInstanceOf(Conv2D);
    expect(plain.layers[0].getConfig()).toEqual(model.layers[0].getConfig());
    useFastLayersWhenLoading();
    const restored = await tf.models.modelFromJSON({ modelTopology: model.toJSON(null, false) });
    expect(restored.layers[0]).toBeInstanceOf(Conv2D);
    expect(restored.layers[0].getConfig()).toEqual(model.layers[0].getConfig());
  });
});
