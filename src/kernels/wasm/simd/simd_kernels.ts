/**
 * The SIMD loops of kernels.wat, instantiated on the wasm backend's own memory, so
 * they read and write tensors where tfjs keeps them. Callers pass TensorInfos; their
 * addresses are looked up here. One instance per backend, made on first use.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { disposeInfos } from '../wasm_kernel_util';
import { SIMD_KERNELS_BASE64, SIMD_KERNELS_SHARED_MEMORY_BASE64 } from './kernels_binary';

/** kernels.wat's exports: byte addresses and element counts. */
interface SimdExports {
  columnSums(x: number, rows: number, c: number, center: number, square: number, sums: number, block: number): void;
  gradientSums(
    dy: number, x: number, rows: number, c: number, mean: number,
    sumDy: number, sumDyCentered: number, blockDy: number, blockDyCentered: number,
  ): void;
  channelAffine(u: number, a: number, v: number, b: number, shift: number, rows: number, c: number, out: number): void;
  im2colTap(
    xT: number, dst: number, channels: number, batch: number, first: number, count: number,
    inH: number, inW: number, outH: number, outW: number, strideH: number, strideW: number,
    rowOffset: number, colOffset: number, yLo: number, yHi: number, xLo: number, xHi: number,
  ): void;
  adamUpdate(
    value: number, m: number, v: number, g: number, n: number,
    beta1: number, oneMinusBeta1: number, beta2: number, oneMinusBeta2: number,
    correction1: number, correction2: number, epsilon: number, negLearningRate: number,
    newValue: number, newM: number, newV: number,
  ): void;
  scatterPhase(
    src: number, dst: number, batch: number, rowsIn: number, colsIn: number, c: number,
    height: number, width: number, phaseH: number, phaseW: number, strideH: number, strideW: number,
  ): void;
  winogradInput(
    x: number, table: number, batch: number, inH: number, inW: number, c: number,
    padTop: number, padLeft: number, tilesH: number, tilesW: number, planeTiles: number,
  ): void;
  winogradOutputGradient(
    dy: number, table: number, batch: number, outH: number, outW: number, c: number, tilesH: number, tilesW: number, planeTiles: number,
  ): void;
  winogradOutput(
    table: number, y: number, bias: number, relu: number, batch: number, outH: number, outW: number, c: number, tilesH: number, tilesW: number,
  ): void;
  winogradFilter(w: number, table: number, ci: number, co: number, flip: number): void;
  deformSample(
    x: number, offsets: number, batch: number, h: number, w: number, c: number, out: number, dy: number, dx: number, dOffsets: number,
  ): void;
  winogradFilterGradient(table: number, dw: number, ci: number, co: number): void;
}

/** Where one kernel tap reads, in the layout of `im2colTap`. */
export interface TapWindow {
  /** Input row and column of output (0, 0): tap * dilation - padding. */
  rowOffset: number;
  colOffset: number;
  /** Output rows [yLo, yHi) and columns [xLo, xHi) whose input lies inside the image. */
  yLo: number;
  yHi: number;
  xLo: number;
  xHi: number;
}

const instances = new WeakMap<BackendWasm, SimdExports>();

function decodeBase64(text: string): Uint8Array {
  return Uint8Array.from(atob(text), (ch) => ch.charCodeAt(0));
}

function exportsFor(backend: BackendWasm): SimdExports {
  let kernels = instances.get(backend);
  if (kernels === undefined) {
    const memory = (backend.wasm as unknown as { asm?: { memory?: WebAssembly.Memory } }).asm?.memory;
    if (memory === undefined) throw new Error("this tfjs wasm backend does not expose its memory ('asm.memory'); deformconv's wasm kernels need it");
    const shared = typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
    let module: WebAssembly.Module;
    try {
      module = new WebAssembly.Module(decodeBase64(shared ? SIMD_KERNELS_SHARED_MEMORY_BASE64 : SIMD_KERNELS_BASE64));
    } catch (err) {
      throw new Error(`deformconv's wasm training kernels need WebAssembly SIMD, which this runtime cannot compile (${(err as Error).message})`);
    }
    kernels = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as SimdExports;
    instances.set(backend, kernels);
  }
  return kernels;
}

/** A tensor's byte address in the backend's memory. */
function address(backend: BackendWasm, info: tf.TensorInfo): number {
  return backend.dataIdMap.get(info.dataId).memoryOffset;
}

/** A [c] float32 scratch vector for the duration of `use`. */
function withScratch<T>(backend: BackendWasm, c: number, count: number, use: (addresses: number[]) => T): T {
  const blocks = Array.from({ length: count }, () => backend.makeOutput([c], 'float32'));
  try {
    return use(blocks.map((b) => address(backend, b)));
  } finally {
    disposeInfos(backend, ...blocks);
  }
}

/**
 * Per-column sums of x viewed as [rows, c] into `sums` ([c]): of x itself, or with
 * `center` ([c]) of (x - center)^2.
 */
