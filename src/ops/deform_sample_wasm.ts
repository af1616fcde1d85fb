/**
 * Fused deformSample kernels for the 'wasm' backend: the typed-array implementation
 * reads and writes the tensors in place on the wasm heap (no copies, no per-element
 * tensor ops). Registering by name needs no import of the wasm backend itself.
 */
import * as tf from '@tensorflow/tfjs';
import { deformSampleBackward, deformSampleForward, nhwcShape } from './deform_sample_impl';
import { DEFORM_SAMPLE, DEFORM_SAMPLE_GRAD, DeformSampleGradInputs, DeformSampleInputs } from './kernel_names';

/** The part of tfjs-backend-wasm's BackendWasm these kernels use. */
interface WasmBackend {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): tf.TypedArray;
}

/**
 * Heap views are taken only after every output is allocated: an allocation may grow
 * the wasm memory, which detaches views taken before it.
 */
function heap(backend: WasmBackend, info: tf.TensorInfo): Float32Array {
  return backend.typedArrayFromHeap(info) as Float32Array;
}

const forward: tf.KernelFunc = ({ inputs, backend }) => {
  const wasm = backend as unknown as WasmBackend;
  const { x, offsets } = inputs as DeformSampleInputs;
  const out = wasm.makeOutput(x.shape, 'float32');
  deformSampleForward(heap(wasm, x), heap(wasm, offsets), heap(wasm, out), nhwcShape(x.shape));
  return out;
};

const backward: tf.KernelFunc = ({ inputs, backend }) => {
  const wasm = backend as unknown as WasmBackend;
  const { dy, x, offsets } = inputs as DeformSampleGradInputs;
  const dx = wasm.makeOutput(x.shape, 'float32');
  const dOffsets = wasm.makeOutput(offsets.shape, 'float32');
  const dxValues = heap(wasm, dx);
  dxValues.fill(0);
  deformSampleBackward(
    heap(wasm, dy),
    heap(wasm, x),
    heap(wasm, offsets),
    dxValues,
    heap(wasm, dOffsets),
    nhwcShape(x.shape),
  );
  return [dx, dOffsets];
};

tf.registerKernel({ kernelName: DEFORM_SAMPLE, backendName: 'wasm', kernelFunc: forward });
tf.registerKernel({ kernelName: DEFORM_SAMPLE_GRAD, backendName: 'wasm', kernelFunc: backward });
