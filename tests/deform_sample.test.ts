import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidInputError } from '../src/errors';
import { BilinearPoint } from '../src/kernels/typed/bilinear';
import { deformSample } from '../src/ops/deform_sample';
import { deformSamplePortable } from '../src/ops/deform_sample_portable';
import { hasFusedKernel, requireCapability } from '../src/kernels/kernel_support';
import { mulberry32 as rng } from './helpers/random';
import { worstError } from './helpers/close';

type Shape = [number, number, number, number];
type Sampler = (x: tf.Tensor4D, offsets: tf.Tensor4D) => tf.Tensor4D;

function randomImage(shape: Shape, random: () => number): Float32Array {
  const [b, h, w, c] = shape;
  return Float32Array.from({ length: b * h * w * c }, () => random() * 2 - 1);
}

/**
 * Offsets for x of `shape`: mostly within a few pixels, some far outside the image,
 * some exact integers. With `avoidKinks`, no sample coordinate lies within 1e-2 of an
 * integer, where the interpolant has kinks a finite difference would straddle.
 */
function randomOffsets(shape: Shape, random: () => number, avoidKinks: boolean): Float32Array {
  const [b, h, w, c] = shape;
  const out = new Float32Array(b * h * w * 2 * c);
  for (let k = 0; k < out.length; k++) {
    const kind = random();
    let v = kind < 0.1 ? (random() - 0.5) * 100 : kind < 0.2 ? Math.round((random() - 0.5) * 6) : (random() - 0.5) * 5;
    if (avoidKinks) {
      const frac = v - Math.floor(v);
      if (frac < 1e-2 || frac > 1 - 1e-2) v += 0.05;
    }
    out[k] = v;
  }
  return out;
}

/** The definition, in plain loops and float64: the independent reference. */
function referenceSample(x: ArrayLike<number>, offsets: ArrayLike<number>, shape: Shape): Float64Array {
  const [batch, height, width, channels] = shape;
  const at = (b: number, r: number, c: number, ch: number) => x[((b * height + r) * width + c) * channels + ch];
  const out = new Float64Array(batch * height * width * channels);
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < height; i++) {
      for (let j = 0; j < width; j++) {
        for (let ch = 0; ch < channels; ch++) {
          const o = (((b * height + i) * width + j) * channels + ch) * 2;
          const y = Math.min(Math.max(i + offsets[o], 0), height - 1);
          const xx = Math.min(Math.max(j + offsets[o + 1], 0), width - 1);
          const y0 = Math.floor(y);
          const x0 = Math.floor(xx);
          const y1 = Math.min(y0 + 1, height - 1);
          const x1 = Math.min(x0 + 1, width - 1);
          const fy = y - y0;
          const fx = xx - x0;
          out[o / 2] =
            (1 - fy) * ((1 - fx) * at(b, y0, x0, ch) + fx * at(b, y0, x1, ch)) +
            fy * ((1 - fx) * at(b, y1, x0, ch) + fx * at(b, y1, x1, ch));
        }
      }
    }
  }
  return out;
}

/** sum(weights * referenceSample(x, offsets)): the scalar the gradients are checked on. */
function referenceLoss(x: ArrayLike<number>, offsets: ArrayLike<number>, weights: Float32Array, shape: Shape): number {
  const out = referenceSample(x, offsets, shape);
  let loss = 0;
  for (let k = 0; k < out.length; k++) loss += weights[k] * out[k];
  return loss;
}

/**
 * Finite differences of the reference loss with respect to every element of `target`
 * (x or offsets). `step` > 0 with `central` false gives the one-sided right derivative.
 */
function numericGradient(loss: (values: Float64Array) => number, target: ArrayLike<number>, step: number, central: boolean): Float64Array {
  const values = Float64Array.from(target);
  const grad = new Float64Array(values.length);
  for (let k = 0; k < values.length; k++) {
    const v = values[k];
    values[k] = v + step;
    const up = loss(values);
    values[k] = central ? v - step : v;
    const down = loss(values);
    values[k] = v;
    grad[k] = (up - down) / (central ? 2 * step : step);
  }
  return grad;
}

interface Run {
  out: Float32Array;
  dx: Float32Array;
  dOffsets: Float32Array;
}

