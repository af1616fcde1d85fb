/** Registers the fused Adam step for tfjs's 'wasm' backend, by name (see register_wasm_deform.ts). */
import * as tf from '@tensorflow/tfjs';
import { adamUpdateConfig } from './adam_update';

tf.registerKernel(adamUpdateConfig);
