/**
 * The reference's "scaled MNIST" augmentation: an axis-aligned zoom and shift per image,
 * exactly as Keras 2.0's ImageDataGenerator resampled it, i.e.
 *
 *   scipy.ndimage.affine_transform(img, diag(zoomRow, zoomCol), offset, order, mode='nearest')
 *
 * where the output pixel (r, c) reads the input at
 *
 *   r_in = zoomRow * r + shiftRow + oRow * (1 - zoomRow),  oRow = H / 2 + 0.5
 *   c_in = zoomCol * c + shiftCol + oCol * (1 - zoomCol),  oCol = W / 2 + 0.5
 *
 * (Keras's centre is H / 2 + 0.5, i.e. 14.5 for MNIST, not the geometric 13.5).
 *
 * Because the transform is diagonal it is separable: out = R · img · Cᵀ with one
 * interpolation matrix per axis and image, so a whole batch is two batched matMuls.
 * With order 0 each matrix row holds a single 1, which copies pixels exactly.
 *
 * scipy semantics derived from ni_interpolation.c (the 2017 code the reference ran):
 * mode 'nearest' first clamps the coordinate to [0, L-1]; order 0 then reads index
 * floor(c + 0.5) (halves round up); order 1 reads floor(c) and floor(c) + 1 with
 * weights 1 - f and f. Clamping before rounding equals rounding then clamping, and equals
 * sampling the edge-replicated image, which is what 'nearest' promises.
 */

import * as tf from '@tensorflow/tfjs';
import { InvalidInputError } from '../errors';
import { Rng } from './random';

/** One image's transform; shifts are in pixels (rows, columns). */
export interface ZoomShiftParams {
  zoomRow: number;
  zoomCol: number;
  shiftRow: number;
  shiftCol: number;
}

/** 'nearest' = spline order 0 (Keras 2.0, the reference); 'bilinear' = order 1 (later Keras default). */
export type Interpolation = 'nearest' | 'bilinear';

/** Every Interpolation, the reference's 'nearest' first. */
export const INTERPOLATIONS: readonly Interpolation[] = ['nearest', 'bilinear'];

/** zoomShift's options. */
export interface ZoomShiftOptions {
  /** How the input is resampled; default 'nearest', the reference's. */
  interpolation?: Interpolation;
}

/**
 * Resamples each image of `images` ([N, H, W, C], float) with its own zoom and shift,
 * replicating edge pixels outside the image. Returns a new [N, H, W, C] float32 tensor.
 */
export function zoomShift(images: tf.Tensor4D, params: readonly ZoomShiftParams[], options: ZoomShiftOptions = {}): tf.Tensor4D {
  const interpolation = options.interpolation ?? 'nearest';
  if (!INTERPOLATIONS.includes(interpolation)) {
    throw new InvalidInputError(`zoomShift: interpolation must be one of ${INTERPOLATIONS.join(', ')}, got '${interpolation}'`);
  }
  if (images.rank !== 4) {
    throw new InvalidInputError(`zoomShift: images must be [N, H, W, C], got shape [${images.shape}]`);
  }
  const [n, height, width, channels] = images.shape;
  if (params.length !== n) {
    throw new InvalidInputError(`zoomShift: got ${params.length} parameter sets for ${n} images (shape [${images.shape}])`);
  }
  params.forEach((p, i) => {
    for (const key of ['zoomRow', 'zoomCol', 'shiftRow', 'shiftCol'] as const) {
      if (!Number.isFinite(p[key])) {
        throw new InvalidInputError(`zoomShift: params[${i}].${key} must be a finite number, got ${p[key]}`);
      }
    }
  });

  const rowMatrices = interpolationMatrices(
    params.map((p) => [p.zoomRow, p.shiftRow]),
    height,
    interpolation,
  );
  const colMatrices = interpolationMatrices(
    params.map((p) => [p.zoomCol, p.shiftCol]),
    width,
    interpolation,
  );
  return tf.tidy(() => {
    const rows = tf.tensor3d(rowMatrices, [n, height, height]);
    const cols = tf.tensor3d(colMatrices, [n, width, width]);
    // Rows: [N, H, H] x [N, H, W*C].
    const byRows = tf.matMul(rows, tf.reshape(tf.cast(images, 'float32'), [n, height, width * channels]));
    // Columns: bring W last, then [N, H*C, W] x [N, W, W]ᵀ.
    const widthLast = tf.reshape(tf.transpose(tf.reshape(byRows, [n, height, width, channels]), [0, 1, 3, 2]), [
      n,
      height * channels,
      width,
    ]);
    const byCols = tf.matMul(widthLast, cols, false, true);
    return tf.transpose(tf.reshape(byCols, [n, height, channels, width]), [0, 1, 3, 2]) as tf.Tensor4D;
  });
}

