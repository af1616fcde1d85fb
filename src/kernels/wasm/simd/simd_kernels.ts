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

function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(atob(text), (ch) => ch.charCodeAt(0));
}

function exportsFor(backend: BackendWasm): SimdExports {
  let kernels = instances.get(backend);
  if (kernels === undefined) {
    // The single-threaded builds export their memory (asm.memory); the threaded one imports a shared one (wasmMemory).
    const module = backend.wasm as unknown as { asm?: { memory?: WebAssembly.Memory }; wasmMemory?: WebAssembly.Memory };
    const memory = module.asm?.memory ?? module.wasmMemory;
    if (memory === undefined) throw new Error("this tfjs wasm backend exposes its memory neither as 'asm.memory' nor as 'wasmMemory'; deformconv's wasm kernels need it");
    const shared = typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
    let compiled: WebAssembly.Module;
    try {
      compiled = new WebAssembly.Module(decodeBase64(shared ? SIMD_KERNELS_SHARED_MEMORY_BASE64 : SIMD_KERNELS_BASE64));
    } catch (err) {
      throw new Error(`deformconv's wasm training kernels need WebAssembly SIMD, which this runtime cannot compile (${(err as Error).message})`);
    }
    kernels = new WebAssembly.Instance(compiled, { env: { memory } }).exports as unknown as SimdExports;
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
