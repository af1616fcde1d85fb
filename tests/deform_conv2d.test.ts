import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidInputError } from '../src/errors';
import { DeformConv2D, deformConv2DFromConv2D } from '../src/layers/deform_conv2d_layer';
import { DeformConv2dOptions, deformConv2d, deformConv2dPortable } from '../src/ops/deform_conv2d';
import { mulberry32 as rng } from './helpers/random';
import { worstError } from './helpers/close';
import { saveAndLoad } from './helpers/models';

type Op = typeof deformConv2d;
type Shape4 = [number, number, number, number];

function uniform(length: number, random: () => number, low = -1, high = 1): Float32Array {
  return Float32Array.from({ length }, () => low + (high - low) * random());
}

/**
 * Offsets: mostly within a few pixels, some far outside the image. No offset lies within
 * 0.02 of an integer, so no sample coordinate sits on the interpolant's kinks, which a
 * finite difference would straddle.
 */
function randomOffsets(length: number, random: () => number): Float32Array {
  return Float32Array.from({ length }, () => {
    let v = random() < 0.1 ? (random() - 0.5) * 30 : (random() - 0.5) * 5;
    const frac = v - Math.floor(v);
    if (frac < 0.02 || frac > 0.98) v += 0.05;
    return v;
  });
}

/** A convolution's geometry, with its padding and output size worked out here, independently of the op. */
interface Case {
  x: Shape4;
  kernel: [number, number];
  outChannels: number;
  strides: [number, number];
  dilations: [number, number];
  padding: DeformConv2dOptions['padding'];
  groups: number;
  masked: boolean;
  biased: boolean;
}

interface Layout {
  outHeight: number;
  outWidth: number;
  padTop: number;
  padLeft: number;
}

function layout(c: Case): Layout {
  const axis = (size: number, k: number, s: number, d: number, explicit: [number, number] | null) => {
    const span = (k - 1) * d + 1;
    if (c.padding === 'same') {
      const out = Math.ceil(size / s);
      return { out, before: Math.floor(Math.max(0, (out - 1) * s + span - size) / 2) };
    }
    const [before, after] = explicit ?? [0, 0];
    return { out: Math.floor((size + before + after - span) / s) + 1, before };
  };
  const pads = (i: 1 | 2): [number, number] | null =>
    typeof c.padding === 'number' ? [c.padding, c.padding] : Array.isArray(c.padding) ? (c.padding[i] as [number, number]) : null;
  const rows = axis(c.x[1], c.kernel[0], c.strides[0], c.dilations[0], pads(1));
  const cols = axis(c.x[2], c.kernel[1], c.strides[1], c.dilations[1], pads(2));
  return { outHeight: rows.out, outWidth: cols.out, padTop: rows.before, padLeft: cols.before };
}

/** Every input of one deformConv2d call, as plain arrays. */
interface Inputs {
  x: Float32Array;
  offsets: Float32Array;
  weights: Float32Array;
  mask: Float32Array | null;
  bias: Float32Array | null;
  /** The upstream gradient: the loss is sum(upstream * out). */
  upstream: Float32Array;
}

function shapes(c: Case) {
  const { outHeight, outWidth } = layout(c);
  const [batch, , , inChannels] = c.x;
  const taps = c.kernel[0] * c.kernel[1];
  return {
    x: c.x,
    offsets: [batch, outHeight, outWidth, 2 * c.groups * taps] as Shape4,
    mask: [batch, outHeight, outWidth, c.groups * taps] as Shape4,
    weights: [c.kernel[0], c.kernel[1], inChannels, c.outChannels] as Shape4,
    out: [batch, outHeight, outWidth, c.outChannels] as Shape4,
  };
}

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

function randomInputs(c: Case, seed: number): Inputs {
  const random = rng(seed);
  const s = shapes(c);
  return {
    x: uniform(size(s.x), random),
    offsets: randomOffsets(size(s.offsets), random),
    weights: uniform(size(s.weights), random),
    mask: c.masked ? uniform(size(s.mask), random, 0, 1) : null,
    bias: c.biased ? uniform(c.outChannels, random) : null,
    upstream: uniform(size(s.out), random),
  };
}

