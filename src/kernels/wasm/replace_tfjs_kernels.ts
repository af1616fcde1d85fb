/**
 * Loads tfjs's wasm backend and replaces the kernels of it that are slow for training
 * (tfjs's own stay reachable for the cases a replacement leaves to them). This is what
 * `import 'deformconv/wasm'` runs: it registers the wasm backend, as importing
 * '@tensorflow/tfjs-backend-wasm' does, so only an app that chose wasm imports it.
 */
import '@tensorflow/tfjs-backend-wasm';
import type * as tf from '@tensorflow/tfjs';
import { castConfig } from './cast';
import { conv2DConfig, fusedConv2DConfig } from './conv2d';
import { conv2DBackpropFilterConfig } from './conv2d_backprop_filter';
import { conv2DBackpropInputConfig } from './conv2d_backprop_input';
import { identityConfig } from './identity';
import { meanConfig } from './mean';
import './register_wasm_adam';
import './register_wasm_batch_norm';
import './register_wasm_deform';
import { sumConfig } from './sum';
import { tileConfig } from './tile';
import { replaceWasmKernel } from './wasm_kernel_util';

/** The tfjs wasm kernels this package replaces. */
export const wasmReplacementKernels: readonly tf.KernelConfig[] = [
  conv2DConfig,
  fusedConv2DConfig,
  conv2DBackpropInputConfig,
  conv2DBackpropFilterConfig,
  identityConfig,
  castConfig,
  tileConfig,
  sumConfig,
  meanConfig,
];

wasmReplacementKernels.forEach(replaceWasmKernel);