export function columnSums(
  backend: BackendWasm,
  x: tf.TensorInfo,
  rows: number,
  c: number,
  sums: tf.TensorInfo,
  center?: tf.TensorInfo,
): void {
  const kernels = exportsFor(backend);
  withScratch(backend, c, 1, ([block]) =>
    kernels.columnSums(address(backend, x), rows, c, center ? address(backend, center) : 0, center ? 1 : 0, address(backend, sums), block),
  );
}

/** One pass over dy and x ([rows, c]): sumDy = column sums of dy, sumDyCentered = of dy * (x - mean). */
export function gradientSums(
  backend: BackendWasm,
  dy: tf.TensorInfo,
  x: tf.TensorInfo,
  rows: number,
  c: number,
  mean: tf.TensorInfo,
  sumDy: tf.TensorInfo,
  sumDyCentered: tf.TensorInfo,
): void {
  const kernels = exportsFor(backend);
  const at = (info: tf.TensorInfo): number => address(backend, info);
  withScratch(backend, c, 2, ([blockDy, blockDyCentered]) =>
    kernels.gradientSums(at(dy), at(x), rows, c, at(mean), at(sumDy), at(sumDyCentered), blockDy, blockDyCentered),
  );
}

/**
 * out = u * a + shift, or with `second` = [v, b], u * a + v * b + shift, per channel:
 * u, v, out are [rows, c]; a, b, shift are [c].
 */
export function channelAffine(
  backend: BackendWasm,
  u: tf.TensorInfo,
  a: tf.TensorInfo,
  shift: tf.TensorInfo,
  rows: number,
  c: number,
  out: tf.TensorInfo,
  second?: [v: tf.TensorInfo, b: tf.TensorInfo],
): void {
  const at = (info: tf.TensorInfo): number => address(backend, info);
  // Address 0 never holds a tensor (malloc never returns it): it stands for "no second term".
  const [v, b] = second === undefined ? [0, 0] : [at(second[0]), at(second[1])];
  exportsFor(backend).channelAffine(at(u), at(a), v, b, at(shift), rows, c, at(out));
}

/**
 * Writes one kernel tap's block of the transposed im2col at `dst` (a float index into
 * `colsT`): for each channel, then each image b in [first, first + count), then each
 * output position, the input value the tap reads there (zero in the padding).
 * xT is the input as [channels, batch, height, width].
 */
export function im2colTap(
  backend: BackendWasm,
  xT: tf.TensorInfo,
  colsT: tf.TensorInfo,
  dst: number,
  first: number,
  count: number,
  outH: number,
  outW: number,
  strides: [number, number],
  tap: TapWindow,
): void {
  const [channels, batch, inH, inW] = xT.shape;
  exportsFor(backend).im2colTap(
    address(backend, xT), address(backend, colsT) + 4 * dst, channels, batch, first, count, inH, inW, outH, outW,
    strides[0], strides[1], tap.rowOffset, tap.colOffset, tap.yLo, tap.yHi, tap.xLo, tap.xHi,
  );
}

/**
 * Copies phase (phaseH, phaseW) of a strided input gradient, src [B, Qh, Qw, C], to
 * dst[b, q * strides[0] + phaseH, p * strides[1] + phaseW, :] (dst [B, H, W, C]),
 * dropping what falls past dst.
 */
export function scatterPhase(
  backend: BackendWasm,
  src: tf.TensorInfo,
  dst: tf.TensorInfo,
  phaseH: number,
  phaseW: number,
  strides: [number, number],
): void {
  const [batch, rowsIn, colsIn, c] = src.shape;
  const [, height, width] = dst.shape;
  exportsFor(backend).scatterPhase(
    address(backend, src), address(backend, dst), batch, rowsIn, colsIn, c, height, width, phaseH, phaseW, strides[0], strides[1],
  );
}

/** Adam's hyperparameters and bias corrections for one step (see kernels.wat's adamUpdate). */
export interface AdamCoefficients {
  beta1: number;
  beta2: number;
  epsilon: number;
  learningRate: number;
  /** 1 - beta1^t and 1 - beta2^t, as float32 values. */
  correction1: number;
  correction2: number;
}

/** One Adam step: writes newValue, newM, newV from value, m, v and the gradient g (all the same size). */
export function adamUpdate(
  backend: BackendWasm,
  [value, m, v, g]: tf.TensorInfo[],
  k: AdamCoefficients,
  [newValue, newM, newV]: tf.TensorInfo[],
): void {
  const at = (info: tf.TensorInfo): number => address(backend, info);
  exportsFor(backend).adamUpdate(
    at(value), at(m), at(v), at(g), tf.util.sizeFromShape(value.shape),
    k.beta1, 1 - k.beta1, k.beta2, 1 - k.beta2, k.correction1, k.correction2, k.epsilon, -k.learningRate,
    at(newValue), at(newM), at(newV),
  );
}

/**
 * A batch of images of a Winograd F(4x4, 3x3) convolution: `count` images from image
 * `first` of an NHWC tensor, cut into tilesH x tilesW tiles of 4x4 outputs each; the planes
 * hold `planeTiles` >= count * tilesH * tilesW tiles, the ones past the images zero.
 */