/** x[b, :, :, ch] sampled at (y, x), zero outside: torchvision's bilinear_interpolate, in float64. */
function bilinearZero(x: ArrayLike<number>, shape: Shape4, b: number, ch: number, y: number, xx: number): number {
  const [, height, width, channels] = shape;
  if (y <= -1 || y >= height || xx <= -1 || xx >= width) return 0;
  const y0 = Math.floor(y);
  const x0 = Math.floor(xx);
  const at = (r: number, col: number) =>
    r >= 0 && r < height && col >= 0 && col < width ? x[((b * height + r) * width + col) * channels + ch] : 0;
  const ly = y - y0;
  const lx = xx - x0;
  return (1 - ly) * (1 - lx) * at(y0, x0) + (1 - ly) * lx * at(y0, x0 + 1) + ly * (1 - lx) * at(y0 + 1, x0) + ly * lx * at(y0 + 1, x0 + 1);
}

/** The definition in plain loops and float64: the independent reference. */
function referenceForward(c: Case, v: Omit<Inputs, 'upstream'>): Float64Array {
  const { outHeight, outWidth, padTop, padLeft } = layout(c);
  const [batch, , , inChannels] = c.x;
  const [kh, kw] = c.kernel;
  const taps = kh * kw;
  const groupChannels = inChannels / c.groups;
  const out = new Float64Array(batch * outHeight * outWidth * c.outChannels);
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < outHeight; i++) {
      for (let j = 0; j < outWidth; j++) {
        const position = (b * outHeight + i) * outWidth + j;
        for (let u = 0; u < kh; u++) {
          for (let w = 0; w < kw; w++) {
            for (let ch = 0; ch < inChannels; ch++) {
              const groupTap = Math.floor(ch / groupChannels) * taps + u * kw + w;
              const dy = v.offsets[position * 2 * c.groups * taps + 2 * groupTap];
              const dx = v.offsets[position * 2 * c.groups * taps + 2 * groupTap + 1];
              const y = i * c.strides[0] - padTop + u * c.dilations[0] + dy;
              const xx = j * c.strides[1] - padLeft + w * c.dilations[1] + dx;
              const m = v.mask === null ? 1 : v.mask[position * c.groups * taps + groupTap];
              const sample = m * bilinearZero(v.x, c.x, b, ch, y, xx);
              for (let co = 0; co < c.outChannels; co++) {
                out[position * c.outChannels + co] += sample * v.weights[((u * kw + w) * inChannels + ch) * c.outChannels + co];
              }
            }
          }
        }
        for (let co = 0; co < c.outChannels; co++) out[position * c.outChannels + co] += v.bias?.[co] ?? 0;
      }
    }
  }
  return out;
}

type GradName = 'x' | 'offsets' | 'weights' | 'mask' | 'bias';
const GRAD_NAMES: GradName[] = ['x', 'offsets', 'weights', 'mask', 'bias'];

/** Central finite differences of sum(upstream * reference) with respect to every input element. */
function numericGradients(c: Case, v: Inputs): Partial<Record<GradName, Float64Array>> {
  const loss = (values: Inputs) => {
    const out = referenceForward(c, values);
    let total = 0;
    for (let k = 0; k < out.length; k++) total += v.upstream[k] * out[k];
    return total;
  };
  const step = 1e-3;
  const grads: Partial<Record<GradName, Float64Array>> = {};
  for (const name of GRAD_NAMES) {
    const target = v[name];
    if (target === null) continue;
    const values = Float64Array.from(target);
    const probe = { ...v, [name]: values } as unknown as Inputs;
    const grad = new Float64Array(values.length);
    for (let k = 0; k < values.length; k++) {
      const original = values[k];
      values[k] = original + step;
      const up = loss(probe);
      values[k] = original - step;
      const down = loss(probe);
      values[k] = original;
      grad[k] = (up - down) / (2 * step);
    }
    grads[name] = grad;
  }
  return grads;
}

interface Run {
  out: Float32Array;
  grads: Partial<Record<GradName, Float32Array>>;
}

