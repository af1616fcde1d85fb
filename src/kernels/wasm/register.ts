/**
 * Registers this package's wasm kernels, replacing tfjs's where it has slow ones
 * (tfjs's own stay reachable for the cases a replacement leaves to them).
 * Runs once, at import: importing the package is enough.
 */
import '@tensorflow/tfjs-backend-wasm';
import type * as tf from '@tensorflow/tfjs';
import { adamUpdateConfig } from './adam_update';
import { batchNormTrainingConfig } from './batch_norm_training';
import { batchNormTrainingGradConfig } from './batch_norm_training_grad';
import { castConfig } from './cast';
import { conv2DBackpropFilterConfig } from './conv2d_backprop_filter';
import { conv2DBackpropInputConfig } from './conv2d_backprop_input';
import { identityConfig } from './identity';
import { meanConfig } from './mean';
import { sumConfig } from './sum';
import { tileConfig } from './tile';
import { replaceWasmKernel } from './wasm_kernel_util';

/** The kernels this package registers for the wasm backend. */
export const wasmTrainingKernels: readonly tf.KernelConfig[] = [
  conv2DBackpropInputConfig,
  conv2DBackpropFilterConfig,
  identityConfig,
  castConfig,
  tileConfig,
  sumConfig,
  meanConfig,
  batchNormTrainingConfig,
  batchNormTrainingGradConfig,
  adamUpdateConfig,
];

let registered = false;

/** Idempotent; runs at import. */
export function registerWasmTrainingKernels(): void {
  if (registered) return;
  registered = true;
  wasmTrainingKernels.forEach(replaceWasmKernel);
}

registerWasmTrainingKernels();
