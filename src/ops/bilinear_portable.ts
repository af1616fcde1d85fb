/**
 * What the portable (tf-ops) paths of deformSample and deformConv2d share: the flat
 * gather indices of a bilinear sample's four corners, and the scatter-add that takes
 * the corners' gradients back to them.
 *
 * Every intermediate stays at rank 4 or below: webgl and webgpu have no Where above
 * rank 4 and no shader above rank 6, so the sample points are laid out flat ([P] or
 * [P, channels]) wherever a rank would otherwise grow.
 */
import * as tf from '@tensorflow/tfjs';

/** One axis's corner indices (int32), shaped like the coordinates. */
export interface CornerAxis {
  lo: tf.Tensor;
  hi: tf.Tensor;
}

/** Flattens each tensor and stacks them: [tensors.length, P] (axis 0) or [P, tensors.length] (axis 1). */
export function stackFlat(tensors: tf.Tensor[], axis: 0 | 1 = 0): tf.Tensor {
  return tf.stack(
    tensors.map((t) => tf.reshape(t, [-1])),
    axis,
  );
}

/**
 * Indices base + row * rowStride + col * colStride of the corners (lo,lo), (lo,hi),
 * (hi,lo), (hi,hi), flattened: [4, P] for P sample points. All int32: with plain-number
 * strides the arithmetic would turn float32 and lose exactness on large tensors.
 */
export function cornerIndices(base: tf.Tensor, rows: CornerAxis, cols: CornerAxis, rowStride: number, colStride: number): tf.Tensor {
  const rowStep = tf.scalar(rowStride, 'int32');
  const colStep = tf.scalar(colStride, 'int32');
  const index = (row: tf.Tensor, col: tf.Tensor) => tf.add(base, tf.add(tf.mul(row, rowStep), tf.mul(col, colStep)));
  return stackFlat([index(rows.lo, cols.lo), index(rows.lo, cols.hi), index(rows.hi, cols.lo), index(rows.hi, cols.hi)]);
}

/**
 * Sums the corners' gradients into a zero tensor of `rows` rows: row indices[k][p] gets
 * cornerGrads[k][p] for each corner k. cornerGrads are four tensors of P rows (a scalar
 * or a vector each). tf.scatterND sums repeated indices and, unlike unsortedSegmentSum,
 * exists on every backend (wasm has no UnsortedSegmentSum).
 */
export function scatterCorners(cornerGrads: tf.Tensor[], indices: tf.Tensor, rows: number): tf.Tensor {
  const updates = tf.concat(cornerGrads);
  return tf.scatterND(tf.reshape(indices, [-1, 1]), updates, [rows, ...updates.shape.slice(1)]);
}
