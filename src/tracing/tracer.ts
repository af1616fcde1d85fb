/**
 * The sampling-location tracer: where in the input image one output unit of a stack of
 * 3x3 convolutions looks, as in Dai et al. 2017, Fig. 5-6. A unit of the top layer has a
 * 3x3 grid of taps in that layer's input; each tap of a deformable layer is moved by its
 * offset; each (moved) point is in turn the centre of the next layer's 3x3 grid, and so
 * on down, so three layers give 9, 81 and 9^3 = 729 points, the last at the input.
 *
 * Pure: no tensors. A layer's offsets come in one of two forms:
 * - OffsetField, one (dy, dx) per pixel of its input grid: an offset layer (ConvOffset2D)
 *   in front of the convolution. The reference's offsets are per channel;
 *   `meanOffsetFields` (offsets.ts) combines the channels by their mean offset, and the
 *   pictures say so.
 * - TapOffsetField, one (dy, dx) per kernel tap at each position of its output grid: a
 *   DeformConv2D (DCN), where every tap has its own offset (and, DCNv2, its own mask), so
 *   nothing is combined and the trace is exactly where the layer samples.
 *
 * Geometry, matching the layers exactly:
 * - A 3x3 'same' convolution with stride s over an input of size n (TensorFlow's rule):
 *   output o reads input s*o + k - padBefore, k = 0, 1, 2, padBefore = floor(total / 2),
 *   total = max((ceil(n / s) - 1) * s + 3 - n, 0). (Stride 1: o - 1, o, o + 1. Stride 2
 *   on an even size: 2o, 2o + 1, 2o + 2.)
 * - The offset layer in front of a deformable convolution moves a tap at pixel p to
 *   p + offset(p), clipped to [0, n - 1] as deformSample clips. A tap in the
 *   convolution's zero padding (outside [0, n - 1]) reads a zero: it is not moved, and
 *   the points traced below it are flagged `padding` (they contribute nothing).
 * - A DeformConv2D moves tap k of output position o to its rigid place plus offset_k(o),
 *   unclipped: it samples bilinearly with zeros outside the input (deformConv2d's
 *   semantics), so a point reads nothing, and is flagged `padding`, only when it lies a
 *   whole pixel or more outside [0, n - 1]. A DCNv2 mask multiplies the point's `weight`.
 * - Lower levels start from the fractional points above them. Between pixels the offset
 *   is bilinearly interpolated (clamped at the border), the continuous reading of the
 *   bilinear sampling: the value there blends its four neighbours.
 * Zero offsets therefore give exactly the rigid grid of the regular CNN.
 */

import { InvalidInputError } from '../errors';

/** Offsets over a grid: data[(y * width + x) * 2] is dy, [.. + 1] is dx, in pixels of that grid. */
export interface OffsetField {
  height: number;
  width: number;
  data: Float32Array;
}

/**
 * The offsets of a deformable convolution (DeformConv2D, 3x3, one offset group): one
 * (dy, dx) per kernel tap at each position of its output grid, in pixels of its input grid.
 */
export interface TapOffsetField {
  /** The layer's output grid. */
  height: number;
  width: number;
  /** data[((y * width + x) * 9 + tap) * 2] is dy of `tap` (row-major over the 3x3 kernel), [.. + 1] its dx. */
  data: Float32Array;
  /** DCNv2: mask[(y * width + x) * 9 + tap], the tap's modulation in (0, 1); absent for DCN. */
  mask?: Float32Array;
}

/** One 3x3 'same' convolution of the traced stack. */
export interface TraceLayer {
  name: string;
  stride: number;
  /** Size of the layer's input grid. */
  inputHeight: number;
  inputWidth: number;
  /** The offsets that move this layer's taps (its offset layer's), or null for a rigid convolution. */
  offsets: OffsetField | null;
  /** Instead of `offsets`: the layer is a DeformConv2D with these per-tap offsets. */
  tapOffsets?: TapOffsetField;
}

/** One traced sampling point of one layer. */
export interface SamplePoint {
  /** Position in the layer's input grid (pixel centres at integers). */
  y: number;
  x: number;
  /** The same position in the bottom layer's input (the image), through the centre taps of the layers below. */
  imageY: number;
  imageX: number;
  /** In zero padding (of this level or one above): it reads zeros, nothing is sampled there. */
  padding: boolean;
  /** The product of the DCNv2 masks of the taps that lead to it (1 where no layer has a mask). */
  weight: number;
}