/** Value and every gradient of sum(upstream * op(...)) on the active backend. */
function run(op: Op, c: Case, v: Inputs, extra: Partial<DeformConv2dOptions> = {}): Run {
  return tf.tidy(() => {
    const s = shapes(c);
    const tensors: Partial<Record<GradName, tf.Tensor>> = {
      x: tf.tensor4d(v.x, s.x),
      offsets: tf.tensor4d(v.offsets, s.offsets),
      weights: tf.tensor4d(v.weights, s.weights),
    };
    if (v.mask !== null) tensors.mask = tf.tensor4d(v.mask, s.mask);
    if (v.bias !== null) tensors.bias = tf.tensor1d(v.bias);
    const names = GRAD_NAMES.filter((n) => tensors[n] !== undefined);
    const upstream = tf.tensor4d(v.upstream, s.out);
    const apply = (...args: tf.Tensor[]) => {
      const t = Object.fromEntries(names.map((n, k) => [n, args[k]])) as Record<GradName, tf.Tensor>;
      return op(t.x as tf.Tensor4D, t.offsets as tf.Tensor4D, t.weights as tf.Tensor4D, {
        strides: c.strides,
        padding: c.padding,
        dilations: c.dilations,
        offsetGroups: c.groups,
        mask: (t.mask as tf.Tensor4D | undefined) ?? null,
        bias: (t.bias as tf.Tensor1D | undefined) ?? null,
        ...extra,
      });
    };
    const inputs = names.map((n) => tensors[n] as tf.Tensor);
    const out = apply(...inputs).dataSync() as Float32Array;
    const grads = tf.grads((...args: tf.Tensor[]) => tf.sum(tf.mul(apply(...args), upstream)))(inputs);
    return { out, grads: Object.fromEntries(names.map((n, k) => [n, grads[k].dataSync() as Float32Array])) };
  });
}

/** max |actual - expected| <= tolerance * max(1, max |expected|). */
function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number, what: string): void {
  expect(actual.length, what).toBe(expected.length);
  let scale = 1;
  for (let k = 0; k < expected.length; k++) scale = Math.max(scale, Math.abs(expected[k]));
  const { error, at } = worstError(actual, expected);
  expect(error, `${what}: worst error at element ${at} (scale ${scale})`).toBeLessThanOrEqual(tolerance * scale);
}

function expectRunsClose(actual: Run, expected: Run, tolerance: number, what: string): void {
  expectClose(actual.out, expected.out, tolerance, `${what}: values`);
  for (const name of GRAD_NAMES) {
    if (expected.grads[name] !== undefined) {
      expectClose(actual.grads[name] as Float32Array, expected.grads[name] as Float32Array, tolerance, `${what}: gradient w.r.t. ${name}`);
    }
  }
}

const PATHS: Array<[string, string, Op]> = [
  ['cpu', 'fused', deformConv2d],
  ['cpu', 'portable', deformConv2dPortable],
  ['wasm', 'fused', deformConv2d],
  ['wasm', 'portable', deformConv2dPortable],
];

beforeAll(async () => {
  await tf.setBackend('wasm');
  await tf.setBackend('cpu');
});

describe('deformConv2d: kernel dispatch', () => {
  it('has fused im2col and col2im kernels for cpu and wasm', () => {
    for (const backend of ['cpu', 'wasm']) {
      expect(tf.getKernel('DeformIm2Col', backend), backend).toBeDefined();
      expect(tf.getKernel('DeformCol2Im', backend), backend).toBeDefined();
    }
  });
});

describe('deformConv2d: against the loop reference, values and finite-difference gradients', () => {
  const cases: Array<[string, Case]> = [
    [
      'DCNv2, 3x3 same, 2 offset groups, bias',
      {
        x: [2, 5, 6, 4],
        kernel: [3, 3],
        outChannels: 3,
        strides: [1, 1],
        dilations: [1, 1],
        padding: 'same',
        groups: 2,
        masked: true,
        biased: true,
      },
    ],
    [
      'DCN, 2x3, strides [2, 1], dilations [1, 2], explicit padding',
      {
        x: [1, 7, 6, 3],
        kernel: [2, 3],
        outChannels: 2,
        strides: [2, 1],
        dilations: [1, 2],
        padding: [
          [0, 0],
          [1, 0],
          [0, 2],
          [0, 0],
        ],
        groups: 1,
        masked: false,
        biased: false,
      },
    ],
  ];

  describe.each(cases)('%s', (_name, c) => {
    const inputs = randomInputs(c, 17);
    const expected = referenceForward(c, inputs);
    const numeric = numericGradients(c, inputs);

    it.each(PATHS)('on %s, %s path', async (backend, _path, op) => {
      await tf.setBackend(backend);
      const got = run(op, c, inputs);
      expectClose(got.out, expected, 1e-5, 'values');
      for (const name of GRAD_NAMES) {
        if (numeric[name] !== undefined) {
          expectClose(got.grads[name] as Float32Array, numeric[name] as Float64Array, 1e-4, `gradient w.r.t. ${name}`);
        }
      }
    });
  });
});

