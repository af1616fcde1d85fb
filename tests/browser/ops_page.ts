/**
 * Test page: runs deformSample and deformConv2d, forward and every gradient, on a backend
 * the test names, from inputs the page draws from a seed, and hands back the values.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-webgpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { deformConv2d, deformSample } from '../../src/index';
import { DEFORM_IM2COL, DEFORM_SAMPLE } from '../../src/kernels/kernel_names';
import { hasFusedKernel } from '../../src/kernels/kernel_support';
import { deformConv2dPortable } from '../../src/ops/deform_conv2d';
import { deformSamplePortable } from '../../src/ops/deform_sample_portable';

setWasmPaths('./');

/** Which implementation: the op as users call it (the fused kernels where the backend has them), or its portable composition. */
export type OpPath = 'op' | 'portable';

export interface SampleCase {
  op: 'deformSample';
  path?: OpPath;
  x: [number, number, number, number];
  /** Offsets are uniform in [-spread, spread] pixels. */
  spread: number;
}

export interface ConvCase {
  op: 'deformConv2d';
  path?: OpPath;
  x: [number, number, number, number];
  kernel: [number, number];
  filters: number;
  strides: number;
  padding: 'same' | 'valid';
  dilations: number;
  offsetGroups: number;
  mask: boolean;
  bias: boolean;
  spread: number;
}

export type OpCase = SampleCase | ConvCase;

/** mulberry32: the same numbers in every browser and in Node. */
function uniform(seed: number, count: number, low: number, high: number): Float32Array {
  let a = seed >>> 0;
  return Float32Array.from({ length: count }, () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return low + (high - low) * (((t ^ (t >>> 14)) >>> 0) / 4294967296);
  });
}

function random(shape: number[], seed: number, low = -1, high = 1): tf.Tensor {
  return tf.tensor(uniform(seed, tf.util.sizeFromShape(shape), low, high), shape);
}

function outputSize(size: number, kernel: number, c: ConvCase): number {
  const extent = (kernel - 1) * c.dilations + 1;
  return c.padding === 'same' ? Math.ceil(size / c.strides) : Math.floor((size - extent) / c.strides) + 1;
}

/** The case's inputs and a function of them whose gradients the test compares (a weighted sum of the output). */
function setUp(c: OpCase): { inputs: tf.Tensor[]; f: (...inputs: tf.Tensor[]) => tf.Tensor } {
  const [b, h, w, ch] = c.x;
  const x = random(c.x, 1);
  if (c.op === 'deformSample') {
    const offsets = random([b, h, w, 2 * ch], 2, -c.spread, c.spread);
    const weights = random([b, h, w, ch], 3);
    const sample = c.path === 'portable' ? deformSamplePortable : deformSample;
    return { inputs: [x, offsets], f: (xi, oi) => tf.mul(sample(xi as tf.Tensor4D, oi as tf.Tensor4D), weights) };
  }
  const [kh, kw] = c.kernel;
  const [ho, wo] = [outputSize(h, kh, c), outputSize(w, kw, c)];
  const taps = c.offsetGroups * kh * kw;
  const inputs = [x, random([b, ho, wo, 2 * taps], 2, -c.spread, c.spread), random([kh, kw, ch, c.filters], 3)];
  if (c.mask) inputs.push(random([b, ho, wo, taps], 4, 0, 1));
  if (c.bias) inputs.push(random([c.filters], 5));
  const weights = random([b, ho, wo, c.filters], 6);
  return {
    inputs,
    f: (...t) => {
      const [xi, oi, wi] = t;
      const rest = t.slice(3);
      const mask = c.mask ? (rest.shift() as tf.Tensor4D) : null;
      const bias = c.bias ? (rest.shift() as tf.Tensor1D) : null;
      const convolve = c.path === 'portable' ? deformConv2dPortable : deformConv2d;
      const y = convolve(xi as tf.Tensor4D, oi as tf.Tensor4D, wi as tf.Tensor4D, {
        strides: c.strides,
        padding: c.padding,
        dilations: c.dilations,
        offsetGroups: c.offsetGroups,
        mask,
        bias,
      });
      return tf.mul(y, weights);
    },
  };
}

/**
 * Forward output, then the gradient of each input, as plain arrays; how long it took;
 * and whether the op had a fused kernel to run on this backend.
 */
async function run(backend: string, c: OpCase): Promise<{ outputs: number[][]; ms: number; fused: boolean }> {
  if (!(await tf.setBackend(backend))) throw new Error(`backend ${backend} did not start`);
  await tf.ready();
  const fused = hasFusedKernel(c.op === 'deformSample' ? DEFORM_SAMPLE : DEFORM_IM2COL);
  const start = performance.now();
  const tensors = tf.tidy(() => {
    const { inputs, f } = setUp(c);
    const y = f(...inputs);
    const grads = tf.grads((...t: tf.Tensor[]) => tf.sum(f(...t)))(inputs);
    return [y, ...grads];
  });
  const outputs = await Promise.all(tensors.map(async (t) => Array.from(await t.data())));
  const ms = performance.now() - start;
  tf.dispose(tensors);
  return { outputs, ms, fused };
}

/** The backends this browser can start, in tfjs's order of preference. */
async function backends(): Promise<string[]> {
  const names: string[] = [];
  for (const name of ['webgl', 'webgpu', 'wasm', 'cpu']) {
    try {
      if (await tf.setBackend(name)) names.push(name);
    } catch {
      // Not offered here (webgpu without an adapter).
    }
  }
  return names;
}

Object.assign(window, { deformOps: { run, backends } });
