/**
 * Parity of every wasm kernel this package registers with tfjs's cpu backend, on small
 * random inputs: agreement to 1e-4 of the reference's largest magnitude. (Winograd's error
 * against exact sums, on the models' shapes: wasm_winograd.test.ts.)
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { wasmReplacementKernels } from '../src/kernels/wasm/replace_tfjs_kernels';
import { BatchNormalization } from '../src/layers/batch_normalization';
import { BATCH_NORM_TRAINING, BATCH_NORM_TRAINING_GRAD } from '../src/kernels/kernel_names';
import { batchNormTraining } from '../src/ops/batch_norm_training';
import { worstError } from './helpers/close';
import { mulberry32 } from './helpers/random';

const TOLERANCE = 1e-4;
type Shape4 = [number, number, number, number];

/** Deterministic uniform [-1, 1) numbers. */
function randoms(seed: number, count: number): Float32Array {
  const next = mulberry32(seed);
  return Float32Array.from({ length: count }, () => next() * 2 - 1);
}

function random(shape: number[], seed: number): tf.Tensor {
  return tf.tensor(randoms(seed, tf.util.sizeFromShape(shape)), shape);
}

/** Runs `f` on `backend` and returns its outputs' values (tensors made inside are freed). */
async function on(backend: 'cpu' | 'wasm', f: () => tf.Tensor | tf.Tensor[]): Promise<{ shape: number[]; values: Float32Array }[]> {
  await tf.setBackend(backend);
  const outputs = tf.tidy(f);
  const list = Array.isArray(outputs) ? outputs : [outputs];
  const result = list.map((t) => ({ shape: t.shape, values: t.dataSync() as Float32Array }));
  tf.dispose(list);
  return result;
}

function expectClose(
  actual: { shape: number[]; values: Float32Array },
  expected: { shape: number[]; values: Float32Array },
  label: string,
): void {
  expect(actual.shape, label).toEqual(expected.shape);
  const scale = expected.values.reduce((max, v) => Math.max(max, Math.abs(v)), 0);
  const { error } = worstError(actual.values, expected.values);
  expect(error, `${label}: max error ${error} vs largest value ${scale}`).toBeLessThanOrEqual(TOLERANCE * Math.max(scale, 1e-6));
}

/** Runs f on both backends and compares all outputs. */
async function expectParity(label: string, f: () => tf.Tensor | tf.Tensor[]): Promise<void> {
  const expected = await on('cpu', f);
  const actual = await on('wasm', f);
  expected.forEach((e, i) => expectClose(actual[i], e, `${label} output ${i}`));
}

/** Training-mode batch norm as tfjs-layers composes it (moments, then batchNorm), with tfjs's own gradients. */
function composedBatchNormTraining(
  x: tf.Tensor,
  scale: tf.Tensor1D,
  offset: tf.Tensor1D,
  epsilon: number,
): ReturnType<typeof batchNormTraining> {
  const { mean, variance } = tf.moments(x, [...Array(x.rank - 1).keys()]);
  return { y: tf.batchNorm(x, mean, variance, offset, scale, epsilon), mean: mean as tf.Tensor1D, variance: variance as tf.Tensor1D };
}

/** The filter with (d - 1) zeros between taps: a dilated convolution as an undilated one, which the cpu kernels take. */
function dilateFilter(filter: tf.Tensor4D, [dh, dw]: [number, number]): tf.Tensor4D {
  const [kh, kw, ci, co] = filter.shape;
  const values = filter.dataSync();
  const out = tf.buffer([(kh - 1) * dh + 1, (kw - 1) * dw + 1, ci, co]);
  for (let i = 0; i < kh; i++)
    for (let j = 0; j < kw; j++)
      for (let c = 0; c < ci; c++) for (let o = 0; o < co; o++) out.set(values[((i * kw + j) * ci + c) * co + o], i * dh, j * dw, c, o);
  return out.toTensor() as tf.Tensor4D;
}