describe('deformConv2d: zero offsets and no mask is tf.conv2d', () => {
  const variants: Array<[string, Partial<Case>]> = [
    ['valid', { padding: 'valid' }],
    ['same', { padding: 'same' }],
    ['stride 2, same', { strides: [2, 2], padding: 'same' }],
    ['strides [1, 2], valid', { strides: [1, 2], padding: 'valid' }],
    ['dilation 2, same', { dilations: [2, 2], padding: 'same' }],
    ['dilations [2, 1], valid', { dilations: [2, 1], padding: 'valid' }],
    ['padding 1', { padding: 1 }],
    [
      'explicit padding',
      {
        padding: [
          [0, 0],
          [2, 0],
          [1, 3],
          [0, 0],
        ],
      },
    ],
    ['2x4 kernel, stride 2, same', { kernel: [2, 4], strides: [2, 2], padding: 'same' }],
    ['1x1 kernel, stride 2', { kernel: [1, 1], strides: [2, 2], padding: 'valid' }],
  ];
  const base: Case = {
    x: [2, 7, 6, 3],
    kernel: [3, 3],
    outChannels: 4,
    strides: [1, 1],
    dilations: [1, 1],
    padding: 'valid',
    groups: 1,
    masked: false,
    biased: false,
  };

  it.each(['cpu', 'wasm'])('on %s: values for every stride/padding/dilation, and tf.conv2d gradients without dilation', async (backend) => {
    await tf.setBackend(backend);
    for (const [name, variant] of variants) {
      const c = { ...base, ...variant };
      const s = shapes(c);
      const inputs = randomInputs(c, 3);
      const conv = (a: tf.Tensor, w: tf.Tensor) =>
        tf.conv2d(a as tf.Tensor4D, w as tf.Tensor4D, c.strides, c.padding as 'same', 'NHWC', c.dilations);
      const deform = (a: tf.Tensor, w: tf.Tensor) =>
        deformConv2d(a as tf.Tensor4D, tf.zeros(s.offsets) as tf.Tensor4D, w as tf.Tensor4D, {
          strides: c.strides,
          padding: c.padding,
          dilations: c.dilations,
        });
      tf.tidy(() => {
        const x = tf.tensor4d(inputs.x, s.x);
        const w = tf.tensor4d(inputs.weights, s.weights);
        const expected = conv(x, w);
        expect(deform(x, w).shape, name).toEqual(expected.shape);
        // Sampled values are exact; the sums may differ in float32 rounding only.
        expectClose(deform(x, w).dataSync(), expected.dataSync(), 1e-6, `${name}: values`);
        if (c.dilations[0] === 1 && c.dilations[1] === 1 && tf.getKernel('Conv2DBackpropFilter', backend) !== undefined) {
          const upstream = tf.tensor4d(inputs.upstream.subarray(0, expected.size), expected.shape as Shape4);
          const want = tf.grads(conv)([x, w], upstream);
          const got = tf.grads(deform)([x, w], upstream);
          expectClose(got[0].dataSync(), want[0].dataSync(), 1e-5, `${name}: gradient w.r.t. x`);
          expectClose(got[1].dataSync(), want[1].dataSync(), 1e-5, `${name}: gradient w.r.t. weights`);
        }
      });
    }
  });
});

