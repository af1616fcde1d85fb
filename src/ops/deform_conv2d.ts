/**
 * deformConv2d: the deformable convolution of Dai et al. 2017 (DCN) and, with a mask,
 * its modulated form of Zhu et al. 2019 (DCNv2), with torchvision.ops.deform_conv2d's
 * semantics in NHWC.
 *
 * It runs as a deformable im2col (every kernel tap bilinearly sampled at its offset
 * point, times its mask) into a column buffer [n*Ho*Wo, kh*kw*Cin], then one matrix
 * product with the kernel reshaped [kh*kw*Cin, Cout] (the backend's GEMM: XNNPACK on
 * wasm). The gradient, declared here, is the transposed pipeline: weights = dYᵀ·columns,
 * columns = dY·Wᵀ, then a col2im that scatters into dx, d-offsets and d-mask.
 * The batch is processed in chunks of images whose column buffer fits `maxColumnBytes`.
 *
 * Importing this module registers the fused im2col/col2im kernels for cpu, wasm, webgl
 * and webgpu.
 */
import * as tf from '@tensorflow/tfjs';
import '../kernels/cpu/register_cpu_deform';
import '../kernels/wasm/register_wasm_deform';
import '../kernels/webgl/register_webgl_deform';
import '../kernels/webgpu/register_webgpu_deform';
import { hasFusedKernel } from '../kernels/kernel_support';
import { InvalidInputError } from '../errors';
import { checkTensor, describe, positivePair } from './arguments';
import { DEFORM_COL2IM, DEFORM_IM2COL, DeformConvGeometry } from '../kernels/kernel_names';
import { deformCol2imPortable, deformIm2colPortable } from './deform_conv2d_portable';

/** Default cap on one column buffer: 128 MiB (float32), about 2^25 elements. */
export const DEFAULT_MAX_COLUMN_BYTES = 128 * 1024 * 1024;

/** The optional arguments of deformConv2d: geometry (as tf.conv2d's), DCNv2's mask, bias, offset groups. */
export interface DeformConv2dOptions {
  /** [strideHeight, strideWidth] or one number for both. Default 1. */
  strides?: number | [number, number];
  /**
   * As tf.conv2d: 'valid', 'same' (tf.conv2d's 'same', extra padding at the bottom and
   * right), a number of pixels on every side, or explicit [[0, 0], [top, bottom],
   * [left, right], [0, 0]]. torchvision's padding (ph, pw) is [[0, 0], [ph, ph], [pw, pw], [0, 0]].
   * Default 'valid'.
   */
  padding?: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  /** [dilationHeight, dilationWidth] or one number for both. Default 1. */
  dilations?: number | [number, number];
  /** DCNv2's modulation, [B, Ho, Wo, G*kh*kw]: each tap's sample is multiplied by it. */
  mask?: tf.Tensor4D | null;
  /** [Cout], added to every output. */
  bias?: tf.Tensor1D | null;
  /**
   * G, the number of offset groups: input channels g*Cin/G .. (g+1)*Cin/G - 1 share the
   * offsets (and mask) of group g. Default: inferred from the offsets' channel count.
   */
  offsetGroups?: number;
  /** Largest column buffer, in bytes, before the batch is split into chunks. Default 128 MiB. */
  maxColumnBytes?: number;
}

/** The deformable im2col and its backward: fused kernels or the portable composition. */
interface ColumnOps {
  im2col(x: tf.Tensor4D, offsets: tf.Tensor4D, mask: tf.Tensor4D | null, geometry: DeformConvGeometry): tf.Tensor2D;
  /** [dx, dOffsets] and, with a mask, dMask. */
  col2im(dColumns: tf.Tensor2D, x: tf.Tensor4D, offsets: tf.Tensor4D, mask: tf.Tensor4D | null, geometry: DeformConvGeometry): tf.Tensor[];
}

function withMask(inputs: tf.NamedTensorMap, mask: tf.Tensor4D | null): tf.NamedTensorMap {
  return mask === null ? inputs : { ...inputs, mask };
}

const fusedColumns: ColumnOps = {
  im2col: (x, offsets, mask, geometry) =>
    tf.engine().runKernel(DEFORM_IM2COL, withMask({ x, offsets }, mask), { ...geometry }) as tf.Tensor2D,
  col2im: (dColumns, x, offsets, mask, geometry) =>
    tf.engine().runKernel(DEFORM_COL2IM, withMask({ dColumns, x, offsets }, mask), { ...geometry }) as tf.Tensor[],
};

