/**
 * Registers this package's kernels for tfjs's 'cpu' backend, by name: no import of the
 * backend, which the app chooses (tfjs's own kernel registry is global).
 */
import * as tf from '@tensorflow/tfjs';
import { DEFORM_KERNELS } from '../typed/deform_kernels';
import { cpuKernelFunc } from './cpu_kernel_util';

for (const kernel of DEFORM_KERNELS) {
  tf.registerKernel({ kernelName: kernel.kernelName, backendName: 'cpu', kernelFunc: cpuKernelFunc(kernel) });
}
