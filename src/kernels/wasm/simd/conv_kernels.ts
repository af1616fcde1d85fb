/**
 * The SIMD loops of conv_kernels.wat (the convolution kernels' im2col, sub-pixel scatter and
 * Winograd transforms), on the wasm backend's own memory (simd_module.ts). Only the kernels
 * that replace tfjs's (deformconv/wasm) use them, so only that entry carries their bytes.
 */
import type * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { CONV_KERNELS_BASE64, CONV_KERNELS_SHARED_MEMORY_BASE64 } from './conv_kernels_binary';
import { SimdBinaries, address, simdExports } from './simd_module';

/** conv_kernels.wat's exports: byte addresses and element counts. */
interface ConvExports {
  im2colTap(
    xT: number,
    dst: number,
    channels: number,
    batch: number,
    first: number,
    count: number,
    inH: number,
    inW: number,
    outH: number,
    outW: number,
    strideH: number,
    strideW: number,
    rowOffset: number,
    colOffset: number,
    yLo: number,
    yHi: number,
    xLo: number,
    xHi: number,
  ): void;
  scatterPhase(
    src: number,
    dst: number,
    batch: number,
    rowsIn: number,
    colsIn: number,
    c: number,
    height: number,
    width: number,
    phaseH: number,
    phaseW: number,
    strideH: number,
    strideW: number,
  ): void;
  winogradInput(
    x: number,
    table: number,
    batch: number,
    inH: number,
    inW: number,
    c: number,
    tilesH: number,
    tilesW: number,
    planeTiles: number,
    m: number,
    stride: number,
    padTop: number,
    padLeft: number,
    variant: number,
    scratch: number,
  ): void;
  winogradOutputGradient(
    dy: number,
    table: number,
    batch: number,
    outH: number,
    outW: number,
    c: number,
    tilesH: number,
    tilesW: number,
    planeTiles: number,
    m: number,
    variant: number,
    scratch: number,
  ): void;
  winogradOutput(
    table: number,
    y: number,
    bias: number,
    relu: number,
    batch: number,
    outH: number,
    outW: number,
    c: number,
    tilesH: number,
    tilesW: number,
    m: number,
    variant: number,
    scratch: number,
  ): void;
  winogradInputGradient(
    table: number,
    dx: number,
    batch: number,
    inH: number,
    inW: number,
    c: number,
    tilesH: number,
    tilesW: number,
    m: number,
    stride: number,
    padTop: number,
    padLeft: number,
    variant: number,
    scratch: number,
  ): void;
  winogradFilter(w: number, table: number, ci: number, co: number, flip: number, variant: number, scratch: number): void;
  winogradFilterGradient(table: number, dw: number, ci: number, co: number, variant: number, scratch: number): void;
  winogradProducts(
    aTable: number,
    bTable: number,
    cTable: number,
    points: number,
    m: number,
    k: number,
    n: number,
    transposeA: number,
  ): void;
}

const BINARIES: SimdBinaries = { plain: CONV_KERNELS_BASE64, shared: CONV_KERNELS_SHARED_MEMORY_BASE64 };
const exportsFor = (backend: BackendWasm): ConvExports => simdExports<ConvExports>(backend, BINARIES);

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
    address(backend, xT),
    address(backend, colsT) + 4 * dst,
    channels,
    batch,
    first,
    count,
    inH,
    inW,
    outH,
    outW,
    strides[0],
    strides[1],
    tap.rowOffset,
    tap.colOffset,
    tap.yLo,
    tap.yHi,
    tap.xLo,
    tap.xHi,
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
    address(backend, src),
    address(backend, dst),
    batch,
    rowsIn,
    colsIn,
    c,
    height,
    width,
    phaseH,
    phaseW,
    strides[0],
    strides[1],
  );
}

/**
 * The algorithms winograd_tiles.wat has transforms for, in its table's order (they are
 * scripts/winograd/winograd_wat.ts's WINOGRAD_VARIANTS; a test checks): stride, and outputs per tile side.
 */
export const WINOGRAD_ALGORITHMS: readonly { stride: number; m: number }[] = [
  { stride: 1, m: 4 },
  { stride: 1, m: 5 },
  { stride: 2, m: 7 },
];

/** An algorithm's input window per tile side: (m - 1) stride + 3, the transform domain's points per axis. */
export function windowSize(variant: number): number {
  const { stride, m } = WINOGRAD_ALGORITHMS[variant];
  return (m - 1) * stride + 3;
}

/**
 * A batch of images of a Winograd convolution: `count` images from image `first` of an NHWC
 * tensor, cut into tilesH x tilesW tiles of m x m outputs each (algorithm `variant`); the planes
 * hold `planeTiles` >= count * tilesH * tilesW tiles, the ones past the images zero.
 */
