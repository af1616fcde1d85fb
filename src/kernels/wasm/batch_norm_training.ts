/**
 * BatchNormTraining for wasm (see src/ops/batch_norm_training.ts), from the backend's
 * SIMD kernels: the per-channel sums are [1, rows] x [rows, C] matrix products, the
 * rest broadcast elementwise ops; a JavaScript loop over the heap is ~6x slower.
 * The variance is the mean of (x - mean)^2, not E[x^2] - mean^2, which cancels.
 */
import * as tf from '@tensorflow/tfjs';
import { BATCH_NORM_TRAINING } from '../../ops/batch_norm_training';
import { weightedColumnSums } from './reduce_leading_axes';
import { WASM, WasmKernelArgs, disposeInfos, float32View, runWasmKernel } from './wasm_kernel_util';

function batchNormTraining({ inputs, backend, attrs }: WasmKernelArgs): tf.TensorInfo[] {
  const { x, scale, offset } = inputs as Record<'x' | 'scale' | 'offset', tf.TensorInfo>;
  const epsilon = attrs?.varianceEpsilon as number;
  const channels = x.shape[x.shape.length - 1];
  const rows = tf.util.sizeFromShape(x.shape) / channels;

  const mean = weightedColumnSums(backend, x, rows, channels, 1 / rows);
  const centered = runWasmKernel(backend, 'Sub', { a: x, b: mean });
  const squares = runWasmKernel(backend, 'Square', { x: centered });
  const variance = weightedColumnSums(backend, squares, rows, channels, 1 / rows);
  disposeInfos(backend, squares);

  const gain = backend.makeOutput([channels], 'float32');
  const gains = float32View(backend, gain);
  const [gamma, variances] = [scale, variance].map((t) => float32View(backend, t));
  for (let c = 0; c < channels; c++) gains[c] = gamma[c] / Math.sqrt(variances[c] + epsilon);
  const scaled = runWasmKernel(backend, 'Multiply', { a: centered, b: gain });
  const y = runWasmKernel(backend, 'Add', { a: scaled, b: offset });
  disposeInfos(backend, centered, gain, scaled);
  return [{ ...y, shape: x.shape }, mean, variance];
}

export const batchNormTrainingConfig: tf.KernelConfig = {
  kernelName: BATCH_NORM_TRAINING,
  backendName: WASM,
  kernelFunc: batchNormTraining as unknown as tf.KernelFunc,
};
