/**
 * Winograd's algorithms, the wasm kernels of 3x3 convolutions with stride 1 or 2
 * (src/kernels/wasm/winograd.ts): their float32 error against the exact (float64) convolution
 * on every such shape of the two models, forward and both gradients; chunked batches agree
 * with whole ones; inference filters' transforms are kept; planes sit in different cache sets.
 *
 * The error bound: |computed - exact| <= WINOGRAD_ERROR_BOUND * (the same sum of |terms|),
 * element by element; the scale every float32 summation is measured against (a direct
 * convolution's worst case here is about 6e-8 of it, Winograd's about 2e-6).
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import '../src/kernels/wasm/replace_tfjs_kernels';
import { winogradConv2D, winogradFilterGrad, winogradGeometry, winogradInputGradient } from '../src/kernels/wasm/winograd';
import { keptFilterCount } from '../src/kernels/wasm/winograd_filter_cache';
import { disposeWinogradPlanes, filterPlaneSharing, makeWinogradPlanes } from '../src/kernels/wasm/simd/conv_kernels';
import { mulberry32 } from './helpers/random';

const WINOGRAD_ERROR_BOUND = 1e-5;
type Shape4 = [number, number, number, number];

function randoms(seed: number, count: number, scale = 1): Float32Array {
  const next = mulberry32(seed);
  return Float32Array.from({ length: count }, () => (next() * 2 - 1) * scale);
}

/** A float64 sum and the sum of its terms' magnitudes. */
interface Exact {
  value: Float64Array;
  scale: Float64Array;
}

/** A float64 sum and the sum of its terms' magnitudes, element by element. */
interface Exact {
  value: Float64Array;
  scale: Float64Array;
}

const exactOf = (size: number): Exact => ({ value: new Float64Array(size), scale: new Float64Array(size) });

/**
 * y, dx and dW of a 3x3 convolution with stride s and TensorFlow's 'same' padding, exactly:
 * every product x[n, p, q, c] w[kh, kw, c, o] (p = i s + kh - padTop, q likewise) of output
 * (n, i, j, o), and its partners for the gradients.
 */
function exactConvolution(x: Float32Array, w: Float32Array, dy: Float32Array, [b, h, wd, ci]: Shape4, co: number, s: number): Exact[] {
  const [oh, ow] = [Math.ceil(h / s), Math.ceil(wd / s)];
  const padTop = Math.floor(Math.max((oh - 1) * s + 3 - h, 0) / 2);
  const padLeft = Math.floor(Math.max((ow - 1) * s + 3 - wd, 0) / 2);
  const [y, dx, dw] = [exactOf(b * oh * ow * co), exactOf(x.length), exactOf(w.length)];
  const add = (e: Exact, at: number, term: number): void => {
    e.value[at] += term;
    e.scale[at] += Math.abs(term);
  };
  for (let n = 0; n < b; n++)
    for (let i = 0; i < oh; i++)
      for (let j = 0; j < ow; j++)
        for (let kh = 0; kh < 3; kh++)
          for (let kw = 0; kw < 3; kw++) {
            const [p, q] = [i * s + kh - padTop, j * s + kw - padLeft];
            if (p < 0 || p >= h || q < 0 || q >= wd) continue;
            for (let c = 0; c < ci; c++) {
              const xi = ((n * h + p) * wd + q) * ci + c;
              for (let o = 0; o < co; o++) {
                const [yi, wi] = [((n * oh + i) * ow + j) * co + o, ((kh * 3 + kw) * ci + c) * co + o];
                add(y, yi, x[xi] * w[wi]);
                add(dx, xi, dy[yi] * w[wi]);
                add(dw, wi, x[xi] * dy[yi]);
              }
            }
          }
  return [y, dx, dw];
}

/** The worst |computed - exact| / scale. */
function relativeError(computed: ArrayLike<number>, { value, scale }: Exact): number {
  let worst = 0;
  for (let i = 0; i < value.length; i++) {
    const e = Math.abs(computed[i] - value[i]) / Math.max(scale[i], 1e-30);
    if (!(e <= worst)) worst = e;
  }
  return worst;
}

const attrs = (shape: number[], s: number) => ({
  strides: [s, s],
  pad: 'same',
  dataFormat: 'NHWC',
  dilations: [1, 1],
  inputShape: shape,
  filterShape: shape,
});

