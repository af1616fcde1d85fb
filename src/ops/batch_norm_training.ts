/**
 * batchNormTraining: batch normalisation with the batch's own statistics, fused.
 *
 * tfjs-layers composes training-mode batch norm from moments (Mean, Sub, Square, Mean)
 * and FusedBatchNorm; their gradients add up to some thirty passes over the activation,
 * more time than the convolution next to it on wasm. Here the forward pass is two
 * statistics passes (mean, then squared deviations) and one normalising pass, and the
 * backward pass two, on backends that register the kernels (cpu, wasm, webgpu); any other
 * backend gets the same composition as tfjs-layers. The cpu and wasm kernels are also
 * where a data-parallel step's replicas combine their statistics (synchronous batch norm,
 * see src/kernels/replica_sums.ts).
 */
import * as tf from '@tensorflow/tfjs';
import '../kernels/cpu/register_cpu_batch_norm';
import '../kernels/wasm/register_wasm_batch_norm';
import '../kernels/webgpu/register_webgpu_batch_norm';
import { BATCH_NORM_TRAINING, BATCH_NORM_TRAINING_GRAD } from '../kernels/kernel_names';
import { activeReplicaSums } from '../kernels/replica_sums';
import { InvalidInputError } from '../errors';

/** The backends whose kernels combine the replicas' statistics (../kernels/typed/batch_norm.ts). */
const REPLICA_BACKENDS = ['cpu', 'wasm'];

/** batchNormTraining's outputs; all three are differentiable. */
export interface BatchNormTrainingResult {
  /** The normalised, scaled and shifted x, x's shape. */
  y: tf.Tensor;
  /** [C]: the batch's mean over every axis but the last. */
  mean: tf.Tensor1D;
  /** [C]: the batch's biased variance (divided by the count), as tfjs-layers and Keras use. */
  variance: tf.Tensor1D;
}

function checkArguments(x: tf.Tensor, scale: tf.Tensor, offset: tf.Tensor): void {
  const channels = x.shape[x.rank - 1];
  if (x.rank < 2 || x.dtype !== 'float32') {
    throw new InvalidInputError(`batchNormTraining: x must be float32 of rank >= 2, got ${x.dtype} [${x.shape.join(', ')}]`);
  }
  for (const [name, value] of [
    ['scale', scale],
    ['offset', offset],
  ] as const) {
    if (value.rank !== 1 || value.shape[0] !== channels) {
      throw new InvalidInputError(
        `batchNormTraining: ${name} must have shape [${channels}] for x [${x.shape.join(', ')}], got [${value.shape.join(', ')}]`,
      );
    }
  }
}

/**
 * Normalises x over every axis but the last with the batch's mean and (biased) variance,
 * then scales and shifts: y = (x - mean) / sqrt(variance + epsilon) * scale + offset.
 * Differentiable in x, scale and offset through all three outputs.
 *
 * Training-mode batch norm, as tfjs-layers' BatchNormalization computes it with
 * tf.moments and tf.batchNorm (what any backend without the fused kernels runs); the
 * moving averages are the caller's (this package's BatchNormalization layer keeps them).
 *
 * @param x float32 [..., C], rank >= 2 (e.g. [B, H, W, C]).
 * @param scale [C]: gamma.
 * @param offset [C]: beta.
 * @param varianceEpsilon added to the variance before the square root (Keras: 1e-3).
 * @returns y (x's shape), and the batch's mean and variance ([C] each).
 *
 * @example
 * import * as tf from '@tensorflow/tfjs';
 * import { batchNormTraining } from 'deformconv';
 *
 * const x = tf.randomNormal([32, 14, 14, 64]); // [B, H, W, C]
 * const gamma = tf.ones([64]) as tf.Tensor1D;
 * const beta = tf.zeros([64]) as tf.Tensor1D;
 * const { y, mean, variance } = batchNormTraining(x, gamma, beta, 1e-3);
 * // y: [32, 14, 14, 64]; mean, variance: [64], over the batch, height and width.
 */
export function batchNormTraining(x: tf.Tensor, scale: tf.Tensor1D, offset: tf.Tensor1D, varianceEpsilon: number): BatchNormTrainingResult {
  checkArguments(x, scale, offset);
  if (activeReplicaSums() !== undefined && !REPLICA_BACKENDS.includes(tf.getBackend())) {
    throw new InvalidInputError(
      `batchNormTraining: synchronous batch norm across replicas needs the cpu or wasm backend, not '${tf.getBackend()}'`,
    );
  }
  if (tf.getKernel(BATCH_NORM_TRAINING, tf.getBackend()) === undefined) {
    return tf.tidy(() => {
      const axes = [...Array(x.rank - 1).keys()];
      const { mean, variance } = tf.moments(x, axes);
      const y = tf.batchNorm(x, mean, variance, offset, scale, varianceEpsilon);
      return { y, mean: mean as tf.Tensor1D, variance: variance as tf.Tensor1D };
    });
  }
  const [y, mean, variance] = tf.engine().runKernel(BATCH_NORM_TRAINING, { x, scale, offset }, { varianceEpsilon }) as tf.Tensor[];
  return { y, mean: mean as tf.Tensor1D, variance: variance as tf.Tensor1D };
}

tf.registerGradient({
  kernelName: BATCH_NORM_TRAINING,
  inputsToSave: ['x', 'scale'],
  outputsToSave: [false, true, true],
  gradFunc: (dys, saved, attrs) => {
    const [dy, dMean, dVariance] = dys as tf.Tensor[];
    const [x, scale, mean, variance] = saved;
    const [dx, dScale, dOffset] = tf
      .engine()
      .runKernel(BATCH_NORM_TRAINING_GRAD, { dy, dMean, dVariance, x, mean, variance, scale }, attrs as tf.NamedAttrMap) as tf.Tensor[];
    return { x: () => dx, scale: () => dScale, offset: () => dOffset };
  },
});
