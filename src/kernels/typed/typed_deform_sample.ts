/**
 * deformSample on plain typed arrays: the body of the fused cpu and wasm kernels,
 * which differ only in where their arrays live.
 */
import { BilinearPoint } from './bilinear';

/** The [B, H, W, C] shape of x (offsets are [B, H, W, 2C]). */
export interface NhwcShape {
  batch: number;
  height: number;
  width: number;
  channels: number;
}

export function nhwcShape(shape: readonly number[]): NhwcShape {
  const [batch, height, width, channels] = shape;
  return { batch, height, width, channels };
}

/** A point that samples x: NHWC strides, samples beyond the border clipped to it. */
function samplePoint({ height, width, channels }: NhwcShape): BilinearPoint {
  return new BilinearPoint(height, width, width * channels, channels, 'clip');
}

/**
 * Moves `point` to the sample location of output element `index`, at pixel (i, j).
 * Coordinates are rounded to float32 like the portable path's (i + dy), so both paths
 * pick the same corners.
 */
function locate(point: BilinearPoint, offsets: Float32Array, index: number, i: number, j: number): void {
  point.set(Math.fround(i + offsets[2 * index]), Math.fround(j + offsets[2 * index + 1]));
}

/** out[b,i,j,c] = x[b,:,:,c] sampled at (clip(i + dy, 0, H-1), clip(j + dx, 0, W-1)). */
export function deformSampleForward(x: Float32Array, offsets: Float32Array, out: Float32Array, shape: NhwcShape): void {
  const { batch, height, width, channels } = shape;
  const point = samplePoint(shape);
  let index = 0;
  for (let b = 0; b < batch; b++) {
    const batchBase = b * height * width * channels;
    for (let i = 0; i < height; i++) {
      for (let j = 0; j < width; j++) {
        for (let c = 0; c < channels; c++, index++) {
          locate(point, offsets, index, i, j);
          out[index] = point.sample(x, batchBase + c);
        }
      }
    }
  }
}

/**
 * Gradients of deformSample for upstream `dy`: accumulates into `dx` (which must be
 * zero-filled) and writes every element of `dOffsets`.
 */
export function deformSampleBackward(
  dy: Float32Array,
  x: Float32Array,
  offsets: Float32Array,
  dx: Float32Array,
  dOffsets: Float32Array,
  shape: NhwcShape,
): void {
  const { batch, height, width, channels } = shape;
  const point = samplePoint(shape);
  let index = 0;
  for (let b = 0; b < batch; b++) {
    const batchBase = b * height * width * channels;
    for (let i = 0; i < height; i++) {
      for (let j = 0; j < width; j++) {
        for (let c = 0; c < channels; c++, index++) {
          locate(point, offsets, index, i, j);
          const g = dy[index];
          point.backward(x, batchBase + c, g, dx);
          dOffsets[2 * index] = g * point.gradRow;
          dOffsets[2 * index + 1] = g * point.gradCol;
        }
      }
    }
  }
}
