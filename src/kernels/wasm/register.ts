/**
 * Registers this package's own kernels for tfjs's 'wasm' backend, by name: the
 * deformable kernels, batch norm's and Adam's. None replaces a tfjs kernel and none needs
 * the backend imported (its instance arrives with every call), so importing the library
 * registers no backend; `deformconv/wasm` (replace_tfjs_kernels.ts) is the part that does.
 */
import * as tf from '@tensorflow/tfjs';
import { DEFORM_KERNELS } from '../typed/deform_kernels';
import { adamUpdateConfig } from './adam_update';
import { batchNormTrainingConfig } from './batch_norm_training';
import { batchNormTrainingGradConfig } from './batch_norm_training_grad';
import { WASM, wasmKernelFunc } from './wasm_kernel_util';

/** The kernels registered under names of this package's own. */
export const wasmOwnKernels: readonly tf.KernelConfig[] = [
  ...DEFORM_KERNELS.map((kernel) => ({ kernelName: kernel.kernelName, backendName: WASM, kernelFunc: wasmKernelFunc(kernel) })),
  batchNormTrainingConfig,
  batchNormTrainingGradConfig,
  adamUpdateConfig,
];

wasmOwnKernels.forEach((config) => tf.registerKernel(config));