export interface WinogradTiling {
  variant: number;
  first: number;
  count: number;
  tilesH: number;
  tilesW: number;
  planeTiles: number;
}

/**
 * The transform-domain planes of an algorithm's points (window size squared) in one tensor,
 * and `table`, an int32 tensor of each point's plane address, which the loops read. Points may
 * share a plane (see filterPlaneOf).
 */
export interface WinogradPlanes {
  /** Every plane, [rows, cols] each, at `offsets`. */
  storage: tf.TensorInfo;
  /** [points]. */
  table: tf.TensorInfo;
  /** Each plane's byte offset in storage (not a multiple of the packed size: see planeOffsets). */
  offsets: readonly number[];
}

/** How planes sit in storage: point p on plane planeOf[p]; runs: planes that must stay adjacent, run after run. */
export interface PlaneLayout {
  planeOf: readonly number[];
  /** Lengths, in planes, of consecutive runs: a run is one matrix to a product (see groupProducts). */
  runs: readonly number[];
}

const CACHE_LINE_BYTES = 64;

/**
 * Byte offsets of the planes of `layout`, each planeBytes long. Planes a multiple of 4 KiB
 * apart fall into the same L1 cache sets, and a tile's transform touches every point's plane
 * at once (225 for a stride-2 algorithm): packed, planes of 8 or 64 KiB (16 tiles or 128 x 128
 * channels) evicted each other on every tile, and the transforms ran 2 to 3 times slower. So
 * each run starts a cache line apart from the packed place, and a run with its gap spans an
 * odd number of lines: consecutive runs start in different sets.
 */
function planeOffsets(planeBytes: number, runs: readonly number[]): number[] {
  const offsets: number[] = [];
  let start = 0;
  for (const run of runs) {
    for (let k = 0; k < run; k++) offsets.push(start + k * planeBytes);
    const lines = Math.ceil((run * planeBytes) / CACHE_LINE_BYTES);
    start += CACHE_LINE_BYTES * (lines % 2 === 0 ? lines + 1 : lines);
  }
  return offsets;
}

/**
 * Planes [rows, cols] for algorithm `variant`'s points, laid out as `layout` says (by default
 * each point on its own plane). One tensor for them all: a stride-2 algorithm has 225 points,
 * and a tensor each cost milliseconds of allocation per convolution.
 */
export function makeWinogradPlanes(
  backend: BackendWasm,
  variant: number,
  rows: number,
  cols: number,
  layout: PlaneLayout = PLANE_SHARING[variant].own,
): WinogradPlanes {
  const planeBytes = 4 * rows * cols;
  const offsets = planeOffsets(planeBytes, layout.runs);
  const storage = backend.makeOutput([(offsets[offsets.length - 1] + planeBytes) / 4], 'float32');
  return { storage, offsets, table: planeTable(backend, { storage, offsets }, layout.planeOf) };
}

/**
 * An int32 tensor of `length` byte addresses, which the loops read. `addresses` runs after the
 * table's allocation: an allocation may grow the heap, which moves nothing but detaches views.
 */
function addressTable(backend: BackendWasm, length: number, addresses: () => number[]): tf.TensorInfo {
  const table = backend.makeOutput([length], 'int32');
  (backend.typedArrayFromHeap(table) as Int32Array).set(addresses());
  return table;
}

/** An int32 tensor of the addresses of planes planeOf[0], planeOf[1], ... of `planes`. */
export function planeTable(
  backend: BackendWasm,
  planes: Pick<WinogradPlanes, 'storage' | 'offsets'>,
  planeOf: readonly number[],
): tf.TensorInfo {
  return addressTable(backend, planeOf.length, () => {
    const first = address(backend, planes.storage);
    return planeOf.map((plane) => first + planes.offsets[plane]);
  });
}

export function disposeWinogradPlanes(backend: BackendWasm, planes: WinogradPlanes): void {
  backend.disposeData(planes.storage.dataId);
  backend.disposeData(planes.table.dataId);
}

/**
 * How algorithm `variant`'s points map to planes. `own`: each point its own. `filter`: the plane
 * of a filter's transform each point reads; points whose rows of G agree hold equal values, so
 * they share one. In a stride-2 algorithm the odd inputs' points (m + 1 .. 2m per axis) all have
 * G's row [0, 1, 0] (scripts/winograd/cook_toom.ts, stridedFilter): 81 planes for 225 points, a
 * third of the memory the transform writes and the products read. `groups`: the points of each
 * shared plane, in plane order; `stacked`: the groups' points on planes one after another, so
 * that a group's planes make one matrix (a run); `groupsBySize`: the groups of each size, as
 * their first stacked plane and their filter plane (one product per size sums them all).
 */
