/**
 * BatchNormTraining for wasm (see src/ops/batch_norm_training.ts; name in src/kernels/kernel_names.ts): three SIMD passes
 * (kernels.wat): the per-channel sums give the mean, the sums of squared deviations the
 * variance (the mean of (x - mean)^2, not E[x^2] - mean^2, which cancels), and one
 * affine pass writes y = x * gain + (offset - mean * gain). Between the sums and the affine
 * pass, a data-parallel step's replicas combine their statistics (../typed/batch_norm.ts).
 */
import * as tf from '@tensorflow/tfjs';
import { BATCH_NORM_TRAINING } from '../kernel_names';
import { normalizationCoefficients } from '../typed/batch_norm';
import { channelAffine, columnSums } from './simd/simd_kernels';
import { WASM, WasmKernelArgs, disposeInfos, float32View } from './wasm_kernel_util';

function batchNormTraining({ inputs, backend, attrs }: WasmKernelArgs): tf.TensorInfo[] {
  const { x, scale, offset } = inputs as Record<'x' | 'scale' | 'offset', tf.TensorInfo>;
  const epsilon = attrs?.varianceEpsilon as number;
  const channels = x.shape[x.shape.length - 1];
  const rows = tf.util.sizeFromShape(x.shape) / channels;
  const [mean, variance, gain, shift] = Array.from({ length: 4 }, () => backend.makeOutput([channels], 'float32'));
  const y = backend.makeOutput(x.shape, 'float32');

  const view = (info: tf.TensorInfo): Float32Array => float32View(backend, info);
  columnSums(backend, x, rows, channels, mean);
  const means = view(mean);
  for (let c = 0; c < channels; c++) means[c] /= rows;
  columnSums(backend, x, rows, channels, variance, mean);
  const arrays = {
    scale: view(scale),
    offset: view(offset),
    mean: view(mean),
    variance: view(variance),
    gain: view(gain),
    shift: view(shift),
  };
  normalizationCoefficients(arrays, rows, epsilon);
  channelAffine(backend, x, gain, shift, rows, channels, y);
  disposeInfos(backend, gain, shift);
  return [y, mean, variance];
}

export const batchNormTrainingConfig: tf.KernelConfig = {
  kernelName: BATCH_NORM_TRAINING,
  backendName: WASM,
  kernelFunc: batchNormTraining as unknown as tf.KernelFunc,
};