/** traceSamplingLocations's result: the traced unit and its sampling points, layer by layer. */
export interface SamplingTrace {
  /** The traced unit: its position in the top layer's output, and in the image. */
  unit: { row: number; col: number; imageY: number; imageX: number };
  /**
   * levels[l] holds the 9^(l+1) sampling points of layers[l] (top first), in order: the
   * 9 taps of each point of the level above are consecutive, in row-major tap order.
   */
  levels: SamplePoint[][];
}

const KERNEL = 3;
const TAPS = KERNEL * KERNEL;

/** Output size of a 3x3 'same' convolution with `stride` over `size`. */
export function sameOutputSize(size: number, stride: number): number {
  return Math.ceil(size / stride);
}

/** Zero rows (or columns) before the input of a 3x3 'same' convolution (TensorFlow's rule). */
export function samePadBefore(size: number, stride: number): number {
  const total = Math.max((sameOutputSize(size, stride) - 1) * stride + KERNEL - size, 0);
  return Math.floor(total / 2);
}

/**
 * Traces output unit (row, col) of `layers[0]` down through every layer, `layers` being
 * ordered from the top (output side) to the bottom (image side).
 */
export function traceSamplingLocations(layers: readonly TraceLayer[], unit: { row: number; col: number }): SamplingTrace {
  checkLayers(layers);
  const top = layers[0];
  const rows = sameOutputSize(top.inputHeight, top.stride);
  const cols = sameOutputSize(top.inputWidth, top.stride);
  if (!isIndex(unit.row, rows) || !isIndex(unit.col, cols)) {
    throw new InvalidInputError(`trace: unit (${unit.row}, ${unit.col}) is outside ${top.name}'s ${rows}x${cols} output`);
  }

  let parents: Array<{ y: number; x: number; padding: boolean; weight: number }> = [
    { y: unit.row, x: unit.col, padding: false, weight: 1 },
  ];
  const levels: SamplePoint[][] = [];
  layers.forEach((layer, level) => {
    const padY = samePadBefore(layer.inputHeight, layer.stride);
    const padX = samePadBefore(layer.inputWidth, layer.stride);
    const { inputHeight: height, inputWidth: width, tapOffsets } = layer;
    const points: SamplePoint[] = [];
    for (const parent of parents) {
      // A DeformConv2D's offsets (and mask) of all 9 taps at the parent's output position.
      const taps =
        tapOffsets === undefined || parent.padding
          ? null
          : bilinearAt(tapOffsets.data, tapOffsets.height, tapOffsets.width, 2 * TAPS, parent.y, parent.x);
      const masks =
        taps === null || tapOffsets?.mask === undefined
          ? null
          : bilinearAt(tapOffsets.mask, tapOffsets.height, tapOffsets.width, TAPS, parent.y, parent.x);
      for (let ky = 0; ky < KERNEL; ky++) {
        for (let kx = 0; kx < KERNEL; kx++) {
          const tap = ky * KERNEL + kx;
          const tapY = layer.stride * parent.y + ky - padY;
          const tapX = layer.stride * parent.x + kx - padX;
          let y = tapY;
          let x = tapX;
          let padding = parent.padding || !inside(tapY, height) || !inside(tapX, width);
          let weight = parent.weight;
          if (taps !== null) {
            y = tapY + taps[2 * tap];
            x = tapX + taps[2 * tap + 1];
            padding = !readsInput(y, height) || !readsInput(x, width);
            if (masks !== null) weight *= masks[tap];
          } else if (!padding && layer.offsets !== null) {
            const [dy, dx] = offsetAt(layer.offsets, tapY, tapX);
            y = clamp(tapY + dy, 0, height - 1);
            x = clamp(tapX + dx, 0, width - 1);
          }
          const [imageY, imageX] = toImage(layers, level, y, x);
          points.push({ y, x, imageY, imageX, padding, weight });
        }
      }
    }
    levels.push(points);
    parents = points;
  });
  const [imageY, imageX] = toImage(layers, -1, unit.row, unit.col);
  return { unit: { row: unit.row, col: unit.col, imageY, imageX }, levels };
}

/**
 * A position in the input grid of layers[level] (level -1: the top layer's output) in the
 * image, following the centre tap of each layer below it.
 */
export function toImage(layers: readonly TraceLayer[], level: number, y: number, x: number): [number, number] {
  let imageY = y;
  let imageX = x;
  for (let below = level + 1; below < layers.length; below++) {
    const layer = layers[below];
    imageY = layer.stride * imageY + 1 - samePadBefore(layer.inputHeight, layer.stride);
    imageX = layer.stride * imageX + 1 - samePadBefore(layer.inputWidth, layer.stride);
  }
  return [imageY, imageX];
}

/** How many image pixels one pixel of layers[level]'s input grid spans (the product of the strides below). */
export function imageScale(layers: readonly TraceLayer[], level: number): number {
  return layers.slice(level + 1).reduce((scale, layer) => scale * layer.stride, 1);
}

