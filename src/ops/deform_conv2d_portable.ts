/**
 * Deformable im2col and col2im composed from standard tf ops (gather-based), for every
 * backend without the fused kernels (tensorflow, tensorflow-gpu, ...). Same semantics as
 * kernels/typed/typed_deform_conv2d.ts: bilinear sampling with zeros outside the image.
 * No autodiff runs through these: deformConv2d declares its gradient itself.
 *
 * The sample points (T = kh*kw taps, G = offset groups, Cg = Cin / G channels per group)
 * are P = B*Ho*Wo*T*G, in (b, i, j, t, g) order: their coordinates and weights as
 * [B, Ho, Wo, T*G], their values as [P, Cg], so that the values' rows flatten to the
 * column order t*Cin + c, with c = g*Cg + cg. Nothing exceeds rank 4 (see bilinear_portable.ts).
 */
import * as tf from '@tensorflow/tfjs';
import { cornerIndices, scatterCorners } from './bilinear_portable';
import { columnsShape, DeformConvGeometry } from '../kernels/kernel_names';

/** Linear interpolation along one axis with zeros outside it, shaped like the coordinates. */
interface AxisWeights {
  /** Corner indices floor(coord) and floor(coord) + 1, clamped into the axis (int32). */
  lo: tf.Tensor;
  hi: tf.Tensor;
  /** Corner weights, 0 for a corner outside the axis. */
  wLo: tf.Tensor;
  wHi: tf.Tensor;
  /** Derivatives of wLo and wHi with respect to the coordinate (-1 / +1 inside, 0 outside). */
  dLo: tf.Tensor;
  dHi: tf.Tensor;
}

function axisWeights(coord: tf.Tensor, size: number): AxisWeights {
  const floor = tf.floor(coord);
  const frac = tf.sub(coord, floor);
  // A sample in (-1, size) touches the axis; a NaN coordinate touches nothing.
  const touches = tf.logicalAnd(tf.greater(coord, -1), tf.less(coord, size));
  const loInside = tf.logicalAnd(touches, tf.greaterEqual(floor, 0));
  const hiInside = tf.logicalAnd(touches, tf.less(floor, size - 1));
  const zeros = tf.zerosLike(coord);
  const ones = tf.onesLike(coord);
  const index = (corner: tf.Tensor) => tf.cast(tf.clipByValue(tf.where(touches, corner, zeros), 0, size - 1), 'int32');
  return {
    lo: index(floor),
    hi: index(tf.add(floor, 1)),
    wLo: tf.where(loInside, tf.sub(1, frac), zeros),
    wHi: tf.where(hiInside, frac, zeros),
    dLo: tf.where(loInside, tf.neg(ones), zeros),
    dHi: tf.where(hiInside, ones, zeros),
  };
}

/**
 * Each tap's regular sampling position along one axis, [1, Ho, 1, T*G] for rows or
 * [1, 1, Wo, T*G] for columns (the same for every offset group g of tap t).
 */
function tapOrigins(geometry: DeformConvGeometry, axis: 'row' | 'col'): tf.Tensor {
  const { outHeight, outWidth, kernelHeight, kernelWidth, offsetGroups } = geometry;
  const isRow = axis === 'row';
  const outSize = isRow ? outHeight : outWidth;
  const stride = isRow ? geometry.strideHeight : geometry.strideWidth;
  const pad = isRow ? geometry.padTop : geometry.padLeft;
  const dilation = isRow ? geometry.dilationHeight : geometry.dilationWidth;
  const lanes = kernelHeight * kernelWidth * offsetGroups;
  const values = new Float32Array(outSize * lanes);
  for (let o = 0; o < outSize; o++) {
    for (let lane = 0; lane < lanes; lane++) {
      const tap = Math.floor(lane / offsetGroups);
      const tapIndex = isRow ? Math.floor(tap / kernelWidth) : tap % kernelWidth;
      values[o * lanes + lane] = o * stride - pad + tapIndex * dilation;
    }
  }
  return tf.tensor(values, isRow ? [1, outSize, 1, lanes] : [1, 1, outSize, lanes]);
}

/** [B, Ho, Wo, G*T*k] (group-major, as the op takes them) -> [P, k], rows in (b, i, j, t, g) order. */
function tapsFirst(t: tf.Tensor, geometry: DeformConvGeometry, k: number): tf.Tensor {
  const { offsetGroups, kernelHeight, kernelWidth } = geometry;
  const taps = kernelHeight * kernelWidth;
  return tf.reshape(tf.transpose(tf.reshape(t, [-1, offsetGroups, taps, k]), [0, 2, 1, 3]), [-1, k]);
}

/** Inverse of tapsFirst: [P, k] -> [B, Ho, Wo, G*T*k]. */
function groupsFirst(t: tf.Tensor, geometry: DeformConvGeometry, batch: number, k: number): tf.Tensor {
  const { outHeight, outWidth, offsetGroups, kernelHeight, kernelWidth } = geometry;
  const taps = kernelHeight * kernelWidth;
  return tf.reshape(tf.transpose(tf.reshape(t, [-1, taps, offsetGroups, k]), [0, 2, 1, 3]), [
    batch,
    outHeight,
    outWidth,
    offsetGroups * taps * k,
  ]);
}

/**
 * Every tap's sample point, P = B*Ho*Wo*T*G of them in (b, i, j, t, g) order: the axes'
 * weights [B, Ho, Wo, T*G], the corners in x and their values [P, Cg].
 */
interface Sampling {
  rows: AxisWeights;
  cols: AxisWeights;
  /** Row indices of the four corners in x viewed as [B*H*W*G, Cg]: [4, P]. */
  indices: tf.Tensor;
  /** The corners' values (lo,lo), (lo,hi), (hi,lo), (hi,hi), each [P, Cg]. */
  values: tf.Tensor[];
  /** The mask as [P, 1], or null. */
  scale: tf.Tensor | null;
}

