/**
 * Tile for wasm as block copies on the heap. tfjs's kernel computes an index per
 * element; the batch-norm gradient tiles a [1, 1, 1, C] tensor to a whole activation
 * in every training step, where it was the slowest kernel after the convolutions.
 */
import * as tf from '@tensorflow/tfjs';
import { WASM, WasmKernelArgs, runTfjsWasmKernel } from './wasm_kernel_util';

/** Writes x tiled by `reps` into `out` (row-major): each axis is copied once, then repeated as a block. */
export function tileInto(src: tf.TypedArray, shape: readonly number[], reps: readonly number[], dst: tf.TypedArray): void {
  const rank = shape.length;
  if (rank === 0) {
    dst.set(src);
    return;
  }
  const srcStrides = tf.util.computeStrides(shape as number[]);
  // outBlock[a]: elements of the output under one index of axis a.
  const outBlock = new Array<number>(rank).fill(1);
  for (let a = rank - 2; a >= 0; a--) outBlock[a] = outBlock[a + 1] * shape[a + 1] * reps[a + 1];
  const fill = (axis: number, srcOffset: number, dstOffset: number): void => {
    const n = shape[axis];
    if (axis === rank - 1) {
      dst.set(src.subarray(srcOffset, srcOffset + n), dstOffset);
    } else {
      for (let i = 0; i < n; i++) fill(axis + 1, srcOffset + i * srcStrides[axis], dstOffset + i * outBlock[axis]);
    }
    const block = n * outBlock[axis];
    for (let r = 1; r < reps[axis]; r++) dst.copyWithin(dstOffset + r * block, dstOffset, dstOffset + block);
  };
  fill(0, 0, 0);
}

function tile(args: WasmKernelArgs): tf.TensorInfo {
  const { x } = args.inputs as { x: tf.TensorInfo };
  const { reps } = args.attrs as unknown as tf.TileAttrs;
  if (x.dtype === 'string') return runTfjsWasmKernel(tf.Tile, args);
  const { backend } = args;
  const out = backend.makeOutput(
    x.shape.map((size, axis) => size * reps[axis]),
    x.dtype,
  );
  if (tf.util.sizeFromShape(out.shape) > 0) {
    tileInto(backend.typedArrayFromHeap(x), x.shape, reps, backend.typedArrayFromHeap(out));
  }
  return out;
}

export const tileConfig: tf.KernelConfig = {
  kernelName: tf.Tile,
  backendName: WASM,
  kernelFunc: tile as unknown as tf.KernelFunc,
};