const portableColumns: ColumnOps = { im2col: deformIm2colPortable, col2im: deformCol2imPortable };

/** How this op's error messages name it. */
const OP_NAME = 'deformConv2d';

function checkPadding(padding: DeformConv2dOptions['padding']): 'valid' | 'same' | number | tf.backend_util.ExplicitPadding {
  const value = padding ?? 'valid';
  const isCount = (p: unknown) => Number.isInteger(p) && (p as number) >= 0;
  const explicit =
    Array.isArray(value) &&
    value.length === 4 &&
    value.every((side) => Array.isArray(side) && side.length === 2 && side.every(isCount)) &&
    value[0].every((p) => p === 0) &&
    value[3].every((p) => p === 0);
  if (value === 'valid' || value === 'same' || isCount(value) || explicit) return value;
  throw new InvalidInputError(
    `deformConv2d: padding must be 'valid', 'same', a non-negative integer or [[0, 0], [top, bottom], [left, right], [0, 0]], got ${JSON.stringify(padding)}`,
  );
}

/** x, offsets and weights, checked to be float32 rank-4 tensors, x and weights non-empty with the same Cin. */
function checkTensors(x: unknown, offsets: unknown, weights: unknown): [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D] {
  checkTensor(OP_NAME, 'x', x, 4);
  checkTensor(OP_NAME, 'offsets', offsets, 4);
  checkTensor(OP_NAME, 'weights', weights, 4);
  if (x.size === 0 || weights.size === 0) {
    throw new InvalidInputError(
      `deformConv2d: x and weights must not be empty, got x of ${describe(x)} and weights of ${describe(weights)}`,
    );
  }
  const inChannels = x.shape[3];
  if (weights.shape[2] !== inChannels) {
    throw new InvalidInputError(
      `deformConv2d: weights must be [kh, kw, Cin, Cout] with Cin = ${inChannels} (x of ${describe(x)}), got ${describe(weights)}`,
    );
  }
  return [x as tf.Tensor4D, offsets as tf.Tensor4D, weights as tf.Tensor4D];
}

/** The convolution's strides, dilations, output size and padding, checked to give at least one output. */
function convolutionInfo(x: tf.Tensor4D, weights: tf.Tensor4D, options: DeformConv2dOptions) {
  const [kernelHeight, kernelWidth] = weights.shape;
  const strides = positivePair(OP_NAME, 'strides', options.strides);
  const dilations = positivePair(OP_NAME, 'dilations', options.dilations);
  const info = tf.backend_util.computeConv2DInfo(x.shape, weights.shape, strides, dilations, checkPadding(options.padding));
  if (!(info.outHeight >= 1 && info.outWidth >= 1)) {
    throw new InvalidInputError(
      `deformConv2d: no output positions for x of ${describe(x)} and a ${kernelHeight}x${kernelWidth} kernel ` +
        `(strides [${strides}], dilations [${dilations}], padding ${JSON.stringify(options.padding ?? 'valid')})`,
    );
  }
  return { strides, dilations, info };
}

/** G, given or inferred from the offsets' channels (2*G*kh*kw); it must divide Cin. */
function checkOffsetGroups(offsets: tf.Tensor4D, inChannels: number, taps: number, given: number | undefined): number {
  const offsetGroups = given ?? offsets.shape[3] / (2 * taps);
  if (!Number.isInteger(offsetGroups) || offsetGroups < 1 || inChannels % offsetGroups !== 0) {
    throw new InvalidInputError(
      `deformConv2d: offsetGroups must be a positive integer dividing Cin = ${inChannels}, got ${offsetGroups}` +
        (given === undefined ? ` (inferred from offsets of ${describe(offsets)}: channels / (2*kh*kw))` : ''),
    );
  }
  return offsetGroups;
}

