/** Registers batchNormTraining's kernels for tfjs's 'cpu' backend, by name (see register_cpu_deform.ts). */
import * as tf from '@tensorflow/tfjs';
import { CPU_BATCH_NORM_KERNELS } from './cpu_batch_norm_training';
import { cpuKernelFunc } from './cpu_kernel_util';

for (const kernel of CPU_BATCH_NORM_KERNELS) {
  tf.registerKernel({ kernelName: kernel.kernelName, backendName: 'cpu', kernelFunc: cpuKernelFunc(kernel) });
}