interface ConvCase {
  name: string;
  x: Shape4;
  filter: Shape4;
  strides: [number, number];
  pad: 'same' | 'valid' | number[][];
  dilations?: [number, number];
}

const CONV_CASES: ConvCase[] = [
  { name: 'stride 1 same', x: [2, 7, 7, 3], filter: [3, 3, 3, 4], strides: [1, 1], pad: 'same' },
  { name: 'stride 2 same, odd size', x: [2, 9, 9, 3], filter: [3, 3, 3, 5], strides: [2, 2], pad: 'same' },
  { name: 'stride 2 valid, B=1, C=1', x: [1, 8, 8, 1], filter: [3, 3, 1, 2], strides: [2, 2], pad: 'valid' },
  { name: 'stride 1 valid, C=1 out', x: [3, 6, 5, 2], filter: [3, 3, 2, 1], strides: [1, 1], pad: 'valid' },
  { name: 'strides 2x1, 3x2 filter', x: [2, 9, 8, 2], filter: [3, 2, 2, 3], strides: [2, 1], pad: 'same' },
  { name: 'stride 3 valid, odd sizes', x: [1, 11, 10, 2], filter: [3, 3, 2, 3], strides: [3, 3], pad: 'valid' },
  { name: 'stride 2, 1x1 filter (phases without taps)', x: [2, 7, 7, 3], filter: [1, 1, 3, 4], strides: [2, 2], pad: 'same' },
  { name: 'stride 2, 5x5 filter', x: [2, 9, 9, 2], filter: [5, 5, 2, 3], strides: [2, 2], pad: 'same' },
  {
    name: 'stride 2, explicit pads',
    x: [2, 8, 7, 2],
    filter: [3, 3, 2, 3],
    strides: [2, 2],
    pad: [
      [0, 0],
      [2, 0],
      [1, 3],
      [0, 0],
    ],
  },
  { name: 'dilation 2 same', x: [2, 9, 9, 2], filter: [3, 3, 2, 3], strides: [1, 1], pad: 'same', dilations: [2, 2] },
  { name: 'dilation 2x3 valid', x: [1, 10, 11, 2], filter: [3, 3, 2, 2], strides: [1, 1], pad: 'valid', dilations: [2, 3] },
  { name: 'dilation 2 and stride 2', x: [2, 11, 11, 2], filter: [3, 3, 2, 3], strides: [2, 2], pad: 'same', dilations: [2, 2] },
  // Out channels in eights: the filter gradient's product is the SIMD module's, its rows (taps) padded to fours.
  {
    name: "the regular CNN's conv11: one input channel, 9 taps padded to 12",
    x: [2, 28, 28, 1],
    filter: [3, 3, 1, 32],
    strides: [1, 1],
    pad: 'same',
  },
  { name: '5x5 filter, out channels in eights, 50 taps padded to 52', x: [2, 9, 9, 2], filter: [5, 5, 2, 8], strides: [1, 1], pad: 'same' },
  { name: 'stride 2, out channels in eights, 27 taps padded to 28', x: [2, 9, 9, 3], filter: [3, 3, 3, 16], strides: [2, 2], pad: 'same' },
  // 2.4M column values per image: past the filter gradient's 16M-float buffer, it takes 7 images, then 2.
  { name: 'a batch the filter gradient splits in chunks', x: [9, 64, 64, 64], filter: [3, 3, 64, 2], strides: [1, 1], pad: 'same' },
  // Stride-1 3x3 with channels in eights, at least 16: Winograd F(m x m, 3x3) (winograd.ts), m = 5 on most of these.
  { name: 'Winograd: same, 5x5 tiles past the edge', x: [3, 9, 10, 16], filter: [3, 3, 16, 24], strides: [1, 1], pad: 'same' },
  { name: 'Winograd: same, 4x4 tiles past the edge', x: [2, 8, 7, 16], filter: [3, 3, 16, 24], strides: [1, 1], pad: 'same' },
  { name: 'Winograd: valid', x: [2, 8, 11, 24], filter: [3, 3, 24, 16], strides: [1, 1], pad: 'valid' },
  {
    name: 'Winograd: explicit pads',
    x: [1, 7, 6, 16],
    filter: [3, 3, 16, 24],
    strides: [1, 1],
    pad: [
      [0, 0],
      [2, 0],
      [0, 1],
      [0, 0],
    ],
  },
  { name: 'Winograd: a 1x1 image', x: [2, 1, 1, 16], filter: [3, 3, 16, 16], strides: [1, 1], pad: 'same' },
  {
    name: 'Winograd: tiles not a multiple of 4 (planes padded with zero tiles)',
    x: [3, 5, 5, 16],
    filter: [3, 3, 16, 16],
    strides: [1, 1],
    pad: 'same',
  },
  {
    name: 'stride 1, channels in fours but not eights (left to the direct kernels)',
    x: [2, 7, 7, 20],
    filter: [3, 3, 20, 12],
    strides: [1, 1],
    pad: 'same',
  },
  // Stride 2 on 7x7 and 14x14 outputs: Winograd's polyphase algorithm, 7x7 tiles.
  { name: 'Winograd stride 2: same, 14x14 -> 7x7', x: [3, 14, 14, 16], filter: [3, 3, 16, 24], strides: [2, 2], pad: 'same' },
  { name: 'Winograd stride 2: same, 28x28 -> 14x14', x: [2, 28, 28, 16], filter: [3, 3, 16, 16], strides: [2, 2], pad: 'same' },
  { name: 'Winograd stride 2: valid', x: [2, 15, 15, 16], filter: [3, 3, 16, 16], strides: [2, 2], pad: 'valid' },
  {
    name: 'Winograd stride 2: explicit pads',
    x: [2, 14, 14, 16],
    filter: [3, 3, 16, 16],
    strides: [2, 2],
    pad: [
      [0, 0],
      [1, 1],
      [1, 1],
      [0, 0],
    ],
  },
];

