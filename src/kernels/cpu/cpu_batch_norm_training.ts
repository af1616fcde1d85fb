/**
 * BatchNormTraining and its gradient for the cpu backend (see src/ops/batch_norm_training.ts):
 * column sums in plain loops, then the per-channel arithmetic the wasm kernels share
 * (../typed/batch_norm.ts, where a data-parallel step's replicas combine their sums), then
 * one affine pass. Rows are x viewed as [rows, channels].
 */
import * as tf from '@tensorflow/tfjs';
import { BATCH_NORM_TRAINING, BATCH_NORM_TRAINING_GRAD } from '../kernel_names';
import { gradientCoefficients, normalizationCoefficients } from '../typed/batch_norm';
import { TypedKernel } from '../typed/typed_kernel';

function channelsOf(inputs: Record<string, tf.TensorInfo | undefined>): number {
  const { shape } = inputs.x as tf.TensorInfo;
  return shape[shape.length - 1];
}

/** out[r, c] = u[r, c] * a[c] + shift[c], plus v[r, c] * b[c] with `second` = [v, b]. */
function affine(out: Float32Array, u: Float32Array, a: Float32Array, shift: Float32Array, second?: [Float32Array, Float32Array]): void {
  const channels = a.length;
  for (let i = 0; i < out.length; i += channels) {
    for (let c = 0; c < channels; c++) out[i + c] = u[i + c] * a[c] + shift[c];
  }
  if (second === undefined) return;
  const [v, b] = second;
  for (let i = 0; i < out.length; i += channels) {
    for (let c = 0; c < channels; c++) out[i + c] += v[i + c] * b[c];
  }
}

const batchNormTraining: TypedKernel = {
  kernelName: BATCH_NORM_TRAINING,
  inputNames: ['x', 'scale', 'offset'],
  outputShapes: (inputs) => [(inputs.x as tf.TensorInfo).shape, [channelsOf(inputs)], [channelsOf(inputs)]],
  accumulatedOutputs: [1, 2],
  compute: ([x, scale, offset], [y, mean, variance], _inputs, attrs) => {
    const input = x as Float32Array;
    const channels = mean.length;
    const rows = input.length / channels;
    for (let i = 0; i < input.length; i += channels) for (let c = 0; c < channels; c++) mean[c] += input[i + c];
    for (let c = 0; c < channels; c++) mean[c] /= rows;
    for (let i = 0; i < input.length; i += channels) {
      for (let c = 0; c < channels; c++) variance[c] += (input[i + c] - mean[c]) ** 2;
    }
    const gain = new Float32Array(channels);
    const shift = new Float32Array(channels);
    const arrays = { scale: scale as Float32Array, offset: offset as Float32Array, mean, variance, gain, shift };
    normalizationCoefficients(arrays, rows, attrs.varianceEpsilon as number);
    affine(y, input, gain, shift);
  },
};

const batchNormTrainingGrad: TypedKernel = {
  kernelName: BATCH_NORM_TRAINING_GRAD,
  inputNames: ['dy', 'dMean', 'dVariance', 'x', 'mean', 'variance', 'scale'],
  outputShapes: (inputs) => [(inputs.x as tf.TensorInfo).shape, [channelsOf(inputs)], [channelsOf(inputs)]],
  accumulatedOutputs: [2],
  compute: (arrays, [dx, dScale, dOffset], _inputs, attrs) => {
    const [dy, dMean, dVariance, x, mean, variance, scale] = arrays as Float32Array[];
    const channels = mean.length;
    const rows = x.length / channels;
    const sumDyCentered = new Float32Array(channels);
    for (let i = 0; i < x.length; i += channels) {
      for (let c = 0; c < channels; c++) {
        dOffset[c] += dy[i + c];
        sumDyCentered[c] += dy[i + c] * (x[i + c] - mean[c]);
      }
    }
    const [k1, k2, shift] = Array.from({ length: 3 }, () => new Float32Array(channels));
    const coefficients = { scale, mean, variance, dMean, dVariance, sumDy: dOffset, sumDyCentered, k1, k2, shift, dScale };
    gradientCoefficients(coefficients, rows, attrs.varianceEpsilon as number);
    affine(dx, dy, k1, shift, [x, k2]);
  },
};

/** The cpu backend's batch norm training kernels. */
export const CPU_BATCH_NORM_KERNELS: readonly TypedKernel[] = [batchNormTraining, batchNormTrainingGrad];