/** Checks the optional mask [B, Ho, Wo, G*kh*kw], bias [Cout] and maxColumnBytes. */
function checkOptions(options: DeformConv2dOptions, expectedMask: number[], outChannels: number): void {
  if (options.mask != null) {
    checkTensor(OP_NAME, 'mask', options.mask, 4);
    if (!tf.util.arraysEqual(options.mask.shape, expectedMask)) {
      throw new InvalidInputError(
        `deformConv2d: mask must have shape [B, Ho, Wo, G*kh*kw] = [${expectedMask.join(', ')}], got ${describe(options.mask)}`,
      );
    }
  }
  if (options.bias != null) {
    checkTensor(OP_NAME, 'bias', options.bias, 1);
    if (options.bias.shape[0] !== outChannels) {
      throw new InvalidInputError(`deformConv2d: bias must have shape [Cout] = [${outChannels}], got ${describe(options.bias)}`);
    }
  }
  const maxColumnBytes = options.maxColumnBytes ?? DEFAULT_MAX_COLUMN_BYTES;
  if (!(maxColumnBytes > 0)) {
    throw new InvalidInputError(`deformConv2d: maxColumnBytes must be positive, got ${options.maxColumnBytes}`);
  }
}

/** Checks every argument against x and the kernel; returns where the taps sample. */
function checkArguments(xArg: unknown, offsetsArg: unknown, weightsArg: unknown, options: DeformConv2dOptions): DeformConvGeometry {
  const [x, offsets, weights] = checkTensors(xArg, offsetsArg, weightsArg);
  const [batch, inHeight, inWidth, inChannels] = x.shape;
  const [kernelHeight, kernelWidth, , outChannels] = weights.shape;
  const { strides, dilations, info } = convolutionInfo(x, weights, options);
  const { outHeight, outWidth } = info;
  const taps = kernelHeight * kernelWidth;
  const offsetGroups = checkOffsetGroups(offsets, inChannels, taps, options.offsetGroups);
  const expected = [batch, outHeight, outWidth, 2 * offsetGroups * taps];
  if (!tf.util.arraysEqual(offsets.shape, expected)) {
    throw new InvalidInputError(
      `deformConv2d: offsets must have shape [B, Ho, Wo, 2*G*kh*kw] = [${expected.join(', ')}] for x of ${describe(x)}, ` +
        `weights of ${describe(weights)} and ${offsetGroups} offset group(s), got ${describe(offsets)}`,
    );
  }
  checkOptions(options, [batch, outHeight, outWidth, offsetGroups * taps], outChannels);
  return {
    inHeight,
    inWidth,
    inChannels,
    outHeight,
    outWidth,
    kernelHeight,
    kernelWidth,
    strideHeight: strides[0],
    strideWidth: strides[1],
    dilationHeight: dilations[0],
    dilationWidth: dilations[1],
    padTop: info.padInfo.top,
    padLeft: info.padInfo.left,
    offsetGroups,
  };
}

/** [first image, image count] of each chunk whose column buffer fits maxColumnBytes (at least one image). */
function batchChunks(batch: number, geometry: DeformConvGeometry, maxColumnBytes: number): Array<[number, number]> {
  const { outHeight, outWidth, kernelHeight, kernelWidth, inChannels } = geometry;
  const bytesPerImage = 4 * outHeight * outWidth * kernelHeight * kernelWidth * inChannels;
  const perChunk = Math.max(1, Math.floor(maxColumnBytes / bytesPerImage));
  const chunks: Array<[number, number]> = [];
  for (let start = 0; start < batch; start += perChunk) chunks.push([start, Math.min(perChunk, batch - start)]);
  return chunks;
}

/** Images [start, start + count) of a [B, ...] tensor; the tensor itself when that is all of it. */
function images<T extends tf.Tensor>(t: T, [start, count]: [number, number]): T {
  return start === 0 && count === t.shape[0] ? t : (tf.slice(t, start, count) as T);
}

function concatImages(parts: tf.Tensor[]): tf.Tensor {
  return parts.length === 1 ? parts[0] : tf.concat(parts, 0);
}

/** What the forward and backward passes share. */
interface Pass {
  columnOps: ColumnOps;
  geometry: DeformConvGeometry;
  /** [first image, image count] of each chunk of the batch. */
  chunks: Array<[number, number]>;
  /** kh*kw*Cin: the length of one column. */
  columnLength: number;
  outChannels: number;
}

function chunkColumns(pass: Pass, chunk: [number, number], x: tf.Tensor4D, offsets: tf.Tensor4D, mask: tf.Tensor4D | null): tf.Tensor2D {
  return pass.columnOps.im2col(images(x, chunk), images(offsets, chunk), mask === null ? null : images(mask, chunk), pass.geometry);
}