/** Value and both gradients of sum(weights * sampler(x, offsets)) on the active backend. */
function run(sampler: Sampler, shape: Shape, x: Float32Array, offsets: Float32Array, weights: Float32Array): Run {
  return tf.tidy(() => {
    const [b, h, w, c] = shape;
    const xt = tf.tensor4d(x, shape);
    const ot = tf.tensor4d(offsets, [b, h, w, 2 * c]);
    const wt = tf.tensor4d(weights, shape);
    const out = sampler(xt, ot).dataSync() as Float32Array;
    const [dx, dOffsets] = tf.grads((a: tf.Tensor, o: tf.Tensor) => tf.sum(tf.mul(sampler(a as tf.Tensor4D, o as tf.Tensor4D), wt)))([
      xt,
      ot,
    ]);
    return { out, dx: dx.dataSync() as Float32Array, dOffsets: dOffsets.dataSync() as Float32Array };
  });
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number, what: string): void {
  expect(actual.length, what).toBe(expected.length);
  const { error, at } = worstError(actual, expected);
  expect(error, `${what}: worst error at element ${at}`).toBeLessThanOrEqual(tolerance);
}

const SHAPES: Shape[] = [
  [1, 5, 7, 1],
  [2, 4, 3, 3],
  [3, 6, 6, 2],
  [1, 1, 4, 2],
  [2, 3, 1, 1],
];

const PATHS: Array<[string, string, Sampler]> = [
  ['cpu', 'fused', deformSample],
  ['cpu', 'portable', deformSamplePortable],
  ['wasm', 'fused', deformSample],
  ['wasm', 'portable', deformSamplePortable],
];

beforeAll(async () => {
  await tf.setBackend('wasm');
  await tf.setBackend('cpu');
});

describe('deformSample: kernel dispatch', () => {
  it('has fused kernels for cpu and wasm, forward and backward', () => {
    for (const backend of ['cpu', 'wasm']) {
      expect(tf.getKernel('DeformSample', backend), backend).toBeDefined();
      expect(tf.getKernel('DeformSampleGrad', backend), backend).toBeDefined();
    }
  });

  /** Runs a sampler on the same random inputs of `shape` at every call. */
  function onRandomInputs(shape: Shape, seed: number): (sampler: Sampler) => Run {
    const random = rng(seed);
    const x = randomImage(shape, random);
    const offsets = randomOffsets(shape, random, false);
    const weights = randomImage(shape, random);
    return (sampler) => run(sampler, shape, x, offsets, weights);
  }

  it('falls back to the portable path on a backend without the kernel', async () => {
    await tf.setBackend('cpu');
    const runOn = onRandomInputs([2, 4, 5, 3], 17);
    const fused = runOn(deformSample);
    const kernel = tf.getKernel('DeformSample', 'cpu') as tf.KernelConfig;
    tf.unregisterKernel('DeformSample', 'cpu');
    try {
      const fallback = runOn(deformSample);
      expect(fallback).toEqual(runOn(deformSamplePortable));
      expectClose(fallback.out, fused.out, 1e-5, 'values');
      expectClose(fallback.dOffsets, fused.dOffsets, 1e-5, 'gradient w.r.t. offsets');
    } finally {
      tf.registerKernel(kernel);
    }
  });

  it('takes the portable path where the backend cannot run its registered kernel', async () => {
    await tf.setBackend('cpu');
    const runOn = onRandomInputs([1, 3, 4, 2], 5);
    expect(hasFusedKernel('DeformSample')).toBe(true);
    requireCapability('cpu', () => false);
    try {
      expect(hasFusedKernel('DeformSample')).toBe(false);
      expect(runOn(deformSample)).toEqual(runOn(deformSamplePortable));
    } finally {
      requireCapability('cpu', () => true);
    }
  });
});