describe('deformConv2d: fused cpu, fused wasm and portable agree to 1e-5', () => {
  const c: Case = {
    x: [3, 8, 7, 6],
    kernel: [3, 3],
    outChannels: 5,
    strides: [2, 2],
    dilations: [1, 1],
    padding: 'same',
    groups: 3,
    masked: true,
    biased: true,
  };
  const inputs = randomInputs(c, 99);
  let portable: Run;

  beforeAll(async () => {
    await tf.setBackend('cpu');
    portable = run(deformConv2dPortable, c, inputs);
  });

  it.each(['cpu', 'wasm'])('fused on %s vs portable on cpu: values and all five gradients', async (backend) => {
    await tf.setBackend(backend);
    expectRunsClose(run(deformConv2d, c, inputs), portable, 1e-5, backend);
  });

  it.each(['cpu', 'wasm'])('on %s, chunking the batch (one image per chunk) changes nothing', async (backend) => {
    await tf.setBackend(backend);
    const whole = run(deformConv2d, c, inputs);
    const oneImage = 4 * size(shapes(c).offsets.slice(1, 3)) * 9 * c.x[3];
    expectRunsClose(run(deformConv2d, c, inputs, { maxColumnBytes: oneImage }), whole, 1e-6, `${backend} chunked`);
    expectRunsClose(run(deformConv2d, c, inputs, { maxColumnBytes: 2 * oneImage }), whole, 1e-6, `${backend} chunks of 2`);
  });
});

interface TorchvisionCase {
  name: string;
  xShape: Shape4;
  weightsShape: Shape4;
  offsetsShape: Shape4;
  outShape: Shape4;
  strides: [number, number];
  padding: tf.backend_util.ExplicitPadding;
  dilations: [number, number];
  offsetGroups: number;
  x: number[];
  offsets: number[];
  weights: number[];
  bias: number[];
  mask?: number[];
  upstream: number[];
  out: number[];
  dx: number[];
  dOffsets: number[];
  dWeights: number[];
  dBias: number[];
  dMask?: number[];
}

describe('deformConv2d: parity with torchvision.ops.deform_conv2d (tests/fixtures/deform_conv2d_torchvision.json)', () => {
  const fixture = JSON.parse(fs.readFileSync(path.join(__dirname, 'fixtures', 'deform_conv2d_torchvision.json'), 'utf8')) as {
    cases: TorchvisionCase[];
  };
  const cases = fixture.cases.map((t) => [t.name, t] as [string, TorchvisionCase]);

  describe.each(cases)('%s', (_name, t) => {
    const c: Case = {
      x: t.xShape,
      kernel: [t.weightsShape[0], t.weightsShape[1]],
      outChannels: t.weightsShape[3],
      strides: t.strides,
      dilations: t.dilations,
      padding: t.padding,
      groups: t.offsetGroups,
      masked: t.mask !== undefined,
      biased: true,
    };
    const f32 = (values: number[] | undefined) => (values === undefined ? null : Float32Array.from(values));
    const inputs: Inputs = {
      x: Float32Array.from(t.x),
      offsets: Float32Array.from(t.offsets),
      weights: Float32Array.from(t.weights),
      mask: f32(t.mask),
      bias: f32(t.bias),
      upstream: Float32Array.from(t.upstream),
    };

    it("the fixture matches this test's loop reference (same conventions)", () => {
      expectClose(referenceForward(c, inputs), t.out, 1e-5, 'values');
    });

    it.each(PATHS)('on %s, %s path: values and all gradients', async (backend, _path, op) => {
      await tf.setBackend(backend);
      const got = run(op, c, inputs);
      expect(shapes(c).out).toEqual(t.outShape);
      const want: Run = {
        out: Float32Array.from(t.out),
        grads: {
          x: Float32Array.from(t.dx),
          offsets: Float32Array.from(t.dOffsets),
          weights: Float32Array.from(t.dWeights),
          bias: Float32Array.from(t.dBias),
          ...(t.dMask === undefined ? {} : { mask: Float32Array.from(t.dMask) }),
        },
      };
      expectRunsClose(got, want, 1e-5, t.name);
    });
  });
});

