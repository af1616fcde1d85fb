/** Sum for wasm: one heap pass over leading axes (see reduce_leading_axes.ts), tfjs's kernel otherwise. */
import * as tf from '@tensorflow/tfjs';
import { reduceLeadingAxes } from './reduce_leading_axes';
import { WASM, WasmKernelArgs, runTfjsWasmKernel } from './wasm_kernel_util';

function sum(args: WasmKernelArgs): tf.TensorInfo {
  return reduceLeadingAxes(args, () => 1) ?? runTfjsWasmKernel(tf.Sum, args);
}

export const sumConfig: tf.KernelConfig = {
  kernelName: tf.Sum,
  backendName: WASM,
  kernelFunc: sum as unknown as tf.KernelFunc,
};
