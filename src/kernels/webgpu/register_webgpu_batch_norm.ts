/**
 * Registers batchNormTraining's kernels for tfjs's 'webgpu' backend, by name: the
 * forward pass in three programs (mean, variance, y), the backward in four (dOffset,
 * dScale, dx's coefficients, dx); see batch_norm_wgsl.ts. No replica sums here: synchronous batch norm
 * runs on cpu and wasm only (src/ops/batch_norm_training.ts refuses it elsewhere).
 */
import * as tf from '@tensorflow/tfjs';
import { BATCH_NORM_TRAINING, BATCH_NORM_TRAINING_GRAD } from '../kernel_names';
import { ChannelMap, channelMapSource, ColumnSum, columnSumSource } from './batch_norm_wgsl';
import { runProgram, Uniform, WebGPUBackend, WEBGPU, workgroupsFor } from './webgpu_program';

type Inputs = Record<string, tf.TensorInfo>;

/** The two kinds of program, bound to one call's backend, x and epsilon. */
interface Passes {
  sum(sum: ColumnSum, inputs: Inputs): tf.TensorInfo;
  /** Into x's shape, or `outputShape`. */
  map(map: ChannelMap, inputs: Inputs, outputShape?: number[]): tf.TensorInfo;
  dispose(info: tf.TensorInfo): void;
}

function passes(backend: WebGPUBackend, x: tf.TensorInfo, epsilon: number): Passes {
  const channels = x.shape[x.shape.length - 1];
  const rows = tf.util.sizeFromShape(x.shape) / channels;
  const uniforms: Record<string, Uniform> = { rows: ['i32', rows], channels: ['i32', channels], epsilon: ['f32', epsilon] };
  return {
    sum: (sum, inputs) =>
      runProgram(backend, {
        key: `batchnorm_${sum}`,
        source: columnSumSource(sum),
        inputs,
        outputShape: [channels],
        workgroups: channels,
        uniforms,
      }),
    map: (map, inputs, outputShape = x.shape) =>
      runProgram(backend, {
        key: `batchnorm_${map}`,
        source: channelMapSource(map),
        inputs,
        outputShape,
        workgroups: workgroupsFor(tf.util.sizeFromShape(outputShape)),
        uniforms,
      }),
    dispose: (info) => backend.disposeData(info.dataId),
  };
}

function kernel(kernelName: string, compute: (inputs: Inputs, run: Passes) => tf.TensorInfo[]): tf.KernelConfig {
  return {
    kernelName,
    backendName: WEBGPU,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x } = inputs as Inputs;
      return compute(inputs as Inputs, passes(backend as unknown as WebGPUBackend, x, attrs?.varianceEpsilon as number));
    },
  };
}

tf.registerKernel(
  kernel(BATCH_NORM_TRAINING, ({ x, scale, offset }, run) => {
    const mean = run.sum('mean', { x });
    const variance = run.sum('variance', { x, mean });
    return [run.map('y', { x, scale, offset, mean, variance }), mean, variance];
  }),
);

tf.registerKernel(
  kernel(BATCH_NORM_TRAINING_GRAD, ({ dy, dMean, dVariance, x, mean, variance, scale }, run) => {
    const dOffset = run.sum('dOffset', { dy });
    const dScale = run.sum('dScale', { dy, x, mean, variance });
    const coefficients = run.map('coefficients', { dMean, dVariance, mean, variance, scale, dScale, dOffset }, [3, mean.shape[0]]);
    const dx = run.map('dx', { dy, x, coefficients });
    run.dispose(coefficients);
    return [dx, dScale, dOffset];
  }),
);
