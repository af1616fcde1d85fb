/**
 * Identity for wasm that shares the input's memory (reference-counted, as Reshape
 * already does) instead of copying it. The engine clones every tensor it saves for
 * backprop through Identity, so tfjs's copying kernel costs a full copy of each
 * activation in every training step.
 */
import * as tf from '@tensorflow/tfjs';
import { WASM, WasmKernelArgs, runTfjsWasmKernel, shareData } from './wasm_kernel_util';

function identity(args: WasmKernelArgs): tf.TensorInfo {
  const { x } = args.inputs as { x: tf.TensorInfo };
  return x.dtype === 'string' ? runTfjsWasmKernel(tf.Identity, args) : shareData(args.backend, x);
}

export const identityConfig: tf.KernelConfig = {
  kernelName: tf.Identity,
  backendName: WASM,
  kernelFunc: identity as unknown as tf.KernelFunc,
};
