/**
 * Micro-benchmark for issue 6's speed targets: the DeformConv2D layer's computation
 * against a plain convolution of the same shape, on wasm by default, batch 32, 14x14,
 * 64 -> 128 channels, 3x3 'same', with bias. Targets: forward <= 4x, forward+backward
 * <= 4x.
 *
 * "DeformConv2D" is what the layer runs: its offset convolution (3x3, 64 -> 18, with
 * bias) and deformConv2d (DCN v1, no mask); "train" is forward plus the gradients with
 * respect to the input and every weight. The offsets come from a random offset kernel,
 * so samples fall between pixels as in a trained layer. `deform_op_*` time
 * deformConv2d alone on given offsets.
 */
import * as tf from '@tensorflow/tfjs';
import { timeTensorStep } from './timing';
import '@tensorflow/tfjs-backend-wasm';
import '../../src/kernels/wasm/replace_tfjs_kernels';
import { deformConv2d } from '../../src/ops/deform_conv2d';

export interface DeformConv2dBenchOptions {
  /** Backend to measure on (set for the run, then restored); default 'wasm'. */
  backend?: string;
  /** Input [B, H, W, Cin]; default [32, 14, 14, 64]. */
  shape?: [number, number, number, number];
  /** Output channels; default 128. */
  filters?: number;
  /** Untimed runs first (kernel setup, memory growth); default 2. */
  warmupRuns?: number;
  /** Timed runs; the median is reported. Default 5. */
  timedRuns?: number;
}

export interface DeformConv2dBenchResult {
  backend: string;
  shape: [number, number, number, number];
  filters: number;
  /** Median ms of the DeformConv2D computation (offset conv + deformConv2d + bias), forward. */
  deform_conv_forward_ms: number;
  /** Median ms of tf.conv2d + bias of the same shape, forward. */
  conv_forward_ms: number;
  /** Median ms of the DeformConv2D computation, forward + gradients for input and all weights. */
  deform_conv_train_ms: number;
  /** Median ms of tf.conv2d + bias, forward + gradients for input, kernel and bias. */
  conv_train_ms: number;
  /** deformConv2d alone on given offsets: forward, and forward + gradients for x, offsets, weights. */
  deform_op_forward_ms: number;
  deform_op_train_ms: number;
  forward_ratio: number;
  train_ratio: number;
  /** Both ratios should be <= this. */
  target: number;
  timedRuns: number;
}

export const DEFORM_CONV_TO_CONV_TARGET = 4;

export async function benchDeformConv2d(options: DeformConv2dBenchOptions = {}): Promise<DeformConv2dBenchResult> {
  const backend = options.backend ?? 'wasm';
  const shape = options.shape ?? [32, 14, 14, 64];
  const filters = options.filters ?? 128;
  const warmupRuns = options.warmupRuns ?? 2;
  const timedRuns = options.timedRuns ?? 5;
  const [batch, height, width, channels] = shape;
  const taps = 9;

  const previous = tf.getBackend() as string | undefined; // unset before any backend started
  if (!(await tf.setBackend(backend))) throw new Error(`benchDeformConv2d: backend '${backend}' did not start`);
  const x = tf.randomNormal(shape, 0, 1, 'float32', 1) as tf.Tensor4D;
  const kernel = tf.randomNormal([3, 3, channels, filters], 0, 0.05, 'float32', 2) as tf.Tensor4D;
  const bias = tf.randomNormal([filters], 0, 0.1, 'float32', 3) as tf.Tensor1D;
  // Offsets of a couple of pixels: std 0.1 * sqrt(9 * 64) = 2.4 for unit inputs.
  const offsetKernel = tf.randomNormal([3, 3, channels, 2 * taps], 0, 0.1, 'float32', 4) as tf.Tensor4D;
  const offsetBias = tf.zeros([2 * taps]) as tf.Tensor1D;
  const offsets = tf.conv2d(x, offsetKernel, 1, 'same');
  const dy = tf.randomNormal([batch, height, width, filters], 0, 1, 'float32', 5) as tf.Tensor4D;
  try {
    const conv = (a: tf.Tensor, k: tf.Tensor, b: tf.Tensor) =>
      tf.add(tf.conv2d(a as tf.Tensor4D, k as tf.Tensor4D, 1, 'same'), b) as tf.Tensor4D;
    const layer = (a: tf.Tensor, k: tf.Tensor, b: tf.Tensor, ok: tf.Tensor, ob: tf.Tensor) => {
      const predicted = tf.add(tf.conv2d(a as tf.Tensor4D, ok as tf.Tensor4D, 1, 'same'), ob) as tf.Tensor4D;
      return deformConv2d(a as tf.Tensor4D, predicted, k as tf.Tensor4D, { padding: 'same', bias: b as tf.Tensor1D });
    };
    const op = (a: tf.Tensor, o: tf.Tensor, k: tf.Tensor) =>
      deformConv2d(a as tf.Tensor4D, o as tf.Tensor4D, k as tf.Tensor4D, { padding: 'same' });

    const convForward = await timeTensorStep(() => conv(x, kernel, bias), warmupRuns, timedRuns);
    const deformForward = await timeTensorStep(() => layer(x, kernel, bias, offsetKernel, offsetBias), warmupRuns, timedRuns);
    const convTrain = await timeTensorStep(() => tf.grads(conv)([x, kernel, bias], dy), warmupRuns, timedRuns);
    const deformTrain = await timeTensorStep(() => tf.grads(layer)([x, kernel, bias, offsetKernel, offsetBias], dy), warmupRuns, timedRuns);
    const opForward = await timeTensorStep(() => op(x, offsets, kernel), warmupRuns, timedRuns);
    const opTrain = await timeTensorStep(() => tf.grads(op)([x, offsets, kernel], dy), warmupRuns, timedRuns);
    return {
      backend,
      shape,
      filters,
      deform_conv_forward_ms: deformForward,
      conv_forward_ms: convForward,
      deform_conv_train_ms: deformTrain,
      conv_train_ms: convTrain,
      deform_op_forward_ms: opForward,
      deform_op_train_ms: opTrain,
      forward_ratio: deformForward / convForward,
      train_ratio: deformTrain / convTrain,
      target: DEFORM_CONV_TO_CONV_TARGET,
      timedRuns,
    };
  } finally {
    tf.dispose([x, kernel, bias, offsetKernel, offsetBias, offsets, dy]);
    if (previous) await tf.setBackend(previous);
  }
}