describe.each(PATHS)('deformSample on %s, %s path', (backend, _path, sampler) => {
  beforeAll(async () => {
    await tf.setBackend(backend);
  });

  it.each(SHAPES)('matches the loop reference, values and finite-difference gradients, for [%i, %i, %i, %i]', (...dims) => {
    const shape = dims as Shape;
    const random = rng(dims.reduce((s, d) => s * 31 + d, 7));
    const x = randomImage(shape, random);
    const offsets = randomOffsets(shape, random, true);
    const weights = randomImage(shape, random);
    const got = run(sampler, shape, x, offsets, weights);

    expectClose(got.out, referenceSample(x, offsets, shape), 1e-5, 'values');
    const dx = numericGradient((v) => referenceLoss(v, offsets, weights, shape), x, 1e-3, true);
    expectClose(got.dx, dx, 1e-4, 'gradient w.r.t. x');
    const dOffsets = numericGradient((v) => referenceLoss(x, v, weights, shape), offsets, 1e-3, true);
    expectClose(got.dOffsets, dOffsets, 1e-4, 'gradient w.r.t. offsets');
  });

  it('at exact integer offsets, the offset gradient is the floor/floor+1 (right) derivative', () => {
    const shape: Shape = [2, 5, 4, 3];
    const random = rng(11);
    const x = randomImage(shape, random);
    const offsets = Float32Array.from({ length: 2 * 5 * 4 * 6 }, () => Math.round((random() - 0.5) * 6));
    const weights = randomImage(shape, random);
    const got = run(sampler, shape, x, offsets, weights);

    expectClose(got.out, referenceSample(x, offsets, shape), 1e-6, 'values');
    const right = numericGradient((v) => referenceLoss(x, v, weights, shape), offsets, 1e-4, false);
    expectClose(got.dOffsets, right, 1e-4, 'gradient w.r.t. offsets');
    // Interior integer points have a non-zero derivative (the reference's floor/ceil gave 0).
    expect(got.dOffsets.some((g) => Math.abs(g) > 1e-2)).toBe(true);
  });

  it('gives zero offset gradient where the coordinate is clipped, and border values', () => {
    const shape: Shape = [1, 3, 4, 1];
    const x = Float32Array.from({ length: 12 }, (_, k) => k * k);
    const offsets = new Float32Array(24);
    for (let p = 0; p < 12; p++) {
      offsets[2 * p] = -40.25; // far above: clipped to row 0
      offsets[2 * p + 1] = 0.5; // inside for every column but the last (clipped to W-1)
    }
    const got = run(sampler, shape, x, offsets, new Float32Array(12).fill(1));

    for (let p = 0; p < 12; p++) {
      const col = p % 4;
      expect(got.dOffsets[2 * p], `dy at pixel ${p}`).toBe(0);
      const expected = col < 3 ? x[col + 1] - x[col] : 0;
      expect(got.dOffsets[2 * p + 1], `dx at pixel ${p}`).toBeCloseTo(expected, 5);
      const value = col < 3 ? (x[col] + x[col + 1]) / 2 : x[3];
      expect(got.out[p], `value at pixel ${p}`).toBeCloseTo(value, 5);
    }
  });

  it('returns x exactly for zero offsets', () => {
    const shape: Shape = [2, 5, 3, 4];
    const x = randomImage(shape, rng(5));
    const out = tf.tidy(() => sampler(tf.tensor4d(x, shape), tf.zeros([2, 5, 3, 8]) as tf.Tensor4D).dataSync());
    expect(Array.from(out)).toEqual(Array.from(x));
  });

  it('leaks no tensors, forward or backward', () => {
    const shape: Shape = [1, 4, 4, 2];
    const random = rng(3);
    const x = tf.tensor4d(randomImage(shape, random), shape);
    const offsets = tf.tensor4d(randomOffsets(shape, random, false), [1, 4, 4, 4]);
    const before = tf.memory().numTensors;
    const out = sampler(x, offsets);
    const grads = tf.grads((a: tf.Tensor, o: tf.Tensor) => tf.sum(sampler(a as tf.Tensor4D, o as tf.Tensor4D)))([x, offsets]);
    expect(tf.memory().numTensors).toBe(before + 3);
    tf.dispose([out, ...grads, x, offsets]);
  });
});

describe('deformSample: the portable and fused paths agree to 1e-5', () => {
  const shape: Shape = [3, 7, 5, 6];
  const random = rng(2024);
  const x = randomImage(shape, random);
  const offsets = randomOffsets(shape, random, false);
  const weights = randomImage(shape, random);
  let portable: Run;

  beforeAll(async () => {
    await tf.setBackend('cpu');
    portable = run(deformSamplePortable, shape, x, offsets, weights);
  });

  it.each(['cpu', 'wasm'])('fused on %s vs portable on cpu: values and both gradients', async (backend) => {
    await tf.setBackend(backend);
    const fused = run(deformSample, shape, x, offsets, weights);
    expectClose(fused.out, portable.out, 1e-5, 'values');
    expectClose(fused.dx, portable.dx, 1e-5, 'gradient w.r.t. x');
    expectClose(fused.dOffsets, portable.dOffsets, 1e-5, 'gradient w.r.t. offsets');
  });

  it('portable on wasm matches portable on cpu, values and both gradients', async () => {
    await tf.setBackend('wasm');
    const composed = run(deformSamplePortable, shape, x, offsets, weights);
    expectClose(composed.out, portable.out, 1e-5, 'values');
    expectClose(composed.dx, portable.dx, 1e-5, 'gradient w.r.t. x');
    expectClose(composed.dOffsets, portable.dOffsets, 1e-5, 'gradient w.r.t. offsets');
  });
});

