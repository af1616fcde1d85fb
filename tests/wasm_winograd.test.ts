/**
 * Winograd F(4x4, 3x3), the wasm kernels of stride-1 3x3 convolutions (src/kernels/wasm/winograd.ts):
 * its float32 error against the exact (float64) convolution on every such shape of the two
 * models, forward and both gradients, and that chunked batches agree with whole ones.
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

/** For each of `size` elements, the float64 sum of the products `visit` adds for it, and of their magnitudes. */
function exact(size: number, visit: (index: number, add: (a: number, b: number) => void) => void): Exact {
  const value = new Float64Array(size);
  const scale = new Float64Array(size);
  for (let i = 0; i < size; i++) {
    let v = 0;
    let s = 0;
    visit(i, (a, b) => {
      v += a * b;
      s += Math.abs(a * b);
    });
    value[i] = v;
    scale[i] = s;
  }
  return { value, scale };
}

/** y, dx and dW of a 'same' stride-1 3x3 convolution, exactly. */
function exactConvolution(x: Float32Array, w: Float32Array, dy: Float32Array, [b, h, wd, ci]: Shape4, co: number): Exact[] {
  const px = (n: number, i: number, j: number, c: number): number => ((n * h + i) * wd + j) * ci + c;
  const py = (n: number, i: number, j: number, c: number): number => ((n * h + i) * wd + j) * co + c;
  const pw = (kh: number, kw: number, c: number, o: number): number => ((kh * 3 + kw) * ci + c) * co + o;
  const inside = (i: number, j: number): boolean => i >= 0 && i < h && j >= 0 && j < wd;
  const y = exact(b * h * wd * co, (index, add) => {
    const [n, i, j, o] = [Math.floor(index / (h * wd * co)), Math.floor(index / (wd * co)) % h, Math.floor(index / co) % wd, index % co];
    for (let kh = 0; kh < 3; kh++)
      for (let kw = 0; kw < 3; kw++)
        if (inside(i + kh - 1, j + kw - 1)) for (let c = 0; c < ci; c++) add(x[px(n, i + kh - 1, j + kw - 1, c)], w[pw(kh, kw, c, o)]);
  });
  const dx = exact(b * h * wd * ci, (index, add) => {
    const [n, i, j, c] = [Math.floor(index / (h * wd * ci)), Math.floor(index / (wd * ci)) % h, Math.floor(index / ci) % wd, index % ci];
    for (let kh = 0; kh < 3; kh++)
      for (let kw = 0; kw < 3; kw++)
        if (inside(i - kh + 1, j - kw + 1)) for (let o = 0; o < co; o++) add(dy[py(n, i - kh + 1, j - kw + 1, o)], w[pw(kh, kw, c, o)]);
  });
  const dw = exact(9 * ci * co, (index, add) => {
    const [tap, c, o] = [Math.floor(index / (ci * co)), Math.floor(index / co) % ci, index % co];
    const [kh, kw] = [Math.floor(tap / 3), tap % 3];
    for (let n = 0; n < b; n++)
      for (let i = 0; i < h; i++)
        for (let j = 0; j < wd; j++) if (inside(i + kh - 1, j + kw - 1)) add(x[px(n, i + kh - 1, j + kw - 1, c)], dy[py(n, i, j, o)]);
  });
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

const attrs = (shape: number[]) => ({ strides: [1, 1], pad: 'same', dataFormat: 'NHWC', dilations: [1, 1], inputShape: shape, filterShape: shape });

/** The stride-1 3x3 convolutions of the regular and deformable models (28x28 MNIST input). */
const MODEL_SHAPES: { layers: string; x: Shape4; outChannels: number }[] = [
  { layers: 'conv12_offset', x: [4, 28, 28, 32], outChannels: 64 },
  { layers: 'conv21, conv21_offset', x: [4, 14, 14, 64], outChannels: 128 },
  { layers: 'conv22_offset', x: [4, 14, 14, 128], outChannels: 256 },
];

describe('Winograd F(4x4, 3x3) on wasm', () => {
  beforeAll(async () => {
    await tf.setBackend('wasm');
  });

  for (const { layers, x: shape, outChannels } of MODEL_SHAPES) {
    it(`${layers}, x [${shape.join(', ')}] -> ${outChannels}: forward, input and filter gradients within ${WINOGRAD_ERROR_BOUND} of the exact sums`, () => {
      const filterShape: Shape4 = [3, 3, shape[3], outChannels];
      const info = tf.backend_util.computeConv2DInfo(shape, filterShape, 1, 1, 'same');
      expect(winogradGeometry(info), 'the kernels route this shape to Winograd').not.toBeNull();
      const x = randoms(1, tf.util.sizeFromShape(shape));
      // Post-ReLU activations are non-negative: the worst case for cancellation-free scales.
      x.forEach((v, i) => (x[i] = Math.max(v, 0)));
      const w = randoms(2, tf.util.sizeFromShape(filterShape), Math.sqrt(6 / (9 * (shape[3] + outChannels))));
      const dy = randoms(3, shape[0] * shape[1] * shape[2] * outChannels, 1e-3);
      const outShape: Shape4 = [shape[0], shape[1], shape[2], outChannels];
      const [yt, wt, dyt] = [tf.tensor4d(x, shape), tf.tensor4d(w, filterShape), tf.tensor4d(dy, outShape)];
      const computed = [
        tf.engine().runKernel('Conv2D', { x: yt, filter: wt }, attrs(shape) as unknown as tf.NamedAttrMap),
        tf.engine().runKernel('Conv2DBackpropInput', { dy: dyt, filter: wt }, attrs(shape) as unknown as tf.NamedAttrMap),
        tf.engine().runKernel('Conv2DBackpropFilter', { x: yt, dy: dyt }, attrs(filterShape) as unknown as tf.NamedAttrMap),
      ] as tf.Tensor[];
      const references = exactConvolution(x, w, dy, shape, outChannels);
      const errors = computed.map((t, k) => relativeError(t.dataSync(), references[k]));
      tf.dispose([yt, wt, dyt, ...computed]);
      if (process.env.WINOGRAD_ERRORS) process.stdout.write(`${layers}: ${errors.map((e) => e.toExponential(2)).join(' ')}\n`);
      errors.forEach((e, k) => expect(e, `${['y', 'dx', 'dW'][k]}: worst error / sum of |terms|`).toBeLessThanOrEqual(WINOGRAD_ERROR_BOUND));
    });
  }

  it('a batch cut in chunks of images gives what the whole batch gives', () => {
    const backend = tf.backend() as BackendWasm;
    const shape: Shape4 = [5, 9, 10, 16];
    const filterShape: Shape4 = [3, 3, 16, 24];
    const g = winogradGeometry(tf.backend_util.computeConv2DInfo(shape, filterShape, 1, 1, 'same'));
    if (g === null) throw new Error('expected a Winograd geometry');
    const x = tf.tensor4d(randoms(4, tf.util.sizeFromShape(shape)), shape);
    const w = tf.tensor4d(randoms(5, tf.util.sizeFromShape(filterShape)), filterShape);
    const dy = tf.tensor4d(randoms(6, 5 * 9 * 10 * 24), [5, 9, 10, 24]);
    // Planes for two images at a time (5x5 tiles: 2 x 2 of them on 9x10, 49 points): chunks of 2, 2 and 1.
    const twoImages = 2 * 49 * 4 * (16 + 24);
    const run = (limit?: number): Float32Array[] =>
      [
        winogradConv2D(backend, x, w, g, { bias: null, relu: false }, limit),
        winogradInputGradient(backend, dy, w, g, limit),
        winogradFilterGrad(backend, x, dy, g, limit),
      ].map((info) => {
        const t = tf.engine().makeTensorFromTensorInfo(info);
        const values = t.dataSync() as Float32Array;
        t.dispose();
        return values;
      });
    const [whole, chunked] = [run(), run(twoImages)];
    tf.dispose([x, w, dy]);
    expect(chunked[0]).toEqual(whole[0]);
    expect(chunked[1]).toEqual(whole[1]);
    // The filter gradient adds the chunks' sums: another order of the same terms.
    const largest = whole[2].reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    chunked[2].forEach((v, i) => expect(Math.abs(v - whole[2][i])).toBeLessThanOrEqual(1e-5 * largest));
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
