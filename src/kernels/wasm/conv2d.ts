/**
 * Conv2D and FusedConv2D for wasm (NHWC): stride-1 3x3 convolutions by Winograd F(4x4, 3x3)
 * (winograd.ts), three times fewer multiplications on the experiment's maps; every other
 * convolution, and activations other than ReLU, by tfjs's own kernel (XNNPACK's).
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { WASM, WasmKernelArgs, dilationPair, runTfjsWasmKernel } from './wasm_kernel_util';
import { WinogradGeometry, winogradConv2D, winogradGeometry } from './winograd';

/** The Winograd geometry of a forward convolution of x with `filter`, or null. */
export function forwardGeometry(x: tf.TensorInfo, filter: tf.TensorInfo, attrs: tf.Conv2DAttrs): WinogradGeometry | null {
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filter.shape as [number, number, number, number],
    attrs.strides,
    dilationPair(attrs.dilations),
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    tf.backend_util.convertConv2DDataFormat(attrs.dataFormat),
  );
  return winogradGeometry(info);
}

function conv2D(args: WasmKernelArgs): tf.TensorInfo {
  const { x, filter } = args.inputs as { x: tf.TensorInfo; filter: tf.TensorInfo };
  const g = forwardGeometry(x, filter, args.attrs as unknown as tf.Conv2DAttrs);
  if (g === null) return runTfjsWasmKernel(tf.Conv2D, args);
  return winogradConv2D(args.backend, x, filter, g, { bias: null, relu: false });
}

function fusedConv2D(args: WasmKernelArgs): tf.TensorInfo {
  const { x, filter, bias } = args.inputs as { x: tf.TensorInfo; filter: tf.TensorInfo; bias?: tf.TensorInfo };
  const attrs = args.attrs as unknown as tf.FusedConv2DAttrs;
  const activation = attrs.activation ?? 'linear';
  const g = forwardGeometry(x, filter, attrs);
  const plainBias = bias == null || (bias.shape.length === 1 && bias.shape[0] === g?.outC);
  if (g === null || !plainBias || (activation !== 'linear' && activation !== 'relu')) {
    return runTfjsWasmKernel(tf.FusedConv2D, args);
  }
  return winogradConv2D(args.backend as BackendWasm, x, filter, g, { bias: bias ?? null, relu: activation === 'relu' });
}

export const conv2DConfig: tf.KernelConfig = {
  kernelName: tf.Conv2D,
  backendName: WASM,
  kernelFunc: conv2D as unknown as tf.KernelFunc,
};

export const fusedConv2DConfig: tf.KernelConfig = {
  kernelName: tf.FusedConv2D,
  backendName: WASM,
  kernelFunc: fusedConv2D as unknown as tf.KernelFunc,
};