interface PlaneSharing {
  own: PlaneLayout;
  filter: PlaneLayout;
  groups: readonly (readonly number[])[];
  stacked: PlaneLayout;
  groupsBySize: readonly { size: number; firstSlots: readonly number[]; sharedPlanes: readonly number[] }[];
}

function planeSharing(variant: number): PlaneSharing {
  const { stride, m } = WINOGRAD_ALGORITHMS[variant];
  const n = windowSize(variant);
  const rowClass = (i: number): number => (stride === 2 && i > m ? m + 1 : i);
  const classes = rowClass(n - 1) + 1;
  const filterPlaneOf = Array.from({ length: n * n }, (_, p) => rowClass(Math.floor(p / n)) * classes + rowClass(p % n));
  const groups: number[][] = [];
  filterPlaneOf.forEach((plane, p) => (groups[plane] ??= []).push(p));
  const slotOf: number[] = [];
  groups.flat().forEach((p, slot) => (slotOf[p] = slot));
  const single = (planes: number): number[] => new Array<number>(planes).fill(1);
  const groupsBySize = [...new Set(groups.map((group) => group.length))].map((size) => {
    const planes = groups.flatMap((group, plane) => (group.length === size ? [plane] : []));
    return { size, firstSlots: planes.map((plane) => slotOf[groups[plane][0]]), sharedPlanes: planes };
  });
  return {
    own: { planeOf: filterPlaneOf.map((_, p) => p), runs: single(n * n) },
    filter: { planeOf: filterPlaneOf, runs: single(groups.length) },
    groups,
    stacked: { planeOf: slotOf, runs: groups.map((group) => group.length) },
    groupsBySize,
  };
}

/** Computed once: the kernels consult it on every call. */
const PLANE_SHARING: readonly PlaneSharing[] = WINOGRAD_ALGORITHMS.map((_, variant) => planeSharing(variant));

export const filterPlaneSharing = (variant: number): PlaneSharing => PLANE_SHARING[variant];

/** For each point of algorithm `variant`, the plane of a filter's transform it reads (see PlaneSharing). */
export const filterPlaneOf = (variant: number): readonly number[] => PLANE_SHARING[variant].filter.planeOf;

/** Byte address of image `first` of an NHWC tensor. */
function imageAddress(backend: BackendWasm, x: tf.TensorInfo, first: number): number {
  const [, h, w, c] = x.shape;
  return address(backend, x) + 4 * first * h * w * c;
}

/** `use` with the looped transforms' scratch block of `variant` (a vector per point). */
function withScratch(backend: BackendWasm, variant: number, use: (scratch: number) => void): void {
  const scratch = backend.makeOutput([4 * windowSize(variant) ** 2], 'float32');
  try {
    use(address(backend, scratch));
  } finally {
    backend.disposeData(scratch.dataId);
  }
}

/**
 * B^T d B of every input window of `tiling`'s images of x [B, H, W, C] into planes
 * [planeTiles, C]: tile (ty, tx)'s window starts at rows m stride ty - padTop and columns
 * m stride tx - padLeft, zero outside the image.
 */
export function winogradInput(
  backend: BackendWasm,
  x: tf.TensorInfo,
  t: WinogradTiling,
  [padTop, padLeft]: [number, number],
  out: WinogradPlanes,
): void {
  const [, inH, inW, c] = x.shape;
  const { stride, m } = WINOGRAD_ALGORITHMS[t.variant];
  withScratch(backend, t.variant, (scratch) =>
    exportsFor(backend).winogradInput(
      imageAddress(backend, x, t.first),
      address(backend, out.table),
      t.count,
      inH,
      inW,
      c,
      t.tilesH,
      t.tilesW,
      t.planeTiles,
      m,
      stride,
      padTop,
      padLeft,
      t.variant,
      scratch,
    ),
  );
}

/** A dy A^T of every m x m tile of `tiling`'s images of dy [B, OH, OW, C] (zero past the image) into planes [planeTiles, C]. */
export function winogradOutputGradient(backend: BackendWasm, dy: tf.TensorInfo, t: WinogradTiling, out: WinogradPlanes): void {
  const [, outH, outW, c] = dy.shape;
  withScratch(backend, t.variant, (scratch) =>
    exportsFor(backend).winogradOutputGradient(
      imageAddress(backend, dy, t.first),
      address(backend, out.table),
      t.count,
      outH,
      outW,
      c,
      t.tilesH,
      t.tilesW,
      t.planeTiles,
      WINOGRAD_ALGORITHMS[t.variant].m,
      t.variant,
      scratch,
    ),
  );
}