describe('deformConv2d: argument checks name the shapes', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  const x = () => tf.zeros([2, 5, 5, 4]);
  const w = () => tf.zeros([3, 3, 4, 6]);
  const cases: Array<[string, () => [unknown, unknown, unknown, DeformConv2dOptions?], RegExp]> = [
    ['x of rank 3', () => [tf.zeros([5, 5, 4]), tf.zeros([2, 3, 3, 18]), w()], /x must be a rank-4 tensor, got shape \[5, 5, 4\]/],
    ['int32 offsets', () => [x(), tf.zeros([2, 3, 3, 18], 'int32'), w()], /offsets must be float32, got int32/],
    ['weights not a tensor', () => [x(), tf.zeros([2, 3, 3, 18]), [1, 2]], /weights must be a rank-4 tensor, got object/],
    [
      'weights with other input channels',
      () => [x(), tf.zeros([2, 3, 3, 18]), tf.zeros([3, 3, 2, 6])],
      /weights must be \[kh, kw, Cin, Cout\] with Cin = 4 \(x of shape \[2, 5, 5, 4\]\), got shape \[3, 3, 2, 6\]/,
    ],
    [
      'offsets of the wrong output size',
      () => [x(), tf.zeros([2, 5, 5, 18]), w()],
      /offsets must have shape \[B, Ho, Wo, 2\*G\*kh\*kw\] = \[2, 3, 3, 18\] for x of shape \[2, 5, 5, 4\], weights of shape \[3, 3, 4, 6\] and 1 offset group\(s\), got shape \[2, 5, 5, 18\]/,
    ],
    [
      'offsets for a group count that does not divide Cin',
      () => [x(), tf.zeros([2, 3, 3, 54]), w()],
      /offsetGroups must be a positive integer dividing Cin = 4, got 3 \(inferred from offsets of shape \[2, 3, 3, 54\]/,
    ],
    [
      'offsets not matching an explicit offsetGroups',
      () => [x(), tf.zeros([2, 3, 3, 18]), w(), { offsetGroups: 2 }],
      /= \[2, 3, 3, 36\] .* and 2 offset group\(s\), got shape \[2, 3, 3, 18\]/,
    ],
    [
      'a mask of the wrong shape',
      () => [x(), tf.zeros([2, 3, 3, 18]), w(), { mask: tf.zeros([2, 3, 3, 18]) as tf.Tensor4D }],
      /mask must have shape \[B, Ho, Wo, G\*kh\*kw\] = \[2, 3, 3, 9\], got shape \[2, 3, 3, 18\]/,
    ],
    [
      'a bias of the wrong size',
      () => [x(), tf.zeros([2, 3, 3, 18]), w(), { bias: tf.zeros([4]) as tf.Tensor1D }],
      /bias must have shape \[Cout\] = \[6\], got shape \[4\]/,
    ],
    [
      'a kernel larger than the input',
      () => [x(), tf.zeros([2, 1, 1, 72]), tf.zeros([6, 6, 4, 1])],
      /no output positions for x of shape \[2, 5, 5, 4\] and a 6x6 kernel/,
    ],
    ['stride 0', () => [x(), tf.zeros([2, 3, 3, 18]), w(), { strides: 0 }], /strides must be a positive integer or a pair of them, got 0/],
    [
      'a negative padding',
      () => [x(), tf.zeros([2, 3, 3, 18]), w(), { padding: -1 }],
      /padding must be 'valid', 'same', a non-negative integer/,
    ],
  ];

  it.each(cases)('rejects %s', (_name, makeArgs, message) => {
    const [xt, offsets, weights, options] = makeArgs();
    const call = () => deformConv2d(xt as tf.Tensor4D, offsets as tf.Tensor4D, weights as tf.Tensor4D, options);
    expect(call).toThrow(InvalidInputError);
    expect(call).toThrow(message);
    tf.dispose([xt, offsets, weights, options?.mask ?? [], options?.bias ?? []].filter((t): t is tf.Tensor => t instanceof tf.Tensor));
  });
});

describe.each(['cpu', 'wasm'])('deformConv2d on %s: memory', (backend) => {
  it('leaks no tensors, forward or backward, chunked or not', async () => {
    await tf.setBackend(backend);
    const c: Case = {
      x: [3, 5, 5, 2],
      kernel: [3, 3],
      outChannels: 2,
      strides: [1, 1],
      dilations: [1, 1],
      padding: 'same',
      groups: 1,
      masked: true,
      biased: true,
    };
    const v = randomInputs(c, 5);
    const s = shapes(c);
    const inputs = [
      tf.tensor4d(v.x, s.x),
      tf.tensor4d(v.offsets, s.offsets),
      tf.tensor4d(v.weights, s.weights),
      tf.tensor4d(v.mask as Float32Array, s.mask),
      tf.tensor1d(v.bias as Float32Array),
    ];
    for (const maxColumnBytes of [undefined, 1]) {
      const op = (x: tf.Tensor, offsets: tf.Tensor, weights: tf.Tensor, mask: tf.Tensor, bias: tf.Tensor) =>
        deformConv2d(x as tf.Tensor4D, offsets as tf.Tensor4D, weights as tf.Tensor4D, {
          padding: 'same',
          mask: mask as tf.Tensor4D,
          bias: bias as tf.Tensor1D,
          maxColumnBytes,
        });
      const before = tf.memory().numTensors;
      const out = op(...(inputs as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]));
      expect(tf.memory().numTensors, `forward, maxColumnBytes ${maxColumnBytes}`).toBe(before + 1);
      const grads = tf.grads(op)(inputs);
      expect(tf.memory().numTensors, `backward, maxColumnBytes ${maxColumnBytes}`).toBe(before + 1 + inputs.length);
      tf.dispose([out, ...grads]);
    }
    tf.dispose(inputs);
  });
});

