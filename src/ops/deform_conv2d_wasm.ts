/**
 * Fused deformable im2col / col2im kernels for the 'wasm' backend: the typed-array
 * implementation reads and writes the tensors in place on the wasm heap (no copies, no
 * per-element tensor ops). Registering by name needs no import of the wasm backend.
 */
import * as tf from '@tensorflow/tfjs';
import { deformCol2im, deformIm2col } from './deform_conv2d_impl';
import {
  DEFORM_COL2IM,
  DEFORM_IM2COL,
  DeformCol2ImInputs,
  DeformConvGeometry,
  DeformIm2ColInputs,
} from './deform_conv2d_kernel_names';

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

function optionalHeap(backend: WasmBackend, info: tf.TensorInfo | undefined): Float32Array | null {
  return info === undefined ? null : heap(backend, info);
}

const im2col: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const wasm = backend as unknown as WasmBackend;
  const { x, offsets, mask } = inputs as DeformIm2ColInputs;
  const geometry = attrs as unknown as DeformConvGeometry;
  const [batch] = x.shape;
  const columns = wasm.makeOutput(
    [batch * geometry.outHeight * geometry.outWidth, geometry.kernelHeight * geometry.kernelWidth * geometry.inChannels],
    'float32',
  );
  deformIm2col(heap(wasm, x), heap(wasm, offsets), optionalHeap(wasm, mask), heap(wasm, columns), batch, geometry);
  return columns;
};

const col2im: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const wasm = backend as unknown as WasmBackend;
  const { dColumns, x, offsets, mask } = inputs as DeformCol2ImInputs;
  const geometry = attrs as unknown as DeformConvGeometry;
  const dx = wasm.makeOutput(x.shape, 'float32');
  const dOffsets = wasm.makeOutput(offsets.shape, 'float32');
  const dMask = mask === undefined ? null : wasm.makeOutput(mask.shape, 'float32');
  const dxValues = heap(wasm, dx);
  dxValues.fill(0);
  deformCol2im(
    heap(wasm, dColumns),
    heap(wasm, x),
    heap(wasm, offsets),
    optionalHeap(wasm, mask),
    dxValues,
    heap(wasm, dOffsets),
    dMask === null ? null : heap(wasm, dMask),
    x.shape[0],
    geometry,
  );
  return dMask === null ? [dx, dOffsets] : [dx, dOffsets, dMask];
};

tf.registerKernel({ kernelName: DEFORM_IM2COL, backendName: 'wasm', kernelFunc: im2col });
tf.registerKernel({ kernelName: DEFORM_COL2IM, backendName: 'wasm', kernelFunc: col2im });