/**
 * For each (zoom, shift) pair, the [L, L] matrix M with out = M · in along one axis of
 * length L, packed one after another.
 */
function interpolationMatrices(
  axisParams: ReadonlyArray<readonly [number, number]>,
  length: number,
  interpolation: Interpolation,
): Float32Array {
  const centre = length / 2 + 0.5;
  const matrices = new Float32Array(axisParams.length * length * length);
  axisParams.forEach(([zoom, shift], image) => {
    // Keras builds the offset as (-zoom * o + shift) + o; keep that order so that
    // coordinates on a rounding boundary round the way the reference's did.
    const offset = -zoom * centre + shift + centre;
    for (let out = 0; out < length; out++) {
      const coord = Math.min(Math.max(zoom * out + offset, 0), length - 1);
      const rowStart = (image * length + out) * length;
      if (interpolation === 'nearest') {
        matrices[rowStart + Math.floor(coord + 0.5)] = 1;
      } else {
        const low = Math.floor(coord);
        const frac = coord - low;
        const high = Math.min(low + 1, length - 1);
        matrices[rowStart + low] += 1 - frac;
        matrices[rowStart + high] += frac;
      }
    }
  });
  return matrices;
}

/** The reference's augmentation ranges: ImageDataGenerator(zoom_range=(1.0, 2.5), width/height_shift_range=0.2). */
export interface ZoomShiftRanges {
  /** Zoom factors are drawn uniformly from [min, max], independently per axis; > 1 shrinks the digit. */
  zoomRange: readonly [number, number];
  /** Shifts are drawn uniformly from [-f, f] times the image size. */
  shiftFraction: number;
  /** Image height and width in pixels (shifts scale with them). */
  size: readonly [number, number];
}

/** The reference's "scaled MNIST" ranges: zoom 1.0 to 2.5 per axis, shifts up to 20% of 28 pixels. */
export const SCALED_MNIST_RANGES: ZoomShiftRanges = {
  zoomRange: [1.0, 2.5],
  shiftFraction: 0.2,
  size: [28, 28],
};

/**
 * `n` random transforms as the reference drew them (Keras 2.0 random_transform order:
 * row shift, column shift, then the two zoom factors), from the seeded `rng`.
 */
export function sampleZoomShift(n: number, rng: Rng, ranges: ZoomShiftRanges = SCALED_MNIST_RANGES): ZoomShiftParams[] {
  if (!Number.isInteger(n) || n < 0) {
    throw new InvalidInputError(`sampleZoomShift: n must be a non-negative integer, got ${n}`);
  }
  const [zoomMin, zoomMax] = ranges.zoomRange;
  const [height, width] = ranges.size;
  const f = ranges.shiftFraction;
  const params: ZoomShiftParams[] = [];
  for (let i = 0; i < n; i++) {
    const shiftRow = rng.uniform(-f, f) * height;
    const shiftCol = rng.uniform(-f, f) * width;
    const zoomRow = rng.uniform(zoomMin, zoomMax);
    const zoomCol = rng.uniform(zoomMin, zoomMax);
    params.push({ zoomRow, zoomCol, shiftRow, shiftCol });
  }
  return params;
}
