/** Registers batchNormTraining's kernels for tfjs's 'wasm' backend, by name (see register_deform.ts). */
import * as tf from '@tensorflow/tfjs';
import { batchNormTrainingConfig } from './batch_norm_training';
import { batchNormTrainingGradConfig } from './batch_norm_training_grad';

tf.registerKernel(batchNormTrainingConfig);
tf.registerKernel(batchNormTrainingGradConfig);
