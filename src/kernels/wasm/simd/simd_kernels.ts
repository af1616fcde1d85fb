/**
 * The SIMD loops of kernels.wat (batch norm, Adam, deformSample), on the wasm backend's own
 * memory (simd_module.ts). Callers pass TensorInfos; their addresses are looked up here.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { disposeInfos } from '../wasm_kernel_util';
import { SIMD_KERNELS_BASE64, SIMD_KERNELS_SHARED_MEMORY_BASE64 } from './kernels_binary';
import { SimdBinaries, address, simdExports } from './simd_module';

/** kernels.wat's exports: byte addresses and element counts. */
interface SimdExports {
  columnSums(x: number, rows: number, c: number, center: number, square: number, sums: number, block: number): void;
  gradientSums(
    dy: number,
    x: number,
    rows: number,
    c: number,
    mean: number,
    sumDy: number,
    sumDyCentered: number,
    blockDy: number,
    blockDyCentered: number,
  ): void;
  channelAffine(u: number, a: number, v: number, b: number, shift: number, rows: number, c: number, out: number): void;
  adamUpdate(
    value: number,
    m: number,
    v: number,
    g: number,
    n: number,
    beta1: number,
    oneMinusBeta1: number,
    beta2: number,
    oneMinusBeta2: number,
    correction1: number,
    correction2: number,
    epsilon: number,
    negLearningRate: number,
    newValue: number,
    newM: number,
    newV: number,
  ): void;
  deformSample(
    x: number,
    offsets: number,
    batch: number,
    h: number,
    w: number,
    c: number,
    out: number,
    dy: number,
    dx: number,
    dOffsets: number,
  ): void;
}

const BINARIES: SimdBinaries = { plain: SIMD_KERNELS_BASE64, shared: SIMD_KERNELS_SHARED_MEMORY_BASE64 };
const exportsFor = (backend: BackendWasm): SimdExports => simdExports<SimdExports>(backend, BINARIES);

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
    at(value),
    at(m),
    at(v),
    at(g),
    tf.util.sizeFromShape(value.shape),
    k.beta1,
    1 - k.beta1,
    k.beta2,
    1 - k.beta2,
    k.correction1,
    k.correction2,
    k.epsilon,
    -k.learningRate,
    at(newValue),
    at(newM),
    at(newV),
  );
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
