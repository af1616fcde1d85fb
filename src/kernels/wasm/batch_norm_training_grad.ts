/**
 * BatchNormTrainingGrad for wasm: the gradient of y, mean and variance together, from
 * the backend's SIMD kernels (as in batch_norm_training.ts). With xc = x - mean,
 * rstd = 1 / sqrt(variance + epsilon) and N rows, per channel:
 *
 *   dx      = dy * k1 + xc * k2 + k3
 *   k1      = scale * rstd
 *   k2      = (-scale * rstd^3 * sum(dy * xc) + 2 * dVariance) / N
 *   k3      = (-scale * rstd * sum(dy) + dMean) / N
 *   dScale  = rstd * sum(dy * xc),   dOffset = sum(dy).
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { BATCH_NORM_TRAINING_GRAD } from '../../ops/batch_norm_training';
import { weightedColumnSums } from './reduce_leading_axes';
import { WASM, WasmKernelArgs, disposeInfos, float32View, runWasmKernel } from './wasm_kernel_util';

type GradInputs = Record<'dy' | 'dMean' | 'dVariance' | 'x' | 'mean' | 'variance' | 'scale', tf.TensorInfo>;

function channelVectors(backend: BackendWasm, channels: number, count: number): tf.TensorInfo[] {
  return Array.from({ length: count }, () => backend.makeOutput([channels], 'float32'));
}

function batchNormTrainingGrad({ inputs, backend, attrs }: WasmKernelArgs): tf.TensorInfo[] {
  const { dy, dMean, dVariance, x, mean, variance, scale } = inputs as GradInputs;
  const epsilon = attrs?.varianceEpsilon as number;
  const channels = x.shape[x.shape.length - 1];
  const rows = tf.util.sizeFromShape(x.shape) / channels;

  const centered = runWasmKernel(backend, 'Sub', { a: x, b: mean });
  const dyCentered = runWasmKernel(backend, 'Multiply', { a: dy, b: centered });
  const dOffset = weightedColumnSums(backend, dy, rows, channels, 1);
  const sumDyCentered = weightedColumnSums(backend, dyCentered, rows, channels, 1);
  disposeInfos(backend, dyCentered);

  const [k1, k2, k3, dScale] = channelVectors(backend, channels, 4);
  const [k1s, k2s, k3s, dScales, sumDy, sumDyXc, gamma, variances, dMeans, dVariances] = [
    k1, k2, k3, dScale, dOffset, sumDyCentered, scale, variance, dMean, dVariance,
  ].map((t) => float32View(backend, t));
  for (let c = 0; c < channels; c++) {
    const rstd = 1 / Math.sqrt(variances[c] + epsilon);
    k1s[c] = gamma[c] * rstd;
    k2s[c] = (-gamma[c] * rstd * rstd * rstd * sumDyXc[c] + 2 * dVariances[c]) / rows;
    k3s[c] = (-gamma[c] * rstd * sumDy[c] + dMeans[c]) / rows;
    dScales[c] = rstd * sumDyXc[c];
  }
  disposeInfos(backend, sumDyCentered);

  const dyPart = runWasmKernel(backend, 'Multiply', { a: dy, b: k1 });
  const centeredPart = runWasmKernel(backend, 'Multiply', { a: centered, b: k2 });
  const sum = runWasmKernel(backend, 'Add', { a: dyPart, b: centeredPart });
  const dx = runWasmKernel(backend, 'Add', { a: sum, b: k3 });
  disposeInfos(backend, centered, dyPart, centeredPart, sum, k1, k2, k3);
  return [{ ...dx, shape: x.shape }, dScale, dOffset];
}

export const batchNormTrainingGradConfig: tf.KernelConfig = {
  kernelName: BATCH_NORM_TRAINING_GRAD,
  backendName: WASM,
  kernelFunc: batchNormTrainingGrad as unknown as tf.KernelFunc,
};
