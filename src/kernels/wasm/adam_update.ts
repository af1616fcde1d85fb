/** AdamUpdate for wasm (see src/kernels/kernel_names.ts): one pass of the SIMD module's adamUpdate. */
import * as tf from '@tensorflow/tfjs';
import { ADAM_UPDATE, AdamUpdateAttrs } from '../kernel_names';
import { adamUpdate } from './simd/simd_kernels';
import { WASM, WasmKernelArgs, float32View } from './wasm_kernel_util';

function adamUpdateKernel({ inputs, backend, attrs }: WasmKernelArgs): tf.TensorInfo[] {
  const { value, m, v, gradient, correction1, correction2 } = inputs as Record<
    'value' | 'm' | 'v' | 'gradient' | 'correction1' | 'correction2',
    tf.TensorInfo
  >;
  const { beta1, beta2, epsilon, learningRate } = attrs as unknown as AdamUpdateAttrs;
  const outputs = [0, 1, 2].map(() => backend.makeOutput(value.shape, 'float32'));
  const corrections = { correction1: float32View(backend, correction1)[0], correction2: float32View(backend, correction2)[0] };
  adamUpdate(backend, [value, m, v, gradient], { beta1, beta2, epsilon, learningRate, ...corrections }, outputs);
  return outputs;
}

export const adamUpdateConfig: tf.KernelConfig = {
  kernelName: ADAM_UPDATE,
  backendName: WASM,
  kernelFunc: adamUpdateKernel as unknown as tf.KernelFunc,
};
