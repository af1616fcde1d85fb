/**
 * 3x3 convolutions (stride 1 or 2) by Winograd's minimal filtering (Lavin and Gray, "Fast
 * Algorithms for Convolutional Neural Networks", 2016), forward and both gradients.
 *
 * An m x m tile of outputs is A^T [(G g G^T) . (B^T d B)] A: per tile and channel pair, n^2
 * multiplications in the transform domain (n x n the tile's input window) instead of the
 * direct convolution's 9 m^2. Summed over input channels, each transform-domain point is one
 * matrix product, [tiles, Ci] x [Ci, Co]; the products and the transforms are SIMD loops of
 * this package (conv_kernels.wat, winograd_tiles.wat). The algorithms (conv_kernels.ts's
 * WINOGRAD_ALGORITHMS):
 * - stride 1: F(4x4, 3x3) or F(5x5, 3x3), per map size the one with fewer products: on the
 *   experiment's 14x14 maps F(5x5) (3x3 tiles, 15x15 computed for 14x14 kept), on 28x28
 *   F(4x4); 4 times fewer multiplications either way.
 * - stride 2: 7x7 tiles of the polyphase algorithm (even inputs through F(7, 2), odd ones
 *   direct; scripts/winograd/cook_toom.ts), 225 products for 441: on 7x7 and 14x14 outputs.
 *
 * The gradients: a stride-1 input gradient is again a stride-1 convolution, of dy with the
 * filter rotated by 180 degrees, channels swapped, padding 2 - pad; a stride-2 one is the
 * forward's adjoint, B [(A dy A^T) x U^T] B^T summed into the overlapping input windows. The
 * filter gradient is G^T [sum over tiles of (B^T d B) . (A dy A^T)] G: products [tiles, Ci]^T x
 * [tiles, Co].
 *
 * Float32 error: the transforms' constants cost accuracy; measured against float64 on the
 * models' shapes, the worst error is about 4e-6 of the sum of |terms| (the direct
 * convolution's, 6e-8). tests/wasm_winograd.test.ts bounds it by 1e-5.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { accumulate, disposeInfos, float32View, runWasmKernel } from './wasm_kernel_util';
import { forwardFilterPlanes } from './winograd_filter_cache';
import {
  WINOGRAD_ALGORITHMS,
  WinogradPlanes,
  WinogradTiling,
  disposeWinogradPlanes,
  filterPlaneSharing,
  planeTable,
  makeWinogradPlanes,
  windowSize,
  winogradFilter,
  winogradFilterGradient,
  winogradInput,
  winogradInputGradient as inputGradientTransform,
  winogradOutput,
  winogradOutputGradient,
  winogradProducts,
} from './simd/conv_kernels';

/**
 * Largest set of planes alive at once, in floats (64 MiB): larger batches go in chunks of
 * images. Smaller chunks, for the cache's sake, measured no faster.
 */
export const MAX_PLANE_FLOATS = 16 * 1024 * 1024;
/**
 * Fewest channels on either side for the transform domain to pay: the transforms cost
 * per channel, the products per channel pair. (The models' smallest, conv12_offset's 32, gains.)
 */
const MIN_CHANNELS = 16;
/** The most products, against the direct convolution's, for Winograd to be worth its transforms. */
const MAX_PRODUCTS_SHARE = 0.55;

/** A 3x3 convolution (stride 1 or 2): x [batch, inH, inW, inC] -> y [batch, outH, outW, outC]. */
export interface WinogradGeometry {
  /** The algorithm: an index into WINOGRAD_ALGORITHMS. */
  variant: number;
  batch: number;
  inH: number;
  inW: number;
  inC: number;
  outH: number;
  outW: number;
  outC: number;
  /** Rows and columns of zeros before the image (negative: rows of it dropped). */
  padTop: number;
  padLeft: number;
}