/** Forward convolutions: Winograd's shapes, with bias and ReLU fused, and the ones left to tfjs. */
const FORWARD_CASES: { name: string; x: Shape4; filter: Shape4; strides: number; pad: 'same' | 'valid'; activation?: 'relu' | 'relu6' }[] =
  [
    { name: 'Winograd, same', x: [3, 9, 10, 16], filter: [3, 3, 16, 24], strides: 1, pad: 'same' },
    { name: 'Winograd, valid, ReLU', x: [2, 8, 11, 24], filter: [3, 3, 24, 16], strides: 1, pad: 'valid', activation: 'relu' },
    { name: 'tfjs: ReLU6', x: [2, 8, 8, 16], filter: [3, 3, 16, 16], strides: 1, pad: 'same', activation: 'relu6' },
    { name: 'tfjs: channels not in eights', x: [2, 8, 8, 20], filter: [3, 3, 20, 16], strides: 1, pad: 'same' },
    { name: 'tfjs: stride 2 on a map too small to pay', x: [2, 9, 9, 16], filter: [3, 3, 16, 16], strides: 2, pad: 'same' },
    { name: 'Winograd stride 2, ReLU', x: [2, 14, 14, 16], filter: [3, 3, 16, 24], strides: 2, pad: 'same', activation: 'relu' },
  ];

