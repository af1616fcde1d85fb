/**
 * What the portable (tf-ops) paths of deformSample and deformConv2d share: the flat
 * gather indices of a bilinear sample's four corners.
 */
import * as tf from '@tensorflow/tfjs';

/** One axis's corner indices (int32), shaped like the coordinates. */
export interface CornerAxis {
  lo: tf.Tensor;
  hi: tf.Tensor;
}

/**
 * Indices base + row * rowStride + col * colStride of the corners (lo,lo), (lo,hi),
 * (hi,lo), (hi,hi), stacked on a new first axis. All int32: with plain-number strides
 * the arithmetic would turn float32 and lose exactness on large tensors.
 */
export function cornerIndices(base: tf.Tensor, rows: CornerAxis, cols: CornerAxis, rowStride: number, colStride: number): tf.Tensor {
  const rowStep = tf.scalar(rowStride, 'int32');
  const colStep = tf.scalar(colStride, 'int32');
  const index = (row: tf.Tensor, col: tf.Tensor) => tf.add(base, tf.add(tf.mul(row, rowStep), tf.mul(col, colStep)));
  return tf.stack([index(rows.lo, cols.lo), index(rows.lo, cols.hi), index(rows.hi, cols.lo), index(rows.hi, cols.hi)]);
}
