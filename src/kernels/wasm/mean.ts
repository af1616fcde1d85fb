/** Mean for wasm: one heap pass over leading axes (see reduce_leading_axes.ts), tfjs's kernel otherwise. */
import * as tf from '@tensorflow/tfjs';
import { reduceLeadingAxes } from './reduce_leading_axes';
import { WASM, WasmKernelArgs, runTfjsWasmKernel } from './wasm_kernel_util';

function mean(args: WasmKernelArgs): tf.TensorInfo {
  return reduceLeadingAxes(args, (rows) => 1 / rows) ?? runTfjsWasmKernel(tf.Mean, args);
}

export const meanConfig: tf.KernelConfig = {
  kernelName: tf.Mean,
  backendName: WASM,
  kernelFunc: mean as unknown as tf.KernelFunc,
};
