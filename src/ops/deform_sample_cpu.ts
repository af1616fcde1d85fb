/**
 * Fused deformSample kernels for the 'cpu' backend: they run the typed-array
 * implementation on the backend's own arrays (no per-element tensor ops).
 */
import * as tf from '@tensorflow/tfjs';
import { deformSampleBackward, deformSampleForward, nhwcShape } from './deform_sample_impl';
import { DEFORM_SAMPLE, DEFORM_SAMPLE_GRAD, DeformSampleGradInputs, DeformSampleInputs } from './kernel_names';

/** The part of tfjs-backend-cpu's MathBackendCPU these kernels use. */
interface CpuBackend {
  data: { get(dataId: tf.DataId): { values: unknown } };
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: Float32Array): tf.TensorInfo;
}

function values(backend: CpuBackend, info: tf.TensorInfo): Float32Array {
  return backend.data.get(info.dataId).values as Float32Array;
}

const forward: tf.KernelFunc = ({ inputs, backend }) => {
  const cpu = backend as unknown as CpuBackend;
  const { x, offsets } = inputs as DeformSampleInputs;
  const out = new Float32Array(tf.util.sizeFromShape(x.shape));
  deformSampleForward(values(cpu, x), values(cpu, offsets), out, nhwcShape(x.shape));
  return cpu.makeTensorInfo(x.shape, 'float32', out);
};

const backward: tf.KernelFunc = ({ inputs, backend }) => {
  const cpu = backend as unknown as CpuBackend;
  const { dy, x, offsets } = inputs as DeformSampleGradInputs;
  const dx = new Float32Array(tf.util.sizeFromShape(x.shape));
  const dOffsets = new Float32Array(tf.util.sizeFromShape(offsets.shape));
  deformSampleBackward(values(cpu, dy), values(cpu, x), values(cpu, offsets), dx, dOffsets, nhwcShape(x.shape));
  return [
    cpu.makeTensorInfo(x.shape, 'float32', dx),
    cpu.makeTensorInfo(offsets.shape, 'float32', dOffsets),
  ];
};

tf.registerKernel({ kernelName: DEFORM_SAMPLE, backendName: 'cpu', kernelFunc: forward });
tf.registerKernel({ kernelName: DEFORM_SAMPLE_GRAD, backendName: 'cpu', kernelFunc: backward });
