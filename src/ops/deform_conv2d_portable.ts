/**
 * Deformable im2col and col2im composed from standard tf ops (gather-based), for every
 * backend without the fused kernels (tensorflow, tensorflow-gpu, webgl, ...). Same
 * semantics as deform_conv2d_impl.ts: bilinear sampling with zeros outside the image.
 * No autodiff runs through these: deformConv2d declares its gradient itself.
 *
 * Work is laid out as [B, Ho, Wo, T, G, ...] (T = kh*kw taps, G = offset groups,
 * Cg = Cin / G channels per group), so that flattening (T, G, Cg) gives the column
 * order t*Cin + c, with c = g*Cg + cg.
 */
import * as tf from '@tensorflow/tfjs';
import { cornerIndices } from './bilinear_portable';
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

/** A tensor of per-output, per-tap origins: shape [1, outSize, 1, T, 1] for rows. */
function tapOrigins(geometry: DeformConvGeometry, axis: 'row' | 'col'): tf.Tensor {
  const { outHeight, outWidth, kernelHeight, kernelWidth } = geometry;
  const isRow = axis === 'row';
  const outSize = isRow ? outHeight : outWidth;
  const stride = isRow ? geometry.strideHeight : geometry.strideWidth;
  const pad = isRow ? geometry.padTop : geometry.padLeft;
  const dilation = isRow ? geometry.dilationHeight : geometry.dilationWidth;
  const taps = kernelHeight * kernelWidth;
  const values = new Float32Array(outSize * taps);
  for (let o = 0; o < outSize; o++) {
    for (let t = 0; t < taps; t++) {
      const tapIndex = isRow ? Math.floor(t / kernelWidth) : t % kernelWidth;
      values[o * taps + t] = o * stride - pad + tapIndex * dilation;
    }
  }
  return tf.tensor(values, isRow ? [1, outSize, 1, taps, 1] : [1, 1, outSize, taps, 1]);
}

/** [B, Ho, Wo, G*T*k] (group-major, as the op takes them) -> [B, Ho, Wo, T, G, k]. */
function tapsFirst(t: tf.Tensor, geometry: DeformConvGeometry, k: number): tf.Tensor {
  const [batch] = t.shape;
  const { outHeight, outWidth, offsetGroups, kernelHeight, kernelWidth } = geometry;
  const taps = kernelHeight * kernelWidth;
  return tf.transpose(tf.reshape(t, [batch, outHeight, outWidth, offsetGroups, taps, k]), [0, 1, 2, 4, 3, 5]);
}

/** Inverse of tapsFirst: [B, Ho, Wo, T, G, k] -> [B, Ho, Wo, G*T*k]. */
function groupsFirst(t: tf.Tensor, geometry: DeformConvGeometry, k: number): tf.Tensor {
  const [batch] = t.shape;
  const { outHeight, outWidth, offsetGroups, kernelHeight, kernelWidth } = geometry;
  return tf.reshape(tf.transpose(t, [0, 1, 2, 4, 3, 5]), [
    batch,
    outHeight,
    outWidth,
    offsetGroups * kernelHeight * kernelWidth * k,
  ]);
}

/** Every tap's sample point: its corners in x and their values, each [B, Ho, Wo, T, G, ...]. */
interface Sampling {
  rows: AxisWeights;
  cols: AxisWeights;
  /** Row indices of the four corners in x viewed as [B*H*W*G, Cg], stacked [4, B, Ho, Wo, T, G]. */
  indices: tf.Tensor;
  /** The corners' values (lo,lo), (lo,hi), (hi,lo), (hi,hi), each [B, Ho, Wo, T, G, Cg]. */
  values: tf.Tensor[];
  /** The mask as [B, Ho, Wo, T, G, 1], or null. */
  scale: tf.Tensor | null;
}

function sampling(x: tf.Tensor4D, offsets: tf.Tensor4D, mask: tf.Tensor4D | null, geometry: DeformConvGeometry): Sampling {
  const [batch, height, width, channels] = x.shape;
  const groups = geometry.offsetGroups;
  const [dy, dx] = tf.unstack(tapsFirst(offsets, geometry, 2), 5);
  const rows = axisWeights(tf.add(tapOrigins(geometry, 'row'), dy), height);
  const cols = axisWeights(tf.add(tapOrigins(geometry, 'col'), dx), width);
  const imageRows = height * width * groups;
  const batchAndGroup = tf.add(
    tf.reshape(tf.range(0, batch * imageRows, imageRows, 'int32'), [batch, 1, 1, 1, 1]),
    tf.range(0, groups, 1, 'int32'),
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

/** Per-corner factors broadcast over the channels: [B, Ho, Wo, T, G, 1]. */
function perChannel(t: tf.Tensor): tf.Tensor {
  return tf.expandDims(t, 5);
}

/** The unmasked samples, [B, Ho, Wo, T, G, Cg]: rows outside, columns inside, as the fused kernels. */
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
    const cornerGrads = tf.stack([tf.mul(g, tf.mul(rLo, cLo)), tf.mul(g, tf.mul(rLo, cHi)), tf.mul(g, tf.mul(rHi, cLo)), tf.mul(g, tf.mul(rHi, cHi))]);
    const channelsPerGroup = x.shape[3] / geometry.offsetGroups;
    const dx = tf.reshape(
      tf.unsortedSegmentSum(
        tf.reshape(cornerGrads, [-1, channelsPerGroup]),
        tf.reshape(indices, [-1]),
        tf.util.sizeFromShape(x.shape) / channelsPerGroup,
      ),
      x.shape,
    );

    // d(sample)/d(coordinate), summed over the group's channels against the upstream gradient.
    const towardsRow = tf.add(
      tf.mul(perChannel(rows.dLo), tf.add(tf.mul(cLo, v00), tf.mul(cHi, v01))),
      tf.mul(perChannel(rows.dHi), tf.add(tf.mul(cLo, v10), tf.mul(cHi, v11))),
    );
    const towardsCol = tf.add(
      tf.mul(rLo, tf.add(tf.mul(perChannel(cols.dLo), v00), tf.mul(perChannel(cols.dHi), v01))),
      tf.mul(rHi, tf.add(tf.mul(perChannel(cols.dLo), v10), tf.mul(perChannel(cols.dHi), v11))),
    );
    const dRow = tf.sum(tf.mul(g, towardsRow), 5);
    const dCol = tf.sum(tf.mul(g, towardsCol), 5);
    const dOffsets = groupsFirst(tf.stack([dRow, dCol], 5), geometry, 2);
    if (scale === null) return [dx, dOffsets];
    const dMask = groupsFirst(tf.sum(tf.mul(dSamples, interpolate(sampled)), 5, true), geometry, 1);
    return [dx, dOffsets, dMask];
  });
}