/** What the forward convolution adds after the products. */
export interface WinogradEpilogue {
  /** [outC], or null. */
  bias: tf.TensorInfo | null;
  relu: boolean;
}

/** Products per image and channel pair of algorithm `variant` on an outH x outW output. */
function products(variant: number, outH: number, outW: number): number {
  const { m } = WINOGRAD_ALGORITHMS[variant];
  return windowSize(variant) ** 2 * Math.ceil(outH / m) * Math.ceil(outW / m);
}

/** The algorithm for `stride` with the fewest products (the first on a tie), or null if none pays. */
function algorithm(stride: number, outH: number, outW: number): number | null {
  const candidates = WINOGRAD_ALGORITHMS.flatMap((a, v) => (a.stride === stride ? [v] : []));
  if (candidates.length === 0) return null;
  const best = candidates.reduce((b, v) => (products(v, outH, outW) < products(b, outH, outW) ? v : b));
  return products(best, outH, outW) <= MAX_PRODUCTS_SHARE * 9 * outH * outW ? best : null;
}

/** The geometry of `info` when Winograd computes it, else null (the caller falls back). */
export function winogradGeometry(info: tf.backend_util.Conv2DInfo): WinogradGeometry | null {
  const { filterHeight, filterWidth, strideHeight, strideWidth, dilationHeight, dilationWidth } = info;
  if (filterHeight !== 3 || filterWidth !== 3 || strideHeight !== strideWidth) return null;
  if (dilationHeight !== 1 || dilationWidth !== 1 || info.dataFormat !== 'channelsLast') return null;
  const { inChannels, outChannels, outHeight, outWidth } = info;
  // The products take eight channels at a time (the transforms four), with no remainder loop.
  if (inChannels % 8 !== 0 || outChannels % 8 !== 0) return null;
  if (Math.min(inChannels, outChannels) < MIN_CHANNELS || info.batchSize === 0) return null;
  const variant = algorithm(strideHeight, outHeight, outWidth);
  if (variant === null) return null;
  return {
    variant,
    batch: info.batchSize,
    inH: info.inHeight,
    inW: info.inWidth,
    inC: inChannels,
    outH: outHeight,
    outW: outWidth,
    outC: outChannels,
    padTop: info.padInfo.top,
    padLeft: info.padInfo.left,
  };
}

/**
 * The input gradient of the stride-1 convolution `g` as a convolution of dy: the output
 * gradient in, the input out, padding 2 - pad (the filter is rotated); null if no algorithm pays.
 */
function flippedGeometry(g: WinogradGeometry): WinogradGeometry | null {
  const variant = algorithm(1, g.inH, g.inW);
  if (variant === null) return null;
  const [inH, inW, inC, outH, outW, outC] = [g.outH, g.outW, g.outC, g.inH, g.inW, g.inC];
  return { variant, batch: g.batch, inH, inW, inC, outH, outW, outC, padTop: 2 - g.padTop, padLeft: 2 - g.padLeft };
}

function disposePlanes(backend: BackendWasm, ...sets: WinogradPlanes[]): void {
  for (const p of sets) disposeWinogradPlanes(backend, p);
}

/** The products a[p] b[p] of every plane, as new planes [rows, cols]. */
function multiplyPlanes(
  backend: BackendWasm,
  variant: number,
  a: WinogradPlanes,
  b: WinogradPlanes,
  [rows, inner, cols]: [number, number, number],
): WinogradPlanes {
  const result = makeWinogradPlanes(backend, variant, rows, cols);
  winogradProducts(backend, a, b, result, [rows, inner, cols], false);
  return result;
}