function sampling(x: tf.Tensor4D, offsets: tf.Tensor4D, mask: tf.Tensor4D | null, geometry: DeformConvGeometry): Sampling {
  const [batch, height, width, channels] = x.shape;
  const { outHeight, outWidth, offsetGroups: groups } = geometry;
  const lanes = geometry.kernelHeight * geometry.kernelWidth * groups;
  const laneShape = [batch, outHeight, outWidth, lanes];
  const [dy, dx] = tf.unstack(tapsFirst(offsets, geometry, 2), 1).map((t) => tf.reshape(t, laneShape));
  const rows = axisWeights(tf.add(tapOrigins(geometry, 'row'), dy), height);
  const cols = axisWeights(tf.add(tapOrigins(geometry, 'col'), dx), width);
  const imageRows = height * width * groups;
  const batchAndGroup = tf.add(
    tf.reshape(tf.range(0, batch * imageRows, imageRows, 'int32'), [batch, 1, 1, 1]),
    tf.reshape(tf.tile(tf.range(0, groups, 1, 'int32'), [lanes / groups]), [1, 1, 1, lanes]),
  );
  const indices = cornerIndices(batchAndGroup, rows, cols, width * groups, groups);
  const image = tf.reshape(x, [batch * imageRows, channels / groups]);
  return {
    rows,
    cols,
    indices,
    values: tf.unstack(tf.gather(image, indices)),
    scale: mask === null ? null : tapsFirst(mask, geometry, 1),
  };
}

/** Per-point factors [B, Ho, Wo, T*G] broadcast over the channels: [P, 1]. */
function perChannel(t: tf.Tensor): tf.Tensor {
  return tf.reshape(t, [-1, 1]);
}

/** The unmasked samples, [P, Cg]: rows outside, columns inside, as the fused kernels. */
function interpolate({ rows, cols, values }: Sampling): tf.Tensor {
  const [v00, v01, v10, v11] = values;
  const cLo = perChannel(cols.wLo);
  const cHi = perChannel(cols.wHi);
  return tf.add(
    tf.mul(perChannel(rows.wLo), tf.add(tf.mul(cLo, v00), tf.mul(cHi, v01))),
    tf.mul(perChannel(rows.wHi), tf.add(tf.mul(cLo, v10), tf.mul(cHi, v11))),
  );
}

/** Deformable im2col: columns [B*Ho*Wo, kh*kw*Cin] (see DEFORM_IM2COL). */
export function deformIm2colPortable(
  x: tf.Tensor4D,
  offsets: tf.Tensor4D,
  mask: tf.Tensor4D | null,
  geometry: DeformConvGeometry,
): tf.Tensor2D {
  return tf.tidy(() => {
    const sampled = sampling(x, offsets, mask, geometry);
    const samples = interpolate(sampled);
    const scaled = sampled.scale === null ? samples : tf.mul(sampled.scale, samples);
    return tf.reshape(scaled, columnsShape(x.shape[0], geometry)) as tf.Tensor2D;
  });
}

/** Backward of deformIm2colPortable: [dx, dOffsets] and, with a mask, dMask. */
export function deformCol2imPortable(
  dColumns: tf.Tensor2D,
  x: tf.Tensor4D,
  offsets: tf.Tensor4D,
  mask: tf.Tensor4D | null,
  geometry: DeformConvGeometry,
): tf.Tensor[] {
  return tf.tidy(() => {
    const sampled = sampling(x, offsets, mask, geometry);
    const { rows, cols, indices, values, scale } = sampled;
    const [v00, v01, v10, v11] = values;
    const dSamples = tf.reshape(dColumns, values[0].shape);
    const g = scale === null ? dSamples : tf.mul(scale, dSamples);

    const rLo = perChannel(rows.wLo);
    const rHi = perChannel(rows.wHi);
    const cLo = perChannel(cols.wLo);
    const cHi = perChannel(cols.wHi);
    const cornerGrads = [
      tf.mul(g, tf.mul(rLo, cLo)),
      tf.mul(g, tf.mul(rLo, cHi)),
      tf.mul(g, tf.mul(rHi, cLo)),
      tf.mul(g, tf.mul(rHi, cHi)),
    ];
    const imageRows = x.size / (x.shape[3] / geometry.offsetGroups);
    const dx = tf.reshape(scatterCorners(cornerGrads, indices, imageRows), x.shape);

    // d(sample)/d(coordinate), summed over the group's channels against the upstream gradient.
    const towardsRow = tf.add(
      tf.mul(perChannel(rows.dLo), tf.add(tf.mul(cLo, v00), tf.mul(cHi, v01))),
      tf.mul(perChannel(rows.dHi), tf.add(tf.mul(cLo, v10), tf.mul(cHi, v11))),
    );
    const towardsCol = tf.add(
      tf.mul(rLo, tf.add(tf.mul(perChannel(cols.dLo), v00), tf.mul(perChannel(cols.dHi), v01))),
      tf.mul(rHi, tf.add(tf.mul(perChannel(cols.dLo), v10), tf.mul(perChannel(cols.dHi), v11))),
    );
    const dRow = tf.sum(tf.mul(g, towardsRow), 1);
    const dCol = tf.sum(tf.mul(g, towardsCol), 1);
    const batch = x.shape[0];
    const dOffsets = groupsFirst(tf.stack([dRow, dCol], 1), geometry, batch, 2);
    if (scale === null) return [dx, dOffsets];
    const dMask = groupsFirst(tf.sum(tf.mul(dSamples, interpolate(sampled)), 1, true), geometry, batch, 1);
    return [dx, dOffsets, dMask];
  });
}