/**
 * A^T m A of the planes [tiles, C] into `tiling`'s images of y [B, OH, OW, C] (what of each
 * m x m tile lies inside), plus `bias` [C] if given, then max(0, .) if `relu`.
 */
export function winogradOutput(
  backend: BackendWasm,
  planes: WinogradPlanes,
  y: tf.TensorInfo,
  t: WinogradTiling,
  bias: tf.TensorInfo | null,
  relu: boolean,
): void {
  const [, outH, outW, c] = y.shape;
  withScratch(backend, t.variant, (scratch) =>
    exportsFor(backend).winogradOutput(
      address(backend, planes.table),
      imageAddress(backend, y, t.first),
      bias === null ? 0 : address(backend, bias),
      relu ? 1 : 0,
      t.count,
      outH,
      outW,
      c,
      t.tilesH,
      t.tilesW,
      WINOGRAD_ALGORITHMS[t.variant].m,
      t.variant,
      scratch,
    ),
  );
}

/**
 * B dv B^T of the planes [tiles, C] added into the input windows of `tiling`'s images of
 * dx [B, H, W, C] (which must start at zero): the adjoint of winogradInput.
 */
export function winogradInputGradient(
  backend: BackendWasm,
  planes: WinogradPlanes,
  dx: tf.TensorInfo,
  t: WinogradTiling,
  [padTop, padLeft]: [number, number],
): void {
  const [, inH, inW, c] = dx.shape;
  const { stride, m } = WINOGRAD_ALGORITHMS[t.variant];
  withScratch(backend, t.variant, (scratch) =>
    exportsFor(backend).winogradInputGradient(
      address(backend, planes.table),
      imageAddress(backend, dx, t.first),
      t.count,
      inH,
      inW,
      c,
      t.tilesH,
      t.tilesW,
      m,
      stride,
      padTop,
      padLeft,
      t.variant,
      scratch,
    ),
  );
}

/** G g G^T of w [3, 3, Ci, Co] into planes [Ci, Co]; `flip` rotates the filter by 180 degrees first. */
export function winogradFilter(backend: BackendWasm, w: tf.TensorInfo, out: WinogradPlanes, flip: boolean, variant: number): void {
  const [, , ci, co] = w.shape;
  withScratch(backend, variant, (scratch) =>
    exportsFor(backend).winogradFilter(address(backend, w), address(backend, out.table), ci, co, flip ? 1 : 0, variant, scratch),
  );
}

/** G^T du G of the planes [Ci, Co] into dw [3, 3, Ci, Co]. */
export function winogradFilterGradient(backend: BackendWasm, planes: WinogradPlanes, dw: tf.TensorInfo, variant: number): void {
  const [, , ci, co] = dw.shape;
  withScratch(backend, variant, (scratch) =>
    exportsFor(backend).winogradFilterGradient(address(backend, planes.table), address(backend, dw), ci, co, variant, scratch),
  );
}

/**
 * c = a b, a [m, k] and b [k, n] row-major (m % 4 == 0, n % 8 == 0), as a new [m, n]: the
 * products' loop on one pair of matrices. XNNPACK's GEMM (tfjs's BatchMatMul) packs b first,
 * on every call: most of the time of the filter gradient of a layer with one input channel.
 */
export function matrixProduct(
  backend: BackendWasm,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  [m, k, n]: [number, number, number],
): tf.TensorInfo {
  const c = backend.makeOutput([m, n], 'float32');
  const table = addressTable(backend, 3, () => [a, b, c].map((t) => address(backend, t)));
  const at = address(backend, table);
  exportsFor(backend).winogradProducts(at, at + 4, at + 8, 1, m, k, n, 0);
  backend.disposeData(table.dataId);
  return c;
}

/**
 * c[p] = a[p] b[p] for every plane p (a [m, k], b [k, n], c [m, n]), or with `transposeA`,
 * a[p]^T b[p] (a [k, m]); m % 4 == 0 and n % 8 == 0.
 */
export function winogradProducts(
  backend: BackendWasm,
  a: WinogradPlanes,
  b: WinogradPlanes,
  c: WinogradPlanes,
  [m, k, n]: [number, number, number],
  transposeA: boolean,
): void {
  const at = (planes: WinogradPlanes): number => address(backend, planes.table);
  exportsFor(backend).winogradProducts(at(a), at(b), at(c), a.table.shape[0], m, k, n, transposeA ? 1 : 0);
}
