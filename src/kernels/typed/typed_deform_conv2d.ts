/**
 * Deformable im2col and col2im on plain typed arrays: the body of the fused cpu and
 * wasm kernels, which differ only in where their arrays live. Sampling is the shared
 * bilinear core in 'zero' border mode (torchvision's deform_conv2d).
 */
import { BilinearPoint } from './bilinear';
import type { DeformConvGeometry } from '../kernel_names';

/** A sample point on x's images, zero outside them (torchvision's border). */
function samplePoint({ inHeight, inWidth, inChannels }: DeformConvGeometry): BilinearPoint {
  return new BilinearPoint(inHeight, inWidth, inWidth * inChannels, inChannels, 'zero');
}

/**
 * Visits every (output position, offset group, tap) of a batch of `batch` images, with
 * `point` set at the tap's sample location. `visit` gets the flat output position n
 * (row of the column buffer), the tap index within its group's offsets/mask
 * (g * kh*kw + t) and the tap's first column and x element for the group's channels.
 */
function forEachTap(
  geometry: DeformConvGeometry,
  batch: number,
  offsets: Float32Array,
  point: BilinearPoint,
  visit: (n: number, groupTap: number, column: number, xBase: number) => void,
): void {
  const { inHeight, inWidth, inChannels, outHeight, outWidth, kernelHeight, kernelWidth, offsetGroups } = geometry;
  const taps = kernelHeight * kernelWidth;
  const groupChannels = inChannels / offsetGroups;
  const rowStride = inWidth * inChannels;
  const columnsPerRow = taps * inChannels;
  let n = 0;
  for (let b = 0; b < batch; b++) {
    const imageBase = b * inHeight * rowStride;
    for (let i = 0; i < outHeight; i++) {
      const rowOrigin = i * geometry.strideHeight - geometry.padTop;
      for (let j = 0; j < outWidth; j++, n++) {
        const colOrigin = j * geometry.strideWidth - geometry.padLeft;
        for (let g = 0; g < offsetGroups; g++) {
          for (let u = 0, t = 0; u < kernelHeight; u++) {
            const rowGrid = rowOrigin + u * geometry.dilationHeight;
            for (let v = 0; v < kernelWidth; v++, t++) {
              const groupTap = g * taps + t;
              const at = 2 * (n * offsetGroups * taps + groupTap);
              // float32 sums, as the portable path (and torchvision) compute them.
              const row = Math.fround(rowGrid + offsets[at]);
              const col = Math.fround(colOrigin + v * geometry.dilationWidth + offsets[at + 1]);
              point.set(row, col);
              const firstChannel = g * groupChannels;
              visit(n, groupTap, n * columnsPerRow + t * inChannels + firstChannel, imageBase + firstChannel);
            }
          }
        }
      }
    }
  }
}

/**
 * columns[n, t*Cin + c] = mask * (x[b,:,:,c] bilinearly sampled at tap t's point, zero
 * outside the image). `mask` null means 1. Writes every element of `columns`.
 */
export function deformIm2col(
  x: Float32Array,
  offsets: Float32Array,
  mask: Float32Array | null,
  columns: Float32Array,
  batch: number,
  geometry: DeformConvGeometry,
): void {
  const groupChannels = geometry.inChannels / geometry.offsetGroups;
  const point = samplePoint(geometry);
  const groupTaps = geometry.offsetGroups * geometry.kernelHeight * geometry.kernelWidth;
  forEachTap(geometry, batch, offsets, point, (n, groupTap, column, xBase) => {
    const scale = mask === null ? 1 : mask[n * groupTaps + groupTap];
    for (let c = 0; c < groupChannels; c++) {
      columns[column + c] = scale * point.sample(x, xBase + c);
    }
  });
}

/**
 * Gradients of deformIm2col for the columns' gradient `dColumns`: accumulates into `dx`
 * (which must be zero-filled) and writes every element of `dOffsets` and, when a mask is
 * given, of `dMask`.
 */
export function deformCol2im(
  dColumns: Float32Array,
  x: Float32Array,
  offsets: Float32Array,
  mask: Float32Array | null,
  dx: Float32Array,
  dOffsets: Float32Array,
  dMask: Float32Array | null,
  batch: number,
  geometry: DeformConvGeometry,
): void {
  const groupChannels = geometry.inChannels / geometry.offsetGroups;
  const point = samplePoint(geometry);
  const groupTaps = geometry.offsetGroups * geometry.kernelHeight * geometry.kernelWidth;
  forEachTap(geometry, batch, offsets, point, (n, groupTap, column, xBase) => {
    const at = n * groupTaps + groupTap;
    const scale = mask === null ? 1 : mask[at];
    let dRow = 0;
    let dCol = 0;
    let dScale = 0;
    for (let c = 0; c < groupChannels; c++) {
      const g = dColumns[column + c];
      point.backward(x, xBase + c, g * scale, dx);
      dRow += g * point.gradRow;
      dCol += g * point.gradCol;
      if (dMask !== null) dScale += g * point.sample(x, xBase + c);
    }
    dOffsets[2 * at] = scale * dRow;
    dOffsets[2 * at + 1] = scale * dCol;
    if (dMask !== null) dMask[at] = dScale;
  });
}