/** The convolution without bias, chunk by chunk; with a single chunk, also its columns, kept for the backward pass. */
function convolve(
  pass: Pass,
  x: tf.Tensor4D,
  offsets: tf.Tensor4D,
  mask: tf.Tensor4D | null,
  weights: tf.Tensor4D,
): { convolved: tf.Tensor; keptColumns: tf.Tensor[] } {
  const { chunks, columnLength, outChannels } = pass;
  const { outHeight, outWidth } = pass.geometry;
  const kernel = tf.reshape(weights, [columnLength, outChannels]);
  // With a single chunk, the columns are kept for the weights' gradient (within the
  // memory cap); with several, each chunk's are freed at once and the backward pass
  // recomputes them chunk by chunk.
  const keepColumns = chunks.length === 1;
  let keptColumns: tf.Tensor[] = [];
  const parts = chunks.map((chunk) => {
    const [part, ...columns] = tf.tidy(() => {
      const chunkCols = chunkColumns(pass, chunk, x, offsets, mask);
      const product = tf.reshape(tf.matMul(chunkCols, kernel), [chunk[1], outHeight, outWidth, outChannels]);
      return keepColumns ? [product, chunkCols] : [product];
    });
    keptColumns = columns;
    return part;
  });
  return { convolved: concatImages(parts), keptColumns };
}

/** The gradients of x, offsets, weights and, with a mask, the mask; `savedColumns` when the forward pass kept them. */
function convolveGradients(
  pass: Pass,
  dy: tf.Tensor,
  [x, offsets, weights]: tf.Tensor4D[],
  mask: tf.Tensor4D | null,
  savedColumns: tf.Tensor2D | null,
): tf.Tensor[] {
  const { columnOps, geometry, columnLength, outChannels } = pass;
  // XNNPACK takes the fast path only for untransposed operands, so transpose explicitly.
  const kernelT = tf.transpose(tf.reshape(weights, [columnLength, outChannels]));
  const dKernelT: tf.Tensor[] = [];
  const dxs: tf.Tensor[] = [];
  const dOffsets: tf.Tensor[] = [];
  const dMasks: tf.Tensor[] = [];
  for (const chunk of pass.chunks) {
    // One chunk's columns and their gradient live only inside this scope.
    const [dKernelChunk, ...inputGrads] = tf.tidy((): tf.Tensor[] => {
      const columns = savedColumns ?? chunkColumns(pass, chunk, x, offsets, mask);
      const dOut = tf.reshape(images(dy, chunk), [-1, outChannels]);
      const dColumns = tf.matMul(dOut, kernelT) as tf.Tensor2D;
      return [
        tf.matMul(tf.transpose(dOut), columns),
        ...columnOps.col2im(dColumns, images(x, chunk), images(offsets, chunk), mask === null ? null : images(mask, chunk), geometry),
      ];
    });
    dKernelT.push(dKernelChunk);
    dxs.push(inputGrads[0]);
    dOffsets.push(inputGrads[1]);
    if (mask !== null) dMasks.push(inputGrads[2]);
  }
  const dKernel = dKernelT.length === 1 ? dKernelT[0] : tf.addN(dKernelT);
  const grads = [concatImages(dxs), concatImages(dOffsets), tf.reshape(tf.transpose(dKernel), weights.shape)];
  if (mask !== null) grads.push(concatImages(dMasks));
  return grads;
}

function run(columnOps: ColumnOps, x: tf.Tensor4D, offsets: tf.Tensor4D, weights: tf.Tensor4D, options: DeformConv2dOptions): tf.Tensor4D {
  const geometry = checkArguments(x, offsets, weights, options);
  const mask = options.mask ?? null;
  const bias = options.bias ?? null;
  const [kernelHeight, kernelWidth, inChannels, outChannels] = weights.shape;
  const pass: Pass = {
    columnOps,
    geometry,
    chunks: batchChunks(x.shape[0], geometry, options.maxColumnBytes ?? DEFAULT_MAX_COLUMN_BYTES),
    columnLength: kernelHeight * kernelWidth * inChannels,
    outChannels,
  };

  // Inputs in a fixed order: x, offsets, weights, then mask and bias when given.
  const inputs: tf.Tensor[] = [x, offsets, weights];
  if (mask !== null) inputs.push(mask);
  if (bias !== null) inputs.push(bias);

  const forward = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const save = args.pop() as tf.GradSaveFunc;
    const { convolved, keptColumns } = convolve(pass, x, offsets, mask, weights);
    save([...inputs, ...keptColumns]);
    return {
      value: bias === null ? convolved : tf.add(convolved, bias),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const savedMask = mask === null ? null : (saved[3] as tf.Tensor4D);
        const savedColumns = saved.length > inputs.length ? (saved[inputs.length] as tf.Tensor2D) : null;
        const grads = convolveGradients(pass, dy, saved.slice(0, 3) as tf.Tensor4D[], savedMask, savedColumns);
        if (bias !== null) grads.push(tf.sum(dy, [0, 1, 2]));
        return grads;
      },
    };
  });
  return forward(...inputs) as tf.Tensor4D;
}