describe("the shared bilinear core in 'zero' border mode (torchvision's semantics)", () => {
  /** torchvision's bilinear_interpolate, in plain code: corners outside read as zero. */
  function zeroPaddedSample(image: Float64Array, height: number, width: number, y: number, x: number): number {
    if (y <= -1 || y >= height || x <= -1 || x >= width) return 0;
    const y0 = Math.floor(y);
    const x0 = Math.floor(x);
    const at = (r: number, c: number) => (r >= 0 && r < height && c >= 0 && c < width ? image[r * width + c] : 0);
    const ly = y - y0;
    const lx = x - x0;
    return (
      (1 - ly) * (1 - lx) * at(y0, x0) + (1 - ly) * lx * at(y0, x0 + 1) + ly * (1 - lx) * at(y0 + 1, x0) + ly * lx * at(y0 + 1, x0 + 1)
    );
  }

  it('matches the reference in value and in all gradients, on a strided channel', () => {
    const [height, width, channels, channel] = [5, 4, 3, 1];
    const random = rng(99);
    const image = Float64Array.from({ length: height * width }, () => random() * 2 - 1);
    // The same image stored as channel 1 of an NHWC [1, H, W, 3] array.
    const data = new Float32Array(height * width * channels).map(() => 100);
    image.forEach((v, k) => (data[k * channels + channel] = v));
    const point = new BilinearPoint(height, width, width * channels, channels, 'zero');
    const h = 1e-4;
    for (let n = 0; n < 200; n++) {
      let y = random() * (height + 3) - 2;
      let x = random() * (width + 3) - 2;
      // Keep away from the interpolant's kinks (integers) so finite differences are exact.
      if (Math.abs(y - Math.round(y)) < 1e-2) y += 0.05;
      if (Math.abs(x - Math.round(x)) < 1e-2) x += 0.05;
      point.set(y, x);
      const expected = zeroPaddedSample(image, height, width, y, x);
      expect(point.sample(data, channel)).toBeCloseTo(expected, 6);

      const dData = new Float32Array(data.length);
      point.backward(data, channel, 1, dData);
      const dRow = (zeroPaddedSample(image, height, width, y + h, x) - zeroPaddedSample(image, height, width, y - h, x)) / (2 * h);
      const dCol = (zeroPaddedSample(image, height, width, y, x + h) - zeroPaddedSample(image, height, width, y, x - h)) / (2 * h);
      expect(point.gradRow, `d/drow at (${y}, ${x})`).toBeCloseTo(dRow, 5);
      expect(point.gradCol, `d/dcol at (${y}, ${x})`).toBeCloseTo(dCol, 5);
      for (let k = 0; k < image.length; k++) {
        const bumped = Float64Array.from(image);
        bumped[k] += 1;
        const weight = zeroPaddedSample(bumped, height, width, y, x) - expected;
        expect(dData[k * channels + channel], `d/dpixel ${k} at (${y}, ${x})`).toBeCloseTo(weight, 6);
      }
      expect(dData.filter((_, i) => i % channels !== channel).every((v) => v === 0)).toBe(true);
    }
  });
});

describe('deformSample: argument checks name the shapes', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  const cases: Array<[string, () => unknown[], RegExp]> = [
    ['x of rank 3', () => [tf.zeros([4, 4, 2]), tf.zeros([1, 4, 4, 4])], /x must be a rank-4 tensor, got shape \[4, 4, 2\]/],
    ['offsets not a tensor', () => [tf.zeros([1, 4, 4, 2]), [1, 2]], /offsets must be a rank-4 tensor, got object/],
    ['int32 offsets', () => [tf.zeros([1, 4, 4, 2]), tf.zeros([1, 4, 4, 4], 'int32')], /offsets must be float32, got int32/],
    [
      'offsets with C channels',
      () => [tf.zeros([1, 4, 4, 2]), tf.zeros([1, 4, 4, 2])],
      /offsets must have shape \[B, H, W, 2C\] = \[1, 4, 4, 4\] for x of shape \[1, 4, 4, 2\], got shape \[1, 4, 4, 2\]/,
    ],
    [
      'offsets of another size',
      () => [tf.zeros([2, 4, 5, 1]), tf.zeros([2, 5, 4, 2])],
      /= \[2, 4, 5, 2\] for x of shape \[2, 4, 5, 1\], got shape \[2, 5, 4, 2\]/,
    ],
  ];

  it.each(cases)('rejects %s', (_name, makeArgs, message) => {
    const [x, offsets] = makeArgs();
    const call = () => deformSample(x as tf.Tensor4D, offsets as tf.Tensor4D);
    expect(call).toThrow(InvalidInputError);
    expect(call).toThrow(message);
    tf.dispose([x, offsets].filter((t): t is tf.Tensor => t instanceof tf.Tensor));
  });
});
