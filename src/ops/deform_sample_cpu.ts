/**
 * Fused deformSample kernels for the 'cpu' backend: they run the typed-array
 * implementation on the backend's own arrays (no per-element tensor ops).
 */
import * as tf from '@tensorflow/tfjs';
import { CpuBackend, float32Values } from '../kernels/cpu/cpu_kernel_util';
import { deformSampleBackward, deformSampleForward, nhwcShape } from './deform_sample_impl';
import { DEFORM_SAMPLE, DEFORM_SAMPLE_GRAD, DeformSampleGradInputs, DeformSampleInputs } from './kernel_names';


const forward: tf.KernelFunc = ({ inputs, backend }) => {
  const cpu = backend as unknown as CpuBackend;
  const { x, offsets } = inputs as DeformSampleInputs;
  const out = new Float32Array(tf.util.sizeFromShape(x.shape));
  deformSampleForward(float32Values(cpu, x), float32Values(cpu, offsets), out, nhwcShape(x.shape));
  return cpu.makeTensorInfo(x.shape, 'float32', out);
};

const backward: tf.KernelFunc = ({ inputs, backend }) => {
  const cpu = backend as unknown as CpuBackend;
  const { dy, x, offsets } = inputs as DeformSampleGradInputs;
  const dx = new Float32Array(tf.util.sizeFromShape(x.shape));
  const dOffsets = new Float32Array(tf.util.sizeFromShape(offsets.shape));
  deformSampleBackward(float32Values(cpu, dy), float32Values(cpu, x), float32Values(cpu, offsets), dx, dOffsets, nhwcShape(x.shape));
  return [
    cpu.makeTensorInfo(x.shape, 'float32', dx),
    cpu.makeTensorInfo(offsets.shape, 'float32', dOffsets),
  ];
};

tf.registerKernel({ kernelName: DEFORM_SAMPLE, backendName: 'cpu', kernelFunc: forward });
tf.registerKernel({ kernelName: DEFORM_SAMPLE_GRAD, backendName: 'cpu', kernelFunc: backward });
