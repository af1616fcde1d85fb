/**
 * deformSample composed from standard tf ops (gather-based), for every backend without
 * a fused kernel (tensorflow, tensorflow-gpu, webgl without float blending, ...).
 * Arguments are assumed checked by `deformSample`. No intermediate exceeds rank 4 (see
 * bilinear_portable.ts).
 *
 * The gradient is written out with tf.customGrad rather than left to autodiff: tfjs
 * cannot differentiate through a gather whose indices depend on a differentiated input
 * (it demands a float32 gradient for the int32 indices), and one scatter of all four
 * corners is cheaper than the four that autodiff would build.
 */
import * as tf from '@tensorflow/tfjs';
import { cornerIndices, scatterCorners, stackFlat } from './bilinear_portable';

/** Linear interpolation along one axis, as tensors shaped like the coordinates. */
interface AxisWeights {
  /** floor of the clipped coordinate, and floor + 1 clamped to size - 1 (int32). */
  lo: tf.Tensor;
  hi: tf.Tensor;
  /** Weights of the lo and hi corners. */
  wLo: tf.Tensor;
  wHi: tf.Tensor;
  /** 1 where the coordinate lies in [0, size - 1], 0 where it was clipped. */
  inside: tf.Tensor;
}

function axisWeights(coord: tf.Tensor, size: number): AxisWeights {
  const clipped = tf.clipByValue(coord, 0, size - 1);
  const floor = tf.floor(clipped);
  const lo = tf.cast(floor, 'int32');
  const wHi = tf.sub(clipped, floor);
  return {
    lo,
    hi: tf.minimum(tf.add(lo, tf.scalar(1, 'int32')), tf.scalar(size - 1, 'int32')),
    wLo: tf.sub(1, wHi),
    wHi,
    inside: tf.cast(tf.equal(coord, clipped), 'float32'),
  };
}

/** The four corners' values, each [B, H, W, C], in the order (lo,lo), (lo,hi), (hi,lo), (hi,hi). */
interface Corners {
  rows: AxisWeights;
  cols: AxisWeights;
  /** Flat indices of the corners in x, [4, B*H*W*C]. */
  indices: tf.Tensor;
  values: tf.Tensor[];
}

function corners(x: tf.Tensor4D, offsets: tf.Tensor4D): Corners {
  const [batch, height, width, channels] = x.shape;
  const [dy, dx] = tf.unstack(tf.reshape(offsets, [-1, 2]), 1).map((t) => tf.reshape(t, x.shape));
  const rows = axisWeights(tf.add(tf.reshape(tf.range(0, height), [1, height, 1, 1]), dy), height);
  const cols = axisWeights(tf.add(tf.reshape(tf.range(0, width), [1, 1, width, 1]), dx), width);
  const imageSize = height * width * channels;
  const batchAndChannel = tf.add(
    tf.reshape(tf.range(0, batch * imageSize, imageSize, 'int32'), [batch, 1, 1, 1]),
    tf.reshape(tf.range(0, channels, 1, 'int32'), [1, 1, 1, channels]),
  );
  const indices = cornerIndices(batchAndChannel, rows, cols, width * channels, channels);
  const values = tf.unstack(tf.gather(tf.reshape(x, [-1]), indices)).map((t) => tf.reshape(t, x.shape));
  return { rows, cols, indices, values };
}

/** Interpolation along the columns at the lo and hi rows. */
function alongColumns({ cols, values }: Corners): [tf.Tensor, tf.Tensor] {
  const [v00, v01, v10, v11] = values;
  return [tf.add(tf.mul(cols.wLo, v00), tf.mul(cols.wHi, v01)), tf.add(tf.mul(cols.wLo, v10), tf.mul(cols.wHi, v11))];
}

function forward(x: tf.Tensor4D, offsets: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const sampled = corners(x, offsets);
    const [alongLo, alongHi] = alongColumns(sampled);
    // Same association as the fused kernels: columns inside, rows outside.
    const { rows } = sampled;
    return tf.add(tf.mul(rows.wLo, alongLo), tf.mul(rows.wHi, alongHi)) as tf.Tensor4D;
  });
}

function backward(dy: tf.Tensor, x: tf.Tensor4D, offsets: tf.Tensor4D): [tf.Tensor, tf.Tensor] {
  return tf.tidy(() => {
    const sampled = corners(x, offsets);
    const { rows, cols, indices, values } = sampled;
    const [v00, v01, v10, v11] = values;
    const cornerGrads = [
      tf.mul(dy, tf.mul(rows.wLo, cols.wLo)),
      tf.mul(dy, tf.mul(rows.wLo, cols.wHi)),
      tf.mul(dy, tf.mul(rows.wHi, cols.wLo)),
      tf.mul(dy, tf.mul(rows.wHi, cols.wHi)),
    ].map((t) => tf.reshape(t, [-1]));
    const dx = tf.reshape(scatterCorners(cornerGrads, indices, x.size), x.shape);
    // d(sample)/d(coordinate): the weights' derivatives are -1 (lo) and +1 (hi) inside.
    const [alongLo, alongHi] = alongColumns(sampled);
    const dRow = tf.mul(rows.inside, tf.sub(alongHi, alongLo));
    const dCol = tf.mul(cols.inside, tf.add(tf.mul(rows.wLo, tf.sub(v01, v00)), tf.mul(rows.wHi, tf.sub(v11, v10))));
    const dOffsets = tf.reshape(stackFlat([tf.mul(dy, dRow), tf.mul(dy, dCol)], 1), offsets.shape);
    return [dx, dOffsets];
  });
}

export const deformSamplePortable: (x: tf.Tensor4D, offsets: tf.Tensor4D) => tf.Tensor4D = tf.customGrad(
  (...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [x, offsets, save] = args as [tf.Tensor4D, tf.Tensor4D, tf.GradSaveFunc];
    save([x, offsets]);
    return {
      value: forward(x, offsets),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => backward(dy, saved[0] as tf.Tensor4D, saved[1] as tf.Tensor4D),
    };
  },
) as (x: tf.Tensor4D, offsets: tf.Tensor4D) => tf.Tensor4D;
