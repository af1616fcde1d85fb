/**
 * Registers the deformable kernels for tfjs's 'wasm' backend, by name. They replace no
 * tfjs kernel and need no import of the backend (its instance arrives with every call),
 * so importing the library registers no backend; `deformconv/wasm`
 * (replace_tfjs_kernels.ts) is the part that does.
 */
import * as tf from '@tensorflow/tfjs';
import { DEFORM_KERNELS } from '../typed/deform_kernels';
import { WASM, wasmKernelFunc } from './wasm_kernel_util';

for (const kernel of DEFORM_KERNELS) {
  tf.registerKernel({ kernelName: kernel.kernelName, backendName: WASM, kernelFunc: wasmKernelFunc(kernel) });
}