/**
 * Deformable 2D convolution (DCN; DCNv2 with `mask`), NHWC, torchvision's semantics.
 *
 * Tap (u, v) of the kernel at output (i, j) samples x at
 *   (i*sh - padTop + u*dh + dy, j*sw - padLeft + v*dw + dx),
 * bilinearly, with zeros outside the input, times the tap's mask value if given, where
 * (dy, dx) = offsets[b, i, j, 2*(g*kh*kw + u*kw + v) + (0, 1)] for the offset group g of
 * the input channel. With zero offsets and no mask it is tf.conv2d.
 * Differentiable with respect to x, offsets, weights, mask and bias.
 *
 * Runs fused im2col/col2im kernels when the active backend has them (cpu, wasm, webgl,
 * webgpu), else a composition of standard tf ops; the matrix products run in the
 * backend's matMul.
 *
 * Against torchvision.ops.deform_conv2d (NCHW): x, offsets and mask are transposed to
 * NHWC (offset channel 2*(g*kh*kw + tap) + (0, 1) keeps torchvision's channel order),
 * weights go from [Cout, Cin, kh, kw] to [kh, kw, Cin, Cout], and torchvision's padding
 * (ph, pw) is `padding: [[0, 0], [ph, ph], [pw, pw], [0, 0]]`.
 *
 * @param x float32 [B, H, W, Cin]: the input feature map, NHWC.
 * @param offsets float32 [B, Ho, Wo, 2*G*kh*kw]: (dy, dx) per tap, taps row-major, per
 *   offset group, in input pixels, added to the tap's regular sampling position.
 * @param weights float32 [kh, kw, Cin, Cout] (tf.conv2d's filter layout).
 * @param options strides, padding, dilations (as tf.conv2d; default 1, 'valid', 1), mask
 *   [B, Ho, Wo, G*kh*kw] (DCNv2), bias [Cout], offsetGroups, maxColumnBytes.
 * @returns float32 [B, Ho, Wo, Cout], Ho and Wo as tf.conv2d's for the same strides, padding, dilations
 *
 * @example
 * import * as tf from '@tensorflow/tfjs';
 * import { deformConv2d } from 'deformconv';
 *
 * const x = tf.randomNormal([4, 10, 10, 3]) as tf.Tensor4D; // [B, H, W, Cin]
 * const kh = 3, kw = 3;
 * const weights = tf.randomNormal([kh, kw, 3, 5]) as tf.Tensor4D; // [kh, kw, Cin, Cout]
 * // A 3x3 'valid' convolution of 10x10 gives 8x8 outputs; one offset group.
 * const offsets = tf.randomNormal([4, 8, 8, 2 * kh * kw]) as tf.Tensor4D;
 * const mask = tf.sigmoid(tf.randomNormal([4, 8, 8, kh * kw])) as tf.Tensor4D; // DCNv2 only
 * const out = deformConv2d(x, offsets, weights, { mask });
 * out.shape; // [4, 8, 8, 5]
 */
export function deformConv2d(x: tf.Tensor4D, offsets: tf.Tensor4D, weights: tf.Tensor4D, options: DeformConv2dOptions = {}): tf.Tensor4D {
  const fused = hasFusedKernel(DEFORM_IM2COL);
  return run(fused ? fusedColumns : portableColumns, x, offsets, weights, options);
}

/** deformConv2d on the composition of standard tf ops, whatever the backend (for tests and comparisons). */
export function deformConv2dPortable(
  x: tf.Tensor4D,
  offsets: tf.Tensor4D,
  weights: tf.Tensor4D,
  options: DeformConv2dOptions = {},
): tf.Tensor4D {
  return run(portableColumns, x, offsets, weights, options);
}
