/**
 * A kernel on float32 typed arrays, written once for every backend that can hand out a
 * tensor's memory as a typed array (cpu: its JavaScript arrays; wasm: views of its heap).
 * The definition names the inputs, the outputs' shapes and the computation; each
 * backend's adapter (kernels/cpu, kernels/wasm) supplies the arrays.
 */
import type * as tf from '@tensorflow/tfjs';

export type KernelInputs = Record<string, tf.TensorInfo | undefined>;

export interface TypedKernel {
  kernelName: string;
  /** The inputs `compute` reads, in its order; an absent optional input arrives as null. */
  inputNames: readonly string[];
  outputShapes(inputs: KernelInputs, attrs: tf.NamedAttrMap): number[][];
  /** Outputs that `compute` accumulates into, so they must start at zero. */
  accumulatedOutputs: readonly number[];
  compute(arrays: (Float32Array | null)[], outputs: Float32Array[], inputs: KernelInputs, attrs: tf.NamedAttrMap): void;
}

/** What a kernel function returns: one output as itself (tfjs then returns a tensor), several as an array. */
export function kernelResult(outputs: tf.TensorInfo[]): tf.TensorInfo | tf.TensorInfo[] {
  return outputs.length === 1 ? outputs[0] : outputs;
}