describe('DeformConv2D layer', () => {
  const INPUT: [number, number, number] = [6, 5, 4];

  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  function model(layer: DeformConv2D, compile = true): tf.Sequential {
    const m = tf.sequential({
      layers: [
        tf.layers.inputLayer({ inputShape: INPUT }),
        layer,
        tf.layers.globalAveragePooling2d({}),
        tf.layers.dense({ units: 2, activation: 'softmax', name: 'fc', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }),
      ],
    });
    if (compile) m.compile({ optimizer: tf.train.sgd(0.5), loss: 'categoricalCrossentropy' });
    return m;
  }

  function data(count: number): { xs: tf.Tensor4D; ys: tf.Tensor2D } {
    return tf.tidy(() => ({
      xs: tf.randomUniform([count, ...INPUT], 0, 1, 'float32', 7) as tf.Tensor4D,
      ys: tf.oneHot(tf.randomUniform([count], 0, 2, 'int32', 8) as tf.Tensor1D, 2) as tf.Tensor2D,
    }));
  }

  const weight = (layer: tf.layers.Layer, name: string) =>
    layer.weights.find((w) => w.originalName === `${layer.name}/${name}`)?.read() as tf.Tensor;

  it('has the output shape and weights of its config', () => {
    const layer = new DeformConv2D({
      name: 'dcn',
      filters: 7,
      kernelSize: [3, 2],
      strides: 2,
      padding: 'same',
      offsetGroups: 2,
      modulated: true,
    });
    const m = model(layer, false);
    expect(layer.outputShape).toEqual([null, 3, 3, 7]);
    expect(layer.weights.map((w) => [w.originalName, w.shape])).toEqual([
      ['dcn/kernel', [3, 2, 4, 7]],
      ['dcn/bias', [7]],
      ['dcn/offset_kernel', [3, 2, 4, 36]],
      ['dcn/offset_bias', [36]],
    ]);
    const valid = new DeformConv2D({ filters: 2, kernelSize: 3, dilationRate: 2, useBias: false });
    expect(valid.computeOutputShape([null, 6, 5, 4])).toEqual([null, 2, 1, 2]);
    m.dispose();
  });

  it('starts as a plain convolution (times the 0.5 mask when modulated)', () => {
    for (const modulated of [false, true]) {
      const layer = new DeformConv2D({ filters: 3, kernelSize: 3, padding: 'same', modulated, biasInitializer: 'ones' });
      const m = model(layer, false);
      tf.tidy(() => {
        const x = tf.randomUniform([2, ...INPUT], -1, 1, 'float32', 3) as tf.Tensor4D;
        const got = layer.apply(x) as tf.Tensor;
        const kernel = weight(layer, 'kernel') as tf.Tensor4D;
        const scaled = tf.conv2d(x, modulated ? (tf.mul(kernel, 0.5) as tf.Tensor4D) : kernel, 1, 'same');
        expectClose(got.dataSync(), tf.add(scaled, 1).dataSync(), 1e-5, `modulated ${modulated}`);
      });
      m.dispose();
    }
  });

  it('round-trips through model.save and tf.loadLayersModel (modulated, dilated, 2 groups)', async () => {
    const layer = new DeformConv2D({
      name: 'dcn',
      filters: 3,
      kernelSize: 3,
      padding: 'same',
      dilationRate: 2,
      offsetGroups: 2,
      modulated: true,
      offsetInitializer: tf.initializers.randomNormal({ mean: 0, stddev: 0.3, seed: 4 }),
      kernelTrainable: false,
      maxColumnBytes: 4096,
    });
    const m = model(layer);
    const loaded = await saveAndLoad(m);
    const copy = loaded.getLayer('dcn') as DeformConv2D;
    expect(copy).toBeInstanceOf(DeformConv2D);
    // Serialization writes an unset initializer seed as null.
    const plain = (config: tf.serialization.ConfigDict) => JSON.parse(JSON.stringify(config, (_k, v) => (v === undefined ? null : v)));
    expect(plain(copy.getConfig())).toEqual(plain(layer.getConfig()));
    expect(copy.kernelTrainable).toBe(false);
    expect(copy.trainableWeights.map((w) => w.originalName)).toEqual(['dcn/offset_kernel', 'dcn/offset_bias']);
    const { xs } = data(3);
    expectClose((loaded.predict(xs) as tf.Tensor).dataSync(), (m.predict(xs) as tf.Tensor).dataSync(), 1e-6, 'predictions');
    tf.dispose(xs);
    m.dispose();
    loaded.dispose();
  });

  it('learns in fit; with kernelTrainable false only the offset convolution moves', async () => {
    for (const kernelTrainable of [true, false]) {
      const layer = new DeformConv2D({ name: 'dcn', filters: 4, kernelSize: 3, padding: 'same', modulated: true, kernelTrainable });
      const m = model(layer);
      const before = layer.getWeights().map((w) => w.dataSync().slice());
      const names = layer.weights.map((w) => w.originalName);
      const { xs, ys } = data(16);
      const history = await m.fit(xs, ys, { epochs: 3, batchSize: 8, verbose: 0 });
      const losses = history.history.loss as number[];
      expect(losses.every(Number.isFinite)).toBe(true);
      const moved = layer.getWeights().map((w, k) => w.dataSync().some((v, i) => v !== before[k][i]));
      const movedNames = names.filter((_, k) => moved[k]).sort();
      const offsetWeights = ['dcn/offset_bias', 'dcn/offset_kernel'];
      expect(movedNames, `kernelTrainable ${kernelTrainable}`).toEqual(
        kernelTrainable ? ['dcn/bias', 'dcn/kernel', ...offsetWeights] : offsetWeights,
      );
      tf.dispose([xs, ys]);
      m.dispose();
    }
  });

  it('deformConv2DFromConv2D starts as exactly the trained convolution (DCN and compensated DCNv2)', () => {
    const conv = tf.layers.conv2d({
      name: 'conv21',
      filters: 5,
      kernelSize: 3,
      strides: 2,
      padding: 'same',
      kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }),
      biasInitializer: 'ones',
    });
    const source = tf.sequential({ layers: [tf.layers.inputLayer({ inputShape: INPUT }), conv] });
    const x = tf.randomUniform([2, ...INPUT], -1, 1, 'float32', 9) as tf.Tensor4D;
    const expected = (source.predict(x) as tf.Tensor).dataSync();
    for (const modulated of [false, true]) {
      const layer = deformConv2DFromConv2D(conv, { modulated });
      const target = tf.sequential({ layers: [tf.layers.inputLayer({ inputShape: INPUT }), layer] });
      expect(layer.name).toBe('conv21');
      expect(layer.weights.map((w) => w.originalName).sort()).toEqual([
        'conv21/bias',
        'conv21/kernel',
        'conv21/offset_bias',
        'conv21/offset_kernel',
      ]);
      expect(layer.trainableWeights.map((w) => w.originalName)).toEqual(['conv21/offset_kernel', 'conv21/offset_bias']);
      expectClose((target.predict(x) as tf.Tensor).dataSync(), expected, 1e-5, `modulated ${modulated}`);
      target.dispose();
    }
    source.dispose();
    x.dispose();
  });

  it('rejects a bad config with a message naming it', () => {
    expect(() => new DeformConv2D({ name: 'd', filters: 0, kernelSize: 3 })).toThrow(
      /DeformConv2D 'd': filters must be a positive integer, got 0/,
    );
    expect(() => new DeformConv2D({ name: 'd', filters: 2, kernelSize: 3, padding: 'full' as 'same' })).toThrow(
      /padding must be 'valid' or 'same'/,
    );
    const layer = new DeformConv2D({ name: 'd', filters: 2, kernelSize: 3, offsetGroups: 3 });
    expect(() => layer.apply(tf.input({ shape: INPUT }))).toThrow(/divisible by offsetGroups = 3, got \[null, 6, 5, 4\]/);
  });
});
