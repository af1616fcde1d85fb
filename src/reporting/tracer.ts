/**
 * The sampling-location tracer: where in the input image one output unit of a stack of
 * 3x3 convolutions looks, as in Dai et al. 2017, Fig. 5-6. A unit of the top layer has a
 * 3x3 grid of taps in that layer's input; each tap of a deformable layer is moved by its
 * offset; each (moved) point is in turn the centre of the next layer's 3x3 grid, and so
 * on down, so three layers give 9, 81 and 9^3 = 729 points, the last at the input.
 *
 * Pure: no tensors. Offsets come as OffsetField (one (dy, dx) per pixel). The deformable
 * CNN's offsets are per channel; `meanOffsetFields` (offsets.ts) combines the channels by
 * their mean offset, and the pictures say so.
 *
 * Geometry, matching the layers exactly:
 * - A 3x3 'same' convolution with stride s over an input of size n (TensorFlow's rule):
 *   output o reads input s*o + k - padBefore, k = 0, 1, 2, padBefore = floor(total / 2),
 *   total = max((ceil(n / s) - 1) * s + 3 - n, 0). (Stride 1: o - 1, o, o + 1. Stride 2
 *   on an even size: 2o, 2o + 1, 2o + 2.)
 * - The offset layer in front of a deformable convolution moves a tap at pixel p to
 *   p + offset(p), clipped to [0, n - 1] as deformSample clips.
 * - A tap in the convolution's zero padding (outside [0, n - 1]) reads a zero: it is not
 *   moved, and the points traced below it are flagged `padding` (they contribute nothing).
 * - Lower levels start from the fractional points above them. Between pixels the offset
 *   is bilinearly interpolated (clamped at the border), the continuous reading of the
 *   bilinear sampling: the value there blends its four neighbours.
 * Zero offsets therefore give exactly the rigid grid of the regular CNN.
 */

import { UserError } from '../errors';

/** Offsets over a grid: data[(y * width + x) * 2] is dy, [.. + 1] is dx, in pixels of that grid. */
export interface OffsetField {
  height: number;
  width: number;
  data: Float32Array;
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
}

export interface SamplePoint {
  /** Position in the layer's input grid (pixel centres at integers). */
  y: number;
  x: number;
  /** The same position in the bottom layer's input (the image), through the centre taps of the layers below. */
  imageY: number;
  imageX: number;
  /** In zero padding (of this level or one above): it reads zeros, nothing is sampled there. */
  padding: boolean;
}

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
    throw new UserError(`trace: unit (${unit.row}, ${unit.col}) is outside ${top.name}'s ${rows}x${cols} output`);
  }

  let parents: Array<{ y: number; x: number; padding: boolean }> = [{ y: unit.row, x: unit.col, padding: false }];
  const levels: SamplePoint[][] = [];
  layers.forEach((layer, level) => {
    const padY = samePadBefore(layer.inputHeight, layer.stride);
    const padX = samePadBefore(layer.inputWidth, layer.stride);
    const points: SamplePoint[] = [];
    for (const parent of parents) {
      for (let ky = 0; ky < KERNEL; ky++) {
        for (let kx = 0; kx < KERNEL; kx++) {
          const tapY = layer.stride * parent.y + ky - padY;
          const tapX = layer.stride * parent.x + kx - padX;
          const inPadding = parent.padding || !inside(tapY, layer.inputHeight) || !inside(tapX, layer.inputWidth);
          let y = tapY;
          let x = tapX;
          if (!inPadding && layer.offsets !== null) {
            const [dy, dx] = offsetAt(layer.offsets, tapY, tapX);
            y = clamp(tapY + dy, 0, layer.inputHeight - 1);
            x = clamp(tapX + dx, 0, layer.inputWidth - 1);
          }
          const [imageY, imageX] = toImage(layers, level, y, x);
          points.push({ y, x, imageY, imageX, padding: inPadding });
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
  const cy = clamp(y, 0, field.height - 1);
  const cx = clamp(x, 0, field.width - 1);
  const y0 = Math.floor(cy);
  const x0 = Math.floor(cx);
  const y1 = Math.min(y0 + 1, field.height - 1);
  const x1 = Math.min(x0 + 1, field.width - 1);
  const wy = cy - y0;
  const wx = cx - x0;
  const at = (yy: number, xx: number, c: number): number => field.data[(yy * field.width + xx) * 2 + c];
  const blend = (c: number): number => {
    // At integer positions only the pixel itself counts (weights 0 give an exact value).
    const top = wx === 0 ? at(y0, x0, c) : (1 - wx) * at(y0, x0, c) + wx * at(y0, x1, c);
    if (wy === 0) return top;
    const bottom = wx === 0 ? at(y1, x0, c) : (1 - wx) * at(y1, x0, c) + wx * at(y1, x1, c);
    return (1 - wy) * top + wy * bottom;
  };
  return [blend(0), blend(1)];
}

function checkLayers(layers: readonly TraceLayer[]): void {
  if (layers.length === 0) throw new UserError('trace: no layers to trace');
  layers.forEach((layer, i) => {
    if (!Number.isInteger(layer.stride) || layer.stride < 1) {
      throw new UserError(`trace: layer '${layer.name}' has stride ${layer.stride}; expected a positive integer`);
    }
    if (!(layer.inputHeight >= 1 && layer.inputWidth >= 1)) {
      throw new UserError(`trace: layer '${layer.name}' has input ${layer.inputHeight}x${layer.inputWidth}`);
    }
    const o = layer.offsets;
    if (o !== null && (o.height !== layer.inputHeight || o.width !== layer.inputWidth || o.data.length !== o.height * o.width * 2)) {
      throw new UserError(
        `trace: offsets of '${layer.name}' are ${o.height}x${o.width} (${o.data.length} values); ` +
          `expected ${layer.inputHeight}x${layer.inputWidth}x2, the layer's input`,
      );
    }
    const below = layers[i + 1];
    if (below !== undefined) {
      const h = sameOutputSize(below.inputHeight, below.stride);
      const w = sameOutputSize(below.inputWidth, below.stride);
      if (h !== layer.inputHeight || w !== layer.inputWidth) {
        throw new UserError(
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

function clamp(value: number, low: number, high: number): number {
  return Math.min(Math.max(value, low), high);
}
