/**
 * Micro-benchmark for issue 3's speed target: on the active backend, deformSample
 * forward+backward against the forward+backward of its own offset convolution
 * (3x3, C -> 2C, 'same', no bias) on the same input, batch 32, 14x14x128 (the
 * conv22_offset case). Target: sampling <= 15% of the convolution.
 */
import * as tf from '@tensorflow/tfjs';
import { timeTensorStep } from './timing';
import { deformSample } from '../../src/ops/deform_sample';

export interface DeformSampleBenchOptions {
  /** Input [B, H, W, C]; default [32, 14, 14, 128]. */
  shape?: [number, number, number, number];
  /** Untimed runs first (kernel setup, memory growth); default 2. */
  warmupRuns?: number;
  /** Timed runs; the median is reported. Default 5. */
  timedRuns?: number;
}

export interface DeformSampleBenchResult {
  backend: string;
  shape: [number, number, number, number];
  /** Median ms of deformSample forward + backward (gradients for x and offsets). */
  samplingMs: number;
  /** Median ms of the offset convolution, forward + backward when `convIncludesBackward`. */
  convMs: number;
  /**
   * false when the backend has no Conv2DBackpropFilter kernel (so no weight gradient can
   * be taken) and `convMs` is the forward alone: the ratio is then not the target's.
   */
  convIncludesBackward: boolean;
  /** samplingMs / convMs; the target is <= `target`. */
  ratio: number;
  target: number;
  timedRuns: number;
}

export const SAMPLING_TO_CONV_TARGET = 0.15;

export async function benchDeformSample(options: DeformSampleBenchOptions = {}): Promise<DeformSampleBenchResult> {
  const shape = options.shape ?? [32, 14, 14, 128];
  const warmupRuns = options.warmupRuns ?? 2;
  const timedRuns = options.timedRuns ?? 5;
  const [batch, height, width, channels] = shape;
  const offsetShape: [number, number, number, number] = [batch, height, width, 2 * channels];

  const x = tf.randomNormal(shape, 0, 1, 'float32', 1) as tf.Tensor4D;
  const offsets = tf.randomUniform(offsetShape, -2, 2, 'float32', 2) as tf.Tensor4D;
  const kernel = tf.randomNormal([3, 3, channels, 2 * channels], 0, 0.01, 'float32', 3) as tf.Tensor4D;
  const dSampled = tf.randomNormal(shape, 0, 1, 'float32', 4);
  const dOffsets = tf.randomNormal(offsetShape, 0, 1, 'float32', 5);
  try {
    const sampling = tf.grads((a: tf.Tensor, o: tf.Tensor) => deformSample(a as tf.Tensor4D, o as tf.Tensor4D));
    const samplingMs = await timeTensorStep(() => sampling([x, offsets], dSampled), warmupRuns, timedRuns);

    const convIncludesBackward = tf.getKernel('Conv2DBackpropFilter', tf.getBackend()) !== undefined;
    const conv = (a: tf.Tensor, k: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, k as tf.Tensor4D, 1, 'same');
    const convGrads = tf.grads(conv);
    const convMs = await timeTensorStep(
      () => (convIncludesBackward ? convGrads([x, kernel], dOffsets) : [conv(x, kernel)]),
      warmupRuns,
      timedRuns,
    );
    return {
      backend: tf.getBackend(),
      shape,
      samplingMs,
      convMs,
      convIncludesBackward,
      ratio: samplingMs / convMs,
      target: SAMPLING_TO_CONV_TARGET,
      timedRuns,
    };
  } finally {
    tf.dispose([x, offsets, kernel, dSampled, dOffsets]);
  }
}
