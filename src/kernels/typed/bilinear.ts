/**
 * The bilinear sampling core shared by every fused kernel that samples an image at
 * fractional coordinates (deformSample here; deformable convolution's im2col later).
 *
 * It works on plain typed arrays, one sample point at a time: `BilinearPoint.set`
 * computes the four corners and their weights once, then `sample` / `backward` read or
 * scatter any channel at that point, so a caller that shares one point across many
 * channels pays for the corner arithmetic once.
 *
 * Speed notes: one point object is reused for a whole kernel, its fields are all
 * created in the constructor with their final number kinds (so V8 never changes the
 * object's shape mid-loop), and each method is small enough to be inlined into the
 * caller's loop.
 */

/**
 * How a coordinate outside the image is treated:
 * - 'clip': the coordinate is clamped to [0, size - 1] (samples beyond the border take
 *   the border's values) and its gradient is zero wherever it was clamped;
 * - 'zero': corners outside the image read as zero (torchvision's deform_conv2d).
 */
export type BorderMode = 'clip' | 'zero';

/**
 * Linear interpolation along one axis of `last + 1` pixels. Corners are floor(coord) and
 * floor(coord) + 1, so at an integer coordinate the derivative still sees both
 * neighbours (the 2017 reference's floor/ceil gave zero there). Corner indices always lie
 * inside the axis, so reading them is safe even when their weight is zero.
 */
class AxisTaps {
  /** Indices of the floor and floor + 1 corners. */
  lo = 0;
  hi = 0;
  /** Their weights, and the weights' derivatives with respect to the coordinate. */
  wLo = 0.5;
  wHi = 0.5;
  dLo = 0;
  dHi = 0;

  constructor(readonly last: number) {}

  clipped(coord: number): void {
    const last = this.last;
    const inside = coord >= 0 && coord <= last;
    const c = inside ? coord : coord > last ? last : 0; // NaN falls to 0
    const lo = Math.floor(c);
    const frac = c - lo;
    this.lo = lo;
    this.hi = lo < last ? lo + 1 : last;
    this.wLo = 1 - frac;
    this.wHi = frac;
    this.dLo = inside ? -1 : 0;
    this.dHi = inside ? 1 : 0;
  }

  zeroPadded(coord: number): void {
    const last = this.last;
    if (!(coord > -1 && coord < last + 1)) {
      this.lo = 0;
      this.hi = 0;
      this.wLo = 0;
      this.wHi = 0;
      this.dLo = 0;
      this.dHi = 0;
      return;
    }
    const lo = Math.floor(coord);
    const frac = coord - lo;
    const loInside = lo >= 0;
    const hiInside = lo < last;
    this.lo = loInside ? lo : 0;
    this.hi = hiInside ? lo + 1 : last;
    this.wLo = loInside ? 1 - frac : 0;
    this.wHi = hiInside ? frac : 0;
    this.dLo = loInside ? -1 : 0;
    this.dHi = hiInside ? 1 : 0;
  }
}

/**
 * A bilinear sample point on images of one geometry, stored with arbitrary strides: the
 * element at (row, col) of a channel lives at `base + row * rowStride + col * colStride`
 * (NHWC: rowStride = W * C, colStride = C, base = batch offset + channel). Reuse one
 * instance for every point of a kernel: `set` moves it.
 */
export class BilinearPoint {
  private readonly rows: AxisTaps;
  private readonly cols: AxisTaps;
  /** Corner offsets relative to `base`: (lo,lo), (lo,hi), (hi,lo), (hi,hi). */
  private o00 = 0;
  private o01 = 0;
  private o10 = 0;
  private o11 = 0;
  /** d(sample)/d(row coordinate) and d(sample)/d(column coordinate) at the last `backward`. */
  gradRow = 0.5;
  gradCol = 0.5;

  constructor(
    height: number,
    width: number,
    private readonly rowStride: number,
    private readonly colStride: number,
    private readonly border: BorderMode,
  ) {
    this.rows = new AxisTaps(height - 1);
    this.cols = new AxisTaps(width - 1);
  }

  /** Moves the point to (row, col), in pixels. */
  set(row: number, col: number): void {
    const r = this.rows;
    const c = this.cols;
    if (this.border === 'clip') {
      r.clipped(row);
      c.clipped(col);
    } else {
      r.zeroPadded(row);
      c.zeroPadded(col);
    }
    const rowLo = r.lo * this.rowStride;
    const rowHi = r.hi * this.rowStride;
    const colLo = c.lo * this.colStride;
    const colHi = c.hi * this.colStride;
    this.o00 = rowLo + colLo;
    this.o01 = rowLo + colHi;
    this.o10 = rowHi + colLo;
    this.o11 = rowHi + colHi;
  }

  /** The interpolated value of `data` at this point. */
  sample(data: Float32Array, base: number): number {
    const r = this.rows;
    const c = this.cols;
    return (
      r.wLo * (c.wLo * data[base + this.o00] + c.wHi * data[base + this.o01]) +
      r.wHi * (c.wLo * data[base + this.o10] + c.wHi * data[base + this.o11])
    );
  }

  /**
   * Backward of `sample` for an upstream gradient `g`: adds g * weight to the four
   * corners of `dData` and sets `gradRow` / `gradCol` to the derivatives of the sample
   * with respect to the point's coordinates (not multiplied by `g`).
   */
  backward(data: Float32Array, base: number, g: number, dData: Float32Array): void {
    const r = this.rows;
    const c = this.cols;
    const i00 = base + this.o00;
    const i01 = base + this.o01;
    const i10 = base + this.o10;
    const i11 = base + this.o11;
    const v00 = data[i00];
    const v01 = data[i01];
    const v10 = data[i10];
    const v11 = data[i11];
    this.gradRow = r.dLo * (c.wLo * v00 + c.wHi * v01) + r.dHi * (c.wLo * v10 + c.wHi * v11);
    this.gradCol = r.wLo * (c.dLo * v00 + c.dHi * v01) + r.wHi * (c.dLo * v10 + c.dHi * v11);
    const gLo = g * r.wLo;
    const gHi = g * r.wHi;
    dData[i00] += gLo * c.wLo;
    dData[i01] += gLo * c.wHi;
    dData[i10] += gHi * c.wLo;
    dData[i11] += gHi * c.wHi;
  }
}
