/**
 * Stride-1 3x3 convolutions by Winograd's minimal filtering, F(m x m, 3 x 3) with m = 4 or 5
 * (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks", 2016), forward and
 * both gradients.
 *
 * An m x m tile of outputs is A^T [(G g G^T) . (B^T d B)] A: per tile and channel pair,
 * (m + 2)^2 multiplications in the transform domain instead of the direct convolution's 9 m^2.
 * Summed over input channels, each transform-domain point is one matrix product,
 * [tiles, Ci] x [Ci, Co]; the products and the transforms are SIMD loops of this package
 * (conv_kernels.wat, winograd_tiles.wat). Per map size the tile size
 * with fewer products: on the experiment's 14x14 maps F(5x5) (3x3 tiles, 15x15 computed for
 * 14x14 kept), 4 times fewer multiplications; on 28x28 F(4x4), 4 times fewer.
 *
 * - The input gradient of a stride-1 3x3 convolution is one too: dy convolved with the filter
 *   rotated by 180 degrees, channels swapped, padding 2 - pad.
 * - The filter gradient is G^T [sum over tiles of (B^T d B) . (A dy A^T)] G: products
 *   [tiles, Ci]^T x [tiles, Co].
 *
 * Float32 error: the transforms' constants (up to 8 in A, 5 in B, 1/24 in G) cost accuracy;
 * measured against float64, the worst error is about 1.5e-6 of the sum of |x| |w| over the
 * window (the direct convolution's, 6e-8). tests/wasm_conv_grads.test.ts bounds it by 1e-5.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { accumulate, disposeInfos, runWasmKernel } from './wasm_kernel_util';
import { forwardFilterPlanes } from './winograd_filter_cache';
import {
  WinogradPlanes,
  WinogradTiling,
  winogradFilter,
  winogradFilterGradient,
  winogradInput,
  winogradOutput,
  winogradOutputGradient,
  winogradProducts,
  winogradTable,
} from './simd/conv_kernels';

/** The tile sizes (outputs per tile side) kernels.wat has transforms for. */
const TILE_SIZES = [4, 5];
/** Transform-domain points of F(m x m, 3 x 3). */
const points = (m: number): number => (m + 2) ** 2;
/**
 * Largest set of planes alive at once, in floats (64 MiB): larger batches go in chunks of
 * images. Smaller chunks, for the cache's sake, measured slower (more, shorter products).
 */
export const MAX_PLANE_FLOATS = 16 * 1024 * 1024;
/**
 * Fewest channels on either side for the transform domain to pay: the transforms cost
 * per channel, the products per channel pair. (The models' smallest, conv12_offset's 32, gains.)
 */
const MIN_CHANNELS = 16;

