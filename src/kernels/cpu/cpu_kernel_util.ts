/**
 * Helpers for cpu kernels written in TypeScript: they read and write the typed arrays
 * that tfjs-backend-cpu keeps behind every tensor.
 */
import * as tf from '@tensorflow/tfjs';
import { kernelResult, TypedKernel } from '../typed/typed_kernel';

/** The part of tfjs-backend-cpu's MathBackendCPU these kernels use. */
export interface CpuBackend {
  data: { get(dataId: tf.DataId): { values: unknown } };
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: Float32Array): tf.TensorInfo;
}

/** The float32 values behind a tensor on the cpu backend (no copy). */
export function float32Values(backend: CpuBackend, info: tf.TensorInfo): Float32Array {
  return backend.data.get(info.dataId).values as Float32Array;
}

/** A typed kernel as a cpu kernel function: fresh (zero-filled) output arrays, inputs read in place. */
export function cpuKernelFunc(kernel: TypedKernel): tf.KernelFunc {
  return ({ inputs, backend, attrs = {} }) => {
    const cpu = backend as unknown as CpuBackend;
    const shapes = kernel.outputShapes(inputs, attrs);
    const outputs = shapes.map((shape) => new Float32Array(tf.util.sizeFromShape(shape)));
    const arrays = kernel.inputNames.map((name) => (inputs[name] === undefined ? null : float32Values(cpu, inputs[name])));
    kernel.compute(arrays, outputs, inputs, attrs);
    return kernelResult(shapes.map((shape, i) => cpu.makeTensorInfo(shape, 'float32', outputs[i])));
  };
}
