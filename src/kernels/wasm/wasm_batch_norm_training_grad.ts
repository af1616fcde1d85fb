/**
 * BatchNormTrainingGrad for wasm: the gradient of y, mean and variance together, in two
 * SIMD passes (kernels.wat): one for the sums, one affine pass for dx, with the
 * coefficients of ../typed/batch_norm.ts (where a data-parallel step's replicas combine
 * their sums) in between.
 */
import * as tf from '@tensorflow/tfjs';
import { BATCH_NORM_TRAINING_GRAD } from '../kernel_names';
import { gradientCoefficients } from '../typed/batch_norm';
import { channelAffine, gradientSums } from './simd/simd_kernels';
import { WASM, WasmKernelArgs, disposeInfos, float32View } from './wasm_kernel_util';

type GradInputs = Record<'dy' | 'dMean' | 'dVariance' | 'x' | 'mean' | 'variance' | 'scale', tf.TensorInfo>;

function batchNormTrainingGrad({ inputs, backend, attrs }: WasmKernelArgs): tf.TensorInfo[] {
  const { dy, dMean, dVariance, x, mean, variance, scale } = inputs as GradInputs;
  const epsilon = attrs?.varianceEpsilon as number;
  const channels = x.shape[x.shape.length - 1];
  const rows = tf.util.sizeFromShape(x.shape) / channels;
  const [dOffset, sumDyCentered, k1, k2, shift, dScale] = Array.from({ length: 6 }, () => backend.makeOutput([channels], 'float32'));
  const dx = backend.makeOutput(x.shape, 'float32');

  gradientSums(backend, dy, x, rows, channels, mean, dOffset, sumDyCentered);
  const view = (info: tf.TensorInfo): Float32Array => float32View(backend, info);
  gradientCoefficients(
    {
      scale: view(scale),
      mean: view(mean),
      variance: view(variance),
      dMean: view(dMean),
      dVariance: view(dVariance),
      sumDy: view(dOffset),
      sumDyCentered: view(sumDyCentered),
      k1: view(k1),
      k2: view(k2),
      shift: view(shift),
      dScale: view(dScale),
    },
    rows,
    epsilon,
  );
  channelAffine(backend, dy, k1, shift, rows, channels, dx, [x, k2]);
  disposeInfos(backend, sumDyCentered, k1, k2, shift);
  return [dx, dScale, dOffset];
}

export const batchNormTrainingGradConfig: tf.KernelConfig = {
  kernelName: BATCH_NORM_TRAINING_GRAD,
  backendName: WASM,
  kernelFunc: batchNormTrainingGrad as unknown as tf.KernelFunc,
};