/** The 3x3 convolutions of the regular and deformable models (28x28 MNIST input) that Winograd computes. */
const MODEL_SHAPES: { layers: string; x: Shape4; outChannels: number; stride: number }[] = [
  { layers: 'conv12_offset', x: [4, 28, 28, 32], outChannels: 64, stride: 1 },
  { layers: 'conv21, conv21_offset', x: [4, 14, 14, 64], outChannels: 128, stride: 1 },
  { layers: 'conv22_offset', x: [4, 14, 14, 128], outChannels: 256, stride: 1 },
  { layers: 'conv12 (stride 2)', x: [4, 28, 28, 32], outChannels: 64, stride: 2 },
  { layers: 'conv22 (stride 2)', x: [4, 14, 14, 128], outChannels: 128, stride: 2 },
];

describe('Winograd convolutions on wasm', () => {
  beforeAll(async () => {
    await tf.setBackend('wasm');
  });

  for (const { layers, x: shape, outChannels, stride } of MODEL_SHAPES) {
    it(`${layers}, x [${shape.join(', ')}] -> ${outChannels}: forward, input and filter gradients within ${WINOGRAD_ERROR_BOUND} of the exact sums`, () => {
      const filterShape: Shape4 = [3, 3, shape[3], outChannels];
      const info = tf.backend_util.computeConv2DInfo(shape, filterShape, stride, 1, 'same');
      expect(winogradGeometry(info), 'the kernels route this shape to Winograd').not.toBeNull();
      const x = randoms(1, tf.util.sizeFromShape(shape));
      // Post-ReLU activations are non-negative: the worst case for cancellation-free scales.
      x.forEach((v, i) => (x[i] = Math.max(v, 0)));
      const w = randoms(2, tf.util.sizeFromShape(filterShape), Math.sqrt(6 / (9 * (shape[3] + outChannels))));
      const outShape: Shape4 = [shape[0], info.outHeight, info.outWidth, outChannels];
      const dy = randoms(3, tf.util.sizeFromShape(outShape), 1e-3);
      const [yt, wt, dyt] = [tf.tensor4d(x, shape), tf.tensor4d(w, filterShape), tf.tensor4d(dy, outShape)];
      const computed = [
        tf.engine().runKernel('Conv2D', { x: yt, filter: wt }, attrs(shape, stride) as unknown as tf.NamedAttrMap),
        tf.engine().runKernel('Conv2DBackpropInput', { dy: dyt, filter: wt }, attrs(shape, stride) as unknown as tf.NamedAttrMap),
        tf.engine().runKernel('Conv2DBackpropFilter', { x: yt, dy: dyt }, attrs(filterShape, stride) as unknown as tf.NamedAttrMap),
      ] as tf.Tensor[];
      const references = exactConvolution(x, w, dy, shape, outChannels, stride);
      const errors = computed.map((t, k) => relativeError(t.dataSync(), references[k]));
      tf.dispose([yt, wt, dyt, ...computed]);
      if (process.env.WINOGRAD_ERRORS) process.stdout.write(`${layers}: ${errors.map((e) => e.toExponential(2)).join(' ')}\n`);
      errors.forEach((e, k) =>
        expect(e, `${['y', 'dx', 'dW'][k]}: worst error / sum of |terms|`).toBeLessThanOrEqual(WINOGRAD_ERROR_BOUND),
      );
    });
  }

  // Planes for two images at a time: chunks of 2, 2 and 1. Stride 1: 5x5 tiles, 2 x 2 of them on
  // 9x10, 49 points; stride 2: one 7x7 tile on 14x14, 225 points.
  for (const { stride, x: shape, perImage } of [
    { stride: 1, x: [5, 9, 10, 16] as Shape4, perImage: 49 * 4 },
    { stride: 2, x: [5, 14, 14, 16] as Shape4, perImage: 225 },
  ]) {
    it(`stride ${stride}: a batch cut in chunks of images gives what the whole batch gives`, () => {
      const backend = tf.backend() as BackendWasm;
      const filterShape: Shape4 = [3, 3, 16, 24];
      const info = tf.backend_util.computeConv2DInfo(shape, filterShape, stride, 1, 'same');
      const g = winogradGeometry(info);
      if (g === null) throw new Error('expected a Winograd geometry');
      const outShape = [shape[0], info.outHeight, info.outWidth, 24];
      const x = tf.tensor4d(randoms(4, tf.util.sizeFromShape(shape)), shape);
      const w = tf.tensor4d(randoms(5, tf.util.sizeFromShape(filterShape)), filterShape);
      const dy = tf.tensor(randoms(6, tf.util.sizeFromShape(outShape)), outShape);
      const run = (limit?: number): Float32Array[] =>
        [
          winogradConv2D(backend, x, w, g, { bias: null, relu: false }, limit),
          winogradInputGradient(backend, dy, w, g, limit) as tf.TensorInfo,
          winogradFilterGrad(backend, x, dy, g, limit),
        ].map((result) => {
          const t = tf.engine().makeTensorFromTensorInfo(result);
          const values = t.dataSync() as Float32Array;
          t.dispose();
          return values;
        });
      const [whole, chunked] = [run(), run(2 * perImage * (16 + 24))];
      tf.dispose([x, w, dy]);
      expect(chunked[0]).toEqual(whole[0]);
      expect(chunked[1]).toEqual(whole[1]);
      // The filter gradient adds the chunks' sums: another order of the same terms.
      const largest = whole[2].reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      chunked[2].forEach((v, i) => expect(Math.abs(v - whole[2][i])).toBeLessThanOrEqual(1e-5 * largest));
    });
  }

  it('lays planes of a power-of-two size out in different cache sets, a stacked group of planes adjacent', () => {
    const backend = tf.backend() as BackendWasm;
    const STRIDE_2 = 2;
    // conv22's: 16 tiles x 128 channels, 8 KiB a plane; and its filter's 128 x 128, 64 KiB.
    for (const [rows, cols] of [
      [16, 128],
      [128, 128],
    ]) {
      const planeBytes = 4 * rows * cols;
      const planes = makeWinogradPlanes(backend, STRIDE_2, rows, cols);
      const addresses = Array.from(backend.typedArrayFromHeap(planes.table) as Int32Array);
      const sets = new Set(addresses.map((a) => Math.floor((a % 4096) / 64)));
      // 225 planes: all 64 sets of 64-byte lines in 4 KiB (packed, they would all share one).
      expect(sets.size).toBe(64);
      addresses.slice(1).forEach((a, p) => expect(a - addresses[p]).toBeGreaterThanOrEqual(planeBytes));
      disposeWinogradPlanes(backend, planes);
    }
    const { groups, stacked } = filterPlaneSharing(STRIDE_2);
    const planes = makeWinogradPlanes(backend, STRIDE_2, 16, 128, stacked);
    const addresses = backend.typedArrayFromHeap(planes.table) as Int32Array;
    for (const group of groups) {
      group.slice(1).forEach((p, k) => expect(addresses[p] - addresses[group[k]]).toBe(4 * 16 * 128));
    }
    disposeWinogradPlanes(backend, planes);
  });

  it("keeps an inference filter's transform from its second use, never a training step's, and frees it with the filter", () => {
    const x = tf.tensor4d(randoms(7, 2 * 9 * 9 * 16), [2, 9, 9, 16]);
    const conv = (w: tf.Tensor4D): Float32Array => tf.tidy(() => tf.conv2d(x, w, 1, 'same').dataSync() as Float32Array);
    const before = keptFilterCount();
    // Training: new weights every step.
    for (let step = 0; step < 3; step++) {
      const w = tf.tensor4d(randoms(8 + step, 9 * 16 * 16), [3, 3, 16, 16]);
      conv(w);
      w.dispose();
    }
    expect(keptFilterCount()).toBe(before);
    // Inference: the same weights again and again, the same results. (Every filter of the
    // tests before has been freed, so keeping this one lets them go.)
    const w = tf.tensor4d(randoms(20, 9 * 16 * 16), [3, 3, 16, 16]);
    const first = conv(w);
    expect(conv(w)).toEqual(first);
    expect(keptFilterCount()).toBe(1);
    expect(conv(w)).toEqual(first);
    // A reshaped view shares the filter's data, not its transform.
    const view = tf.reshape(w, [3, 3, 16, 16]) as tf.Tensor4D;
    expect(conv(view)).toEqual(first);
    w.dispose();
    view.dispose();
    // The next filter kept evicts the freed one.
    const other = tf.tensor4d(randoms(21, 9 * 16 * 16), [3, 3, 16, 16]);
    conv(other);
    conv(other);
    expect(keptFilterCount()).toBe(1);
    tf.dispose([other, x]);
  });
});
