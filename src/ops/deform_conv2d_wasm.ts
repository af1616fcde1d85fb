/**
 * Fused deformable im2col / col2im kernels for the 'wasm' backend: the typed-array
 * implementation reads and writes the tensors in place on the wasm heap (no copies, no
 * per-element tensor ops). Registering by name needs no import of the wasm backend.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm as WasmBackend } from '@tensorflow/tfjs-backend-wasm';
import { float32View } from '../kernels/wasm/wasm_kernel_util';
import { deformCol2im, deformIm2col } from './deform_conv2d_impl';
import {
  DEFORM_COL2IM,
  DEFORM_IM2COL,
  DeformCol2ImInputs,
  DeformConvGeometry,
  DeformIm2ColInputs,
  columnsShape,
} from './kernel_names';

function optionalHeap(backend: WasmBackend, info: tf.TensorInfo | undefined): Float32Array | null {
  return info === undefined ? null : float32View(backend, info);
}

const im2col: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const wasm = backend as unknown as WasmBackend;
  const { x, offsets, mask } = inputs as DeformIm2ColInputs;
  const geometry = attrs as unknown as DeformConvGeometry;
  const [batch] = x.shape;
  const columns = wasm.makeOutput(columnsShape(batch, geometry), 'float32');
  deformIm2col(float32View(wasm, x), float32View(wasm, offsets), optionalHeap(wasm, mask), float32View(wasm, columns), batch, geometry);
  return columns;
};

const col2im: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const wasm = backend as unknown as WasmBackend;
  const { dColumns, x, offsets, mask } = inputs as DeformCol2ImInputs;
  const geometry = attrs as unknown as DeformConvGeometry;
  const dx = wasm.makeOutput(x.shape, 'float32');
  const dOffsets = wasm.makeOutput(offsets.shape, 'float32');
  const dMask = mask === undefined ? null : wasm.makeOutput(mask.shape, 'float32');
  const dxValues = float32View(wasm, dx);
  dxValues.fill(0);
  deformCol2im(
    float32View(wasm, dColumns),
    float32View(wasm, x),
    float32View(wasm, offsets),
    optionalHeap(wasm, mask),
    dxValues,
    float32View(wasm, dOffsets),
    dMask === null ? null : float32View(wasm, dMask),
    x.shape[0],
    geometry,
  );
  return dMask === null ? [dx, dOffsets] : [dx, dOffsets, dMask];
};

tf.registerKernel({ kernelName: DEFORM_IM2COL, backendName: 'wasm', kernelFunc: im2col });
tf.registerKernel({ kernelName: DEFORM_COL2IM, backendName: 'wasm', kernelFunc: col2im });
