/** Registers batchNormTraining's kernels for tfjs's 'wasm' backend, by name (see register_wasm_deform.ts). */
import * as tf from '@tensorflow/tfjs';
import { batchNormTrainingConfig } from './wasm_batch_norm_training';
import { batchNormTrainingGradConfig } from './wasm_batch_norm_training_grad';

tf.registerKernel(batchNormTrainingConfig);
tf.registerKernel(batchNormTrainingGradConfig);