export interface WinogradTiling {
  first: number;
  count: number;
  tilesH: number;
  tilesW: number;
  planeTiles: number;
}

/**
 * The 36 transform-domain planes, each a tensor of its own (so XNNPACK can multiply them
 * one by one), and `table`, an int32 tensor of their 36 byte addresses, which the loops read.
 */
export interface WinogradPlanes {
  planes: tf.TensorInfo[];
  table: tf.TensorInfo;
}

/** A table of the planes' addresses (allocate the planes first: an allocation may grow the heap). */
export function winogradTable(backend: BackendWasm, planes: tf.TensorInfo[]): WinogradPlanes {
  const table = backend.makeOutput([planes.length], 'int32');
  (backend.typedArrayFromHeap(table) as Int32Array).set(planes.map((p) => address(backend, p)));
  return { planes, table };
}

/** Byte address of image `first` of an NHWC tensor. */
function imageAddress(backend: BackendWasm, x: tf.TensorInfo, first: number): number {
  const [, h, w, c] = x.shape;
  return address(backend, x) + 4 * first * h * w * c;
}

/**
 * B^T d B of every 6x6 input tile of `tiling`'s images of x [B, H, W, C] into planes
 * [planeTiles, C]. Tile (ty, tx) reads rows 4 ty - padTop + [0, 6) and columns 4 tx - padLeft + [0, 6),
 * zero outside.
 */
export function winogradInput(
  backend: BackendWasm,
  x: tf.TensorInfo,
  tiling: WinogradTiling,
  [padTop, padLeft]: [number, number],
  out: WinogradPlanes,
): void {
  const [, inH, inW, c] = x.shape;
  exportsFor(backend).winogradInput(
    imageAddress(backend, x, tiling.first), address(backend, out.table), tiling.count, inH, inW, c,
    padTop, padLeft, tiling.tilesH, tiling.tilesW, tiling.planeTiles,
  );
}

/**
 * A dy A^T of every 4x4 tile of `tiling`'s images of dy [B, OH, OW, C] (zero past the image)
 * into planes [C, planeTiles]: the left operand of the filter gradient's products.
 */
export function winogradOutputGradient(backend: BackendWasm, dy: tf.TensorInfo, tiling: WinogradTiling, out: WinogradPlanes): void {
  const [, outH, outW, c] = dy.shape;
  exportsFor(backend).winogradOutputGradient(
    imageAddress(backend, dy, tiling.first), address(backend, out.table), tiling.count, outH, outW, c,
    tiling.tilesH, tiling.tilesW, tiling.planeTiles,
  );
}

/**
 * A^T m A of the planes [tiles, C] into `tiling`'s images of y [B, OH, OW, C] (what of each
 * 4x4 tile lies inside), plus `bias` [C] if given, then max(0, .) if `relu`.
 */
export function winogradOutput(
  backend: BackendWasm,
  planes: WinogradPlanes,
  y: tf.TensorInfo,
  tiling: WinogradTiling,
  bias: tf.TensorInfo | null,
  relu: boolean,
): void {
  const [, outH, outW, c] = y.shape;
  exportsFor(backend).winogradOutput(
    address(backend, planes.table), imageAddress(backend, y, tiling.first), bias === null ? 0 : address(backend, bias),
    relu ? 1 : 0, tiling.count, outH, outW, c, tiling.tilesH, tiling.tilesW,
  );
}

/** G g G^T of w [3, 3, Ci, Co] into planes [Ci, Co]; `flip` rotates the filter by 180 degrees first. */
export function winogradFilter(backend: BackendWasm, w: tf.TensorInfo, out: WinogradPlanes, flip: boolean): void {
  const [, , ci, co] = w.shape;
  exportsFor(backend).winogradFilter(address(backend, w), address(backend, out.table), ci, co, flip ? 1 : 0);
}

/** G^T du G of the planes [Co, Ci] into dw [3, 3, Ci, Co]. */
export function winogradFilterGradient(backend: BackendWasm, planes: WinogradPlanes, dw: tf.TensorInfo): void {
  const [, , ci, co] = dw.shape;
  exportsFor(backend).winogradFilterGradient(address(backend, planes.table), address(backend, dw), ci, co);
}

/**
 * deformSample on the SIMD module, four channels at a time (x [B, H, W, C], C % 4 == 0;
 * offsets [B, H, W, 2C]): the samples into `out`, or with `grad`, the backward pass for its
 * dy, adding into dx (which must start at zero) and writing dOffsets.
 */
export function deformSampleSimd(
  backend: BackendWasm,
  x: tf.TensorInfo,
  offsets: tf.TensorInfo,
  out: tf.TensorInfo | null,
  grad?: { dy: tf.TensorInfo; dx: tf.TensorInfo; dOffsets: tf.TensorInfo },
): void {
  const [batch, h, w, c] = x.shape;
  const at = (info: tf.TensorInfo | null | undefined): number => (info == null ? 0 : address(backend, info));
  exportsFor(backend).deformSample(at(x), at(offsets), batch, h, w, c, at(out), at(grad?.dy), at(grad?.dx), at(grad?.dOffsets));
}