/** Each chunk of images of `g` (at most maxPlaneFloats of planes at once), tiled. */
function* chunks(g: WinogradGeometry, maxPlaneFloats: number): Generator<WinogradTiling> {
  const { m } = WINOGRAD_ALGORITHMS[g.variant];
  const [tilesH, tilesW] = [Math.ceil(g.outH / m), Math.ceil(g.outW / m)];
  const perImage = windowSize(g.variant) ** 2 * tilesH * tilesW * (g.inC + g.outC);
  const chunk = Math.max(1, Math.min(g.batch, Math.floor(maxPlaneFloats / perImage)));
  for (let first = 0; first < g.batch; first += chunk) {
    const count = Math.min(chunk, g.batch - first);
    // Rows of the products come four at a time: the tiles past the images are zero.
    yield { variant: g.variant, first, count, tilesH, tilesW, planeTiles: 4 * Math.ceil((count * tilesH * tilesW) / 4) };
  }
}

/** y = x convolved with the filter whose transform is `filterPlanes` (`g`'s stride and padding), plus the epilogue. */
function convolve(
  backend: BackendWasm,
  x: tf.TensorInfo,
  filterPlanes: WinogradPlanes,
  g: WinogradGeometry,
  epilogue: WinogradEpilogue,
  maxPlaneFloats: number,
): tf.TensorInfo {
  const y = backend.makeOutput([g.batch, g.outH, g.outW, g.outC], 'float32');
  for (const t of chunks(g, maxPlaneFloats)) {
    const input = makeWinogradPlanes(backend, g.variant, t.planeTiles, g.inC);
    winogradInput(backend, x, t, [g.padTop, g.padLeft], input);
    const result = multiplyPlanes(backend, g.variant, input, filterPlanes, [t.planeTiles, g.inC, g.outC]);
    disposePlanes(backend, input);
    winogradOutput(backend, result, y, t, epilogue.bias, epilogue.relu);
    disposePlanes(backend, result);
  }
  return y;
}

/** The transform of filter w (flipped: rotated by 180 degrees) for algorithm `variant`. */
function filterPlanes(backend: BackendWasm, w: tf.TensorInfo, variant: number, flip: boolean): WinogradPlanes {
  const planes = makeWinogradPlanes(backend, variant, w.shape[2], w.shape[3], filterPlaneSharing(variant).filter);
  winogradFilter(backend, w, planes, flip, variant);
  return planes;
}

/** w [3, 3, a, b] as [3, 3, b, a]. */
const swapChannels = (backend: BackendWasm, w: tf.TensorInfo): tf.TensorInfo =>
  runWasmKernel(backend, 'Transpose', { x: w }, { perm: [0, 1, 3, 2] });

/** The forward convolution: x [B, H, W, inC], w [3, 3, inC, outC]. */
export function winogradConv2D(
  backend: BackendWasm,
  x: tf.TensorInfo,
  w: tf.TensorInfo,
  g: WinogradGeometry,
  epilogue: WinogradEpilogue,
  maxPlaneFloats = MAX_PLANE_FLOATS,
): tf.TensorInfo {
  const filter = forwardFilterPlanes(backend, w, g.variant, () => filterPlanes(backend, w, g.variant, false));
  try {
    return convolve(backend, x, filter.planes, g, epilogue, maxPlaneFloats);
  } finally {
    filter.release();
  }
}

/**
 * The input gradient of the forward convolution `g` (w [3, 3, inC, outC]) from dy, or null
 * when it has no algorithm (a stride-1 gradient whose own output is too small to pay).
 */
export function winogradInputGradient(
  backend: BackendWasm,
  dy: tf.TensorInfo,
  w: tf.TensorInfo,
  g: WinogradGeometry,
  maxPlaneFloats = MAX_PLANE_FLOATS,
): tf.TensorInfo | null {
  const stride = WINOGRAD_ALGORITHMS[g.variant].stride;
  const back = stride === 1 ? flippedGeometry(g) : g;
  if (back === null) return null;
  const swapped = swapChannels(backend, w);
  const planes = filterPlanes(backend, swapped, back.variant, stride === 1);
  disposeInfos(backend, swapped);
  try {
    if (stride === 1) return convolve(backend, dy, planes, back, { bias: null, relu: false }, maxPlaneFloats);
    return adjoint(backend, dy, planes, g, maxPlaneFloats);
  } finally {
    disposePlanes(backend, planes);
  }
}