/** A stride-1 3x3 convolution: x [batch, inH, inW, inC] -> y [batch, outH, outW, outC]. */
export interface WinogradGeometry {
  /** The tile size: outputs per tile side. */
  m: number;
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

/** The tile size with the fewest products for an outH x outW output (the smaller on a tie). */
function tileSize(outH: number, outW: number): number {
  const products = (m: number): number => points(m) * Math.ceil(outH / m) * Math.ceil(outW / m);
  return TILE_SIZES.reduce((best, m) => (products(m) < products(best) ? m : best));
}

/** The geometry of `info` when Winograd computes it, else null (the caller falls back). */
export function winogradGeometry(info: tf.backend_util.Conv2DInfo): WinogradGeometry | null {
  const { filterHeight, filterWidth, strideHeight, strideWidth, dilationHeight, dilationWidth } = info;
  if (filterHeight !== 3 || filterWidth !== 3 || strideHeight !== 1 || strideWidth !== 1) return null;
  if (dilationHeight !== 1 || dilationWidth !== 1 || info.dataFormat !== 'channelsLast') return null;
  const { inChannels, outChannels, outHeight, outWidth } = info;
  // The products take eight channels at a time (the transforms four), with no remainder loop.
  if (inChannels % 8 !== 0 || outChannels % 8 !== 0) return null;
  if (Math.min(inChannels, outChannels) < MIN_CHANNELS || info.batchSize === 0) return null;
  // At most half the products of the direct convolution (tiles past the edge compute outputs thrown away).
  const m = tileSize(outHeight, outWidth);
  if (points(m) * Math.ceil(outHeight / m) * Math.ceil(outWidth / m) > 4.5 * outHeight * outWidth) return null;
  return {
    m,
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
 * The geometry of the input gradient of the stride-1 3x3 convolution `g` as a convolution
 * of dy: the output gradient in, the input out, padding 2 - pad (the filter is rotated).
 */
export function inputGradientGeometry(g: WinogradGeometry): WinogradGeometry {
  return {
    m: tileSize(g.inH, g.inW),
    batch: g.batch,
    inH: g.outH,
    inW: g.outW,
    inC: g.outC,
    outH: g.inH,
    outW: g.inW,
    outC: g.inC,
    padTop: 2 - g.padTop,
    padLeft: 2 - g.padLeft,
  };
}

/** The transform domain of tile size m: (m + 2)^2 tensors [1, rows, cols] and their address table. */
function makePlanes(backend: BackendWasm, m: number, rows: number, cols: number): WinogradPlanes {
  const planes = Array.from({ length: points(m) }, () => backend.makeOutput([1, rows, cols], 'float32'));
  return winogradTable(backend, planes);
}

function disposePlanes(backend: BackendWasm, p: WinogradPlanes): void {
  disposeInfos(backend, ...p.planes, p.table);
}

/** The products a[p] b[p] (or a[p]^T b[p]) of every plane, as new planes [rows, cols]. */
function multiplyPlanes(
  backend: BackendWasm,
  m: number,
  a: WinogradPlanes,
  b: WinogradPlanes,
  [rows, inner, cols]: [number, number, number],
  transposeA = false,
): WinogradPlanes {
  const products = makePlanes(backend, m, rows, cols);
  winogradProducts(backend, a, b, products, [rows, inner, cols], transposeA);
  return products;
}

/** Tiles in a plane: a multiple of 4, the products' rows at a time (the tiles past the images are zero). */
const planeTiles = (tiles: number): number => 4 * Math.ceil(tiles / 4);

/** The images per chunk, and a tiling for the images [first, first + count). */
function chunking(
  g: WinogradGeometry,
  tilesH: number,
  tilesW: number,
  maxPlaneFloats: number,
): { chunk: number; tiling: (first: number) => WinogradTiling } {
  const perImage = points(g.m) * tilesH * tilesW * (g.inC + g.outC);
  const chunk = Math.max(1, Math.min(g.batch, Math.floor(maxPlaneFloats / perImage)));
  const tiling = (first: number): WinogradTiling => {
    const count = Math.min(chunk, g.batch - first);
    return { m: g.m, first, count, tilesH, tilesW, planeTiles: planeTiles(count * tilesH * tilesW) };
  };
  return { chunk, tiling };
}

/** y = x convolved with the filter whose transform is `filterPlanes` (stride 1, `g`'s padding), plus the epilogue. */
function convolve(
  backend: BackendWasm,
  x: tf.TensorInfo,
  filterPlanes: WinogradPlanes,
  g: WinogradGeometry,
  epilogue: WinogradEpilogue,
  maxPlaneFloats: number,
): tf.TensorInfo {
  const tilesH = Math.ceil(g.outH / g.m);
  const tilesW = Math.ceil(g.outW / g.m);
  const y = backend.makeOutput([g.batch, g.outH, g.outW, g.outC], 'float32');
  const { chunk, tiling } = chunking(g, tilesH, tilesW, maxPlaneFloats);
  for (let first = 0; first < g.batch; first += chunk) {
    const t = tiling(first);
    const input = makePlanes(backend, g.m, t.planeTiles, g.inC);
    winogradInput(backend, x, t, [g.padTop, g.padLeft], input);
    const products = multiplyPlanes(backend, g.m, input, filterPlanes, [t.planeTiles, g.inC, g.outC]);
    disposePlanes(backend, input);
    winogradOutput(backend, products, y, t, epilogue.bias, epilogue.relu);
    disposePlanes(backend, products);
  }
  return y;
}

/** The forward convolution: x [B, H, W, inC], w [3, 3, inC, outC]. */
export function winogradConv2D(
  backend: BackendWasm,
  x: tf.TensorInfo,
  w: tf.TensorInfo,
  g: WinogradGeometry,
  epilogue: WinogradEpilogue,
  maxPlaneFloats = MAX_PLANE_FLOATS,
): tf.TensorInfo {
  const filter = forwardFilterPlanes(backend, w, g.m, () => {
    const planes = makePlanes(backend, g.m, g.inC, g.outC);
    winogradFilter(backend, w, planes, false, g.m);
    return planes;
  });
  try {
    return convolve(backend, x, filter.planes, g, epilogue, maxPlaneFloats);
  } finally {
    filter.release();
  }
}

/**
 * The input gradient of the forward convolution `g` (w [3, 3, inC, outC]): dy convolved with
 * w rotated by 180 degrees, its channels swapped.
 */
export function winogradInputGradient(
  backend: BackendWasm,
  dy: tf.TensorInfo,
  w: tf.TensorInfo,
  g: WinogradGeometry,
  maxPlaneFloats = MAX_PLANE_FLOATS,
): tf.TensorInfo {
  const swapped = runWasmKernel(backend, 'Transpose', { x: w }, { perm: [0, 1, 3, 2] });
  const back = inputGradientGeometry(g);
  const filterPlanes = makePlanes(backend, back.m, back.inC, back.outC);
  winogradFilter(backend, swapped, filterPlanes, true, back.m);
  disposeInfos(backend, swapped);
  try {
    return convolve(backend, dy, filterPlanes, back, { bias: null, relu: false }, maxPlaneFloats);
  } finally {
    disposePlanes(backend, filterPlanes);
  }
}

/** The filter gradient [3, 3, inC, outC] of the forward convolution `g`, from its input x and dy. */
export function winogradFilterGrad(
  backend: BackendWasm,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  g: WinogradGeometry,
  maxPlaneFloats = MAX_PLANE_FLOATS,
): tf.TensorInfo {
  const tilesH = Math.ceil(g.outH / g.m);
  const tilesW = Math.ceil(g.outW / g.m);
  const { chunk, tiling } = chunking(g, tilesH, tilesW, maxPlaneFloats);
  let dw: tf.TensorInfo | null = null;
  for (let first = 0; first < g.batch; first += chunk) {
    const t = tiling(first);
    const input = makePlanes(backend, g.m, t.planeTiles, g.inC);
    winogradInput(backend, x, t, [g.padTop, g.padLeft], input);
    const gradient = makePlanes(backend, g.m, t.planeTiles, g.outC);
    winogradOutputGradient(backend, dy, t, gradient);
    const products = multiplyPlanes(backend, g.m, input, gradient, [g.inC, t.planeTiles, g.outC], true);
    disposePlanes(backend, input);
    disposePlanes(backend, gradient);
    const part = backend.makeOutput([3, 3, g.inC, g.outC], 'float32');
    winogradFilterGradient(backend, products, part, g.m);
    disposePlanes(backend, products);
    dw = accumulate(backend, dw, part);
  }
  return dw as tf.TensorInfo;
}