/** The offset at a (possibly fractional) position: bilinear between pixels, clamped at the border. */
export function offsetAt(field: OffsetField, y: number, x: number): [number, number] {
  const [dy, dx] = bilinearAt(field.data, field.height, field.width, 2, y, x);
  return [dy, dx];
}

/**
 * The `channels` values at a (possibly fractional) position of a height x width grid
 * (data[(y * width + x) * channels + c]): bilinear between pixels, clamped at the border.
 */
function bilinearAt(data: Float32Array, height: number, width: number, channels: number, y: number, x: number): number[] {
  const cy = clamp(y, 0, height - 1);
  const cx = clamp(x, 0, width - 1);
  const y0 = Math.floor(cy);
  const x0 = Math.floor(cx);
  const y1 = Math.min(y0 + 1, height - 1);
  const x1 = Math.min(x0 + 1, width - 1);
  const wy = cy - y0;
  const wx = cx - x0;
  const at = (yy: number, xx: number, c: number): number => data[(yy * width + xx) * channels + c];
  const blend = (c: number): number => {
    // At integer positions only the pixel itself counts (weights 0 give an exact value).
    const top = wx === 0 ? at(y0, x0, c) : (1 - wx) * at(y0, x0, c) + wx * at(y0, x1, c);
    if (wy === 0) return top;
    const bottom = wx === 0 ? at(y1, x0, c) : (1 - wx) * at(y1, x0, c) + wx * at(y1, x1, c);
    return (1 - wy) * top + wy * bottom;
  };
  return Array.from({ length: channels }, (_, c) => blend(c));
}

function checkLayers(layers: readonly TraceLayer[]): void {
  if (layers.length === 0) throw new InvalidInputError('trace: no layers to trace');
  layers.forEach((layer, i) => {
    if (!Number.isInteger(layer.stride) || layer.stride < 1) {
      throw new InvalidInputError(`trace: layer '${layer.name}' has stride ${layer.stride}; expected a positive integer`);
    }
    if (!(layer.inputHeight >= 1 && layer.inputWidth >= 1)) {
      throw new InvalidInputError(`trace: layer '${layer.name}' has input ${layer.inputHeight}x${layer.inputWidth}`);
    }
    const o = layer.offsets;
    if (o !== null && (o.height !== layer.inputHeight || o.width !== layer.inputWidth || o.data.length !== o.height * o.width * 2)) {
      throw new InvalidInputError(
        `trace: offsets of '${layer.name}' are ${o.height}x${o.width} (${o.data.length} values); ` +
          `expected ${layer.inputHeight}x${layer.inputWidth}x2, the layer's input`,
      );
    }
    const t = layer.tapOffsets;
    if (t !== undefined) {
      const h = sameOutputSize(layer.inputHeight, layer.stride);
      const w = sameOutputSize(layer.inputWidth, layer.stride);
      if (o !== null) throw new InvalidInputError(`trace: layer '${layer.name}' has both an offset field and per-tap offsets`);
      if (
        t.height !== h ||
        t.width !== w ||
        t.data.length !== h * w * 2 * TAPS ||
        (t.mask !== undefined && t.mask.length !== h * w * TAPS)
      ) {
        throw new InvalidInputError(
          `trace: per-tap offsets of '${layer.name}' are ${t.height}x${t.width} (${t.data.length} values` +
            `${t.mask === undefined ? '' : `, mask ${t.mask.length}`}); expected ${h}x${w}x${2 * TAPS}` +
            `${t.mask === undefined ? '' : ` and mask ${h}x${w}x${TAPS}`}, the layer's output`,
        );
      }
    }
    const below = layers[i + 1];
    if (below !== undefined) {
      const h = sameOutputSize(below.inputHeight, below.stride);
      const w = sameOutputSize(below.inputWidth, below.stride);
      if (h !== layer.inputHeight || w !== layer.inputWidth) {
        throw new InvalidInputError(
          `trace: '${below.name}' outputs ${h}x${w} but '${layer.name}' above it takes ${layer.inputHeight}x${layer.inputWidth}`,
        );
      }
    }
  });
}

function isIndex(value: number, size: number): boolean {
  return Number.isInteger(value) && value >= 0 && value < size;
}

function inside(value: number, size: number): boolean {
  return value >= 0 && value <= size - 1;
}

/** Whether bilinear sampling with zeros outside reads any input pixel at `value` (less than a pixel outside). */
function readsInput(value: number, size: number): boolean {
  return value > -1 && value < size;
}

function clamp(value: number, low: number, high: number): number {
  return Math.min(Math.max(value, low), high);
}
