/**
 * Cast for wasm: a cast to the tensor's own dtype shares its memory (see identity.ts)
 * instead of copying it; ReLU's gradient casts a float32 mask to float32 every step.
 */
import * as tf from '@tensorflow/tfjs';
import { WASM, WasmKernelArgs, runTfjsWasmKernel, shareData } from './wasm_kernel_util';

function cast(args: WasmKernelArgs): tf.TensorInfo {
  const { x } = args.inputs as { x: tf.TensorInfo };
  const { dtype } = args.attrs as unknown as tf.CastAttrs;
  return dtype === x.dtype && dtype !== 'string' ? shareData(args.backend, x) : runTfjsWasmKernel(tf.Cast, args);
}

export const castConfig: tf.KernelConfig = {
  kernelName: tf.Cast,
  backendName: WASM,
  kernelFunc: cast as unknown as tf.KernelFunc,
};
