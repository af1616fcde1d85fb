/**
 * Helpers for cpu kernels written in TypeScript: they read and write the typed arrays
 * that tfjs-backend-cpu keeps behind every tensor.
 */
import * as tf from '@tensorflow/tfjs';

/** The part of tfjs-backend-cpu's MathBackendCPU these kernels use. */
export interface CpuBackend {
  data: { get(dataId: tf.DataId): { values: unknown } };
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: Float32Array): tf.TensorInfo;
}

/** The float32 values behind a tensor on the cpu backend (no copy). */
export function float32Values(backend: CpuBackend, info: tf.TensorInfo): Float32Array {
  return backend.data.get(info.dataId).values as Float32Array;
}
