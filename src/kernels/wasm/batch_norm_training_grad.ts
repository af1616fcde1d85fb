/**
 * BatchNormTrainingGrad for wasm: the gradient of y, mean and variance together, in two
 * SIMD passes (kernels.wat): one for the sums, one affine pass for dx. With
 * xc = x - mean, rstd = 1 / sqrt(variance + epsilon) and N rows, per channel:
 *
 *   dx      = dy * k1 + xc * k2 + k3 = dy * k1 + x * k2 + (k3 - mean * k2)
 *   k1      = scale * rstd
 *   k2      = (-scale * rstd^3 * sum(dy * xc) + 2 * dVariance) / N
 *   k3      = (-scale * rstd * sum(dy) + dMean) / N
 *   dScale  = rstd * sum(dy * xc),   dOffset = sum(dy).
 */
import * as tf from '@tensorflow/tfjs';
import { BATCH_NORM_TRAINING_GRAD } from '../kernel_names';
import { channelAffine, gradientSums } from './simd/simd_kernels';
import { WASM, WasmKernelArgs, disposeInfos, float32View } from './wasm_kernel_util';

type GradInputs = Record<'dy' | 'dMean' | 'dVariance' | 'x' | 'mean' | 'variance' | 'scale', tf.TensorInfo>;

function batchNormTrainingGrad({ inputs, backend, attrs }: WasmKernelArgs): tf.TensorInfo[] {
  const { dy, dMean, dVariance, x, mean, variance, scale } = inputs as GradInputs;
  const epsilon = attrs?.varianceEpsilon as number;
  const channels = x.shape[x.shape.length - 1];
  const rows = tf.util.sizeFromShape(x.shape) / channels;
  const [dOffset, sumDyCentered, k1, k2, shift, dScale] = Array.from({ length: 6 }, () =>
    backend.makeOutput([channels], 'float32'),
  );
  const dx = backend.makeOutput(x.shape, 'float32');

  gradientSums(backend, dy, x, rows, channels, mean, dOffset, sumDyCentered);
  const [k1s, k2s, shifts, dScales, sumDy, sumDyXc, gamma, means, variances, dMeans, dVariances] = [
    k1, k2, shift, dScale, dOffset, sumDyCentered, scale, mean, variance, dMean, dVariance,
  ].map((t) => float32View(backend, t));
  for (let c = 0; c < channels; c++) {
    const rstd = 1 / Math.sqrt(variances[c] + epsilon);
    k1s[c] = gamma[c] * rstd;
    k2s[c] = (-gamma[c] * rstd * rstd * rstd * sumDyXc[c] + 2 * dVariances[c]) / rows;
    const k3 = (-gamma[c] * rstd * sumDy[c] + dMeans[c]) / rows;
    shifts[c] = k3 - means[c] * k2s[c];
    dScales[c] = rstd * sumDyXc[c];
  }
  channelAffine(backend, dy, k1, shift, rows, channels, dx, [x, k2]);
  disposeInfos(backend, sumDyCentered, k1, k2, shift);
  return [dx, dScale, dOffset];
}

export const batchNormTrainingGradConfig: tf.KernelConfig = {
  kernelName: BATCH_NORM_TRAINING_GRAD,
  backendName: WASM,
  kernelFunc: batchNormTrainingGrad as unknown as tf.KernelFunc,
};