describe('wasm training kernels agree with the cpu backend', () => {
  beforeAll(async () => {
    await tf.ready();
  });

  it("replaces tfjs's slow wasm training kernels and registers its own", () => {
    const names = wasmReplacementKernels.map((k) => k.kernelName);
    expect(names).toEqual(expect.arrayContaining(['Conv2D', 'FusedConv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter']));
    for (const kernel of wasmReplacementKernels) {
      expect(tf.getKernel(kernel.kernelName, 'wasm')?.kernelFunc, kernel.kernelName).toBe(kernel.kernelFunc);
    }
    for (const name of [BATCH_NORM_TRAINING, BATCH_NORM_TRAINING_GRAD]) expect(tf.getKernel(name, 'wasm'), name).toBeDefined();
  });

  for (const c of CONV_CASES) {
    it(`Conv2DBackpropInput and Conv2DBackpropFilter: ${c.name}`, async () => {
      const dilations = c.dilations ?? [1, 1];
      const make = () => {
        const x = random(c.x, 1) as tf.Tensor4D;
        const filter = random(c.filter, 2) as tf.Tensor4D;
        const info = tf.backend_util.computeConv2DInfo(c.x, c.filter, c.strides, dilations, c.pad as 'same');
        const dy = random(info.outShape, 3) as tf.Tensor4D;
        return { x, filter, dy };
      };
      const attrs = { strides: c.strides, pad: c.pad, dataFormat: 'NHWC' } as unknown as tf.NamedAttrMap;
      const dilated = dilations[0] > 1 || dilations[1] > 1;
      const reference = await on('cpu', () => {
        const { x, filter, dy } = make();
        const f = dilated ? dilateFilter(filter, dilations) : filter;
        const dx = tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: f }, { ...attrs, inputShape: c.x }) as tf.Tensor;
        let dw = tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape: f.shape }) as tf.Tensor;
        if (dilated) {
          const end = [f.shape[0], f.shape[1], f.shape[2], f.shape[3]];
          dw = tf.stridedSlice(dw, [0, 0, 0, 0], end, [dilations[0], dilations[1], 1, 1]);
        }
        return [dx, dw];
      });
      const actual = await on('wasm', () => {
        const { x, filter, dy } = make();
        const withDilations = { ...attrs, dilations };
        return [
          tf.engine().runKernel('Conv2DBackpropInput', { dy, filter }, { ...withDilations, inputShape: c.x }) as tf.Tensor,
          tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { ...withDilations, filterShape: c.filter }) as tf.Tensor,
        ];
      });
      expectClose(actual[0], reference[0], `${c.name}: dx`);
      expectClose(actual[1], reference[1], `${c.name}: dW`);
    });
  }

  for (const c of FORWARD_CASES) {
    it(`Conv2D and FusedConv2D (bias${c.activation ? `, ${c.activation}` : ''}): ${c.name}`, async () => {
      await expectParity(c.name, () => {
        const x = random(c.x, 1) as tf.Tensor4D;
        const filter = random(c.filter, 2) as tf.Tensor4D;
        const bias = random([c.filter[3]], 3) as tf.Tensor1D;
        return [
          tf.conv2d(x, filter, c.strides, c.pad),
          tf.fused.conv2d({ x, filter, strides: c.strides, pad: c.pad, bias, activation: c.activation ?? 'linear' }),
        ];
      });
    });
  }

  it('conv2d gradients through tf.grad (the path training takes)', async () => {
    await expectParity('tf.grads of conv2d', () => {
      const x = random([2, 9, 9, 3], 4) as tf.Tensor4D;
      const w = random([3, 3, 3, 4], 5) as tf.Tensor4D;
      const r = random([2, 5, 5, 4], 6);
      return tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same'), r)))([x, w]);
    });
  });

  it('Sum and Mean over leading, inner and all axes, with keepDims', async () => {
    await expectParity('reductions', () => {
      const x = random([3, 5, 4, 7], 7);
      return [
        tf.sum(x, [0, 1, 2]),
        tf.mean(x, [0, 1, 2], true),
        tf.sum(x, [1, 0]),
        tf.mean(x, 0),
        tf.sum(x, [2, 3]),
        tf.mean(x, [1, 2]),
        tf.sum(x),
        tf.mean(x, -1, true),
      ];
    });
  });

  it('Tile, Identity and Cast', async () => {
    await expectParity('tile, identity, cast', () => {
      const x = random([1, 1, 1, 5], 8);
      const y = random([2, 3, 4], 9);
      return [
        tf.tile(x, [3, 4, 2, 1]),
        tf.tile(y, [2, 1, 3]),
        tf.tile(tf.scalar(2).reshape([1]), [4]),
        tf.clone(y),
        tf.cast(y, 'float32'),
        tf.cast(tf.cast(tf.mul(y, 10), 'int32'), 'float32'),
      ];
    });
    await tf.setBackend('wasm');
    const ints = tf.tile(tf.tensor([1, 2, 3], [3], 'int32'), [2]);
    expect(Array.from(ints.dataSync())).toEqual([1, 2, 3, 1, 2, 3]);
    const original = tf.tensor([1, 2, 3]);
    const copy = tf.clone(original);
    original.dispose();
    expect(Array.from(copy.dataSync())).toEqual([1, 2, 3]);
    copy.dispose();
    ints.dispose();
  });

  // Channel counts with and without a remainder of 4 (the SIMD width), rows below and
  // across the 64-row blocks the column sums add up in.
  const bnShapes: number[][] = [
    [3, 5, 4, 6],
    [2, 9, 8, 32],
    [5, 6, 5, 7],
    [130, 3],
  ];
  for (const shape of bnShapes) {
    it(`BatchNormTraining and its gradient through all three outputs, cpu and wasm kernels vs tfjs's composition: x [${shape.join(', ')}]`, async () => {
      const channels = shape[shape.length - 1];
      const run = (op: typeof batchNormTraining) => () => {
        const x = tf.add(tf.mul(random(shape, 10), 3), 1.5);
        const scale = random([channels], 11) as tf.Tensor1D;
        const offset = random([channels], 12) as tf.Tensor1D;
        const [r1, r2, r3] = [random(shape, 13), random([channels], 14), random([channels], 15)];
        const loss = (a: tf.Tensor, s: tf.Tensor, o: tf.Tensor): tf.Scalar => {
          const { y, mean, variance } = op(a, s as tf.Tensor1D, o as tf.Tensor1D, 1e-3);
          return tf.addN([tf.sum(tf.mul(y, r1)), tf.sum(tf.mul(mean, r2)), tf.sum(tf.mul(variance, r3))]) as tf.Scalar;
        };
        const { y, mean, variance } = op(x, scale, offset, 1e-3);
        return [y, mean, variance, ...tf.grads(loss)([x, scale, offset])];
      };
      const expected = await on('cpu', run(composedBatchNormTraining));
      for (const backend of ['cpu', 'wasm'] as const) {
        const actual = await on(backend, run(batchNormTraining));
        expected.forEach((e, i) => expectClose(actual[i], e, `batchNormTraining on ${backend}, output ${i}`));
      }
    });
  }

  it('BatchNormalization layer matches tf.layers.batchNormalization (training and inference)', async () => {
    const run = (layer: tf.layers.Layer) => () => {
      const x = tf.add(random([4, 3, 3, 5], 16), 0.5);
      const r = random([4, 3, 3, 5], 17);
      layer.build(x.shape);
      const f = (a: tf.Tensor) => tf.sum(tf.mul(layer.apply(a, { training: true }) as tf.Tensor, r)) as tf.Scalar;
      const { value, grads } = tf.variableGrads(
        () => f(x),
        layer.trainableWeights.map((w) => w.read() as tf.Variable),
      );
      const dx = tf.grad(f)(x);
      const inference = layer.apply(x, { training: false }) as tf.Tensor;
      return [value, dx, ...Object.values(grads), inference, ...layer.getWeights()];
    };
    const expected = await on('cpu', run(tf.layers.batchNormalization({ momentum: 0.9 })));
    const actual = await on('wasm', run(new BatchNormalization({ momentum: 0.9 })));
    expected.forEach((e, i) => expectClose(actual[i], e, `BatchNormalization output ${i}`));
  });
});