/** dx of the forward `g` from dy and the filter's transform with its channels swapped ([outC, inC] planes). */
function adjoint(
  backend: BackendWasm,
  dy: tf.TensorInfo,
  swappedPlanes: WinogradPlanes,
  g: WinogradGeometry,
  maxPlaneFloats: number,
): tf.TensorInfo {
  const dx = backend.makeOutput([g.batch, g.inH, g.inW, g.inC], 'float32');
  float32View(backend, dx).fill(0);
  for (const t of chunks(g, maxPlaneFloats)) {
    const gradient = makeWinogradPlanes(backend, g.variant, t.planeTiles, g.outC);
    winogradOutputGradient(backend, dy, t, gradient);
    const result = multiplyPlanes(backend, g.variant, gradient, swappedPlanes, [t.planeTiles, g.outC, g.inC]);
    disposePlanes(backend, gradient);
    inputGradientTransform(backend, result, dx, t, [g.padTop, g.padLeft]);
    disposePlanes(backend, result);
  }
  return dx;
}

/** The filter gradient [3, 3, inC, outC] of the forward convolution `g`, from its input x and dy. */
export function winogradFilterGrad(
  backend: BackendWasm,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  g: WinogradGeometry,
  maxPlaneFloats = MAX_PLANE_FLOATS,
): tf.TensorInfo {
  const { stacked } = filterPlaneSharing(g.variant);
  let dw: tf.TensorInfo | null = null;
  for (const t of chunks(g, maxPlaneFloats)) {
    const input = makeWinogradPlanes(backend, g.variant, t.planeTiles, g.inC, stacked);
    winogradInput(backend, x, t, [g.padTop, g.padLeft], input);
    const gradient = makeWinogradPlanes(backend, g.variant, t.planeTiles, g.outC, stacked);
    winogradOutputGradient(backend, dy, t, gradient);
    const sums = groupProducts(backend, g.variant, input, gradient, [g.inC, t.planeTiles, g.outC]);
    disposePlanes(backend, input, gradient);
    const part = backend.makeOutput([3, 3, g.inC, g.outC], 'float32');
    winogradFilterGradient(backend, sums, part, g.variant);
    disposePlanes(backend, sums);
    dw = accumulate(backend, dw, part);
  }
  return dw as tf.TensorInfo;
}

/** The planes of `planes` that `planeOf` lists, with a table of their own (free only that table). */
const view = (backend: BackendWasm, planes: WinogradPlanes, planeOf: readonly number[]): WinogradPlanes => ({
  ...planes,
  table: planeTable(backend, planes, planeOf),
});

/**
 * Per group of points sharing a filter plane, the sum of a[p]^T b[p] over its points, as one
 * product of the group's stacked planes, into planes laid out as a filter's transform: the
 * filter gradient's transform reads one point per group (G's rows agree within a group).
 */
function groupProducts(
  backend: BackendWasm,
  variant: number,
  a: WinogradPlanes,
  b: WinogradPlanes,
  [inC, tiles, outC]: [number, number, number],
): WinogradPlanes {
  const { filter, groupsBySize } = filterPlaneSharing(variant);
  const sums = makeWinogradPlanes(backend, variant, inC, outC, filter);
  for (const { size, firstSlots, sharedPlanes } of groupsBySize) {
    const [aGroups, bGroups, cGroups] = [view(backend, a, firstSlots), view(backend, b, firstSlots), view(backend, sums, sharedPlanes)];
    winogradProducts(backend, aGroups, bGroups, cGroups, [inC, size * tiles, outC], true);
    disposeInfos(backend, aGroups.table, bGroups.table, cGroups.table);
  }
  return sums;
}
