import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../src/augment/random';
import { sampleZoomShift, zoomShift, ZoomShiftParams } from '../src/augment/zoom_shift';
import { useBackend } from '../src/backend/select';

const identity: ZoomShiftParams = { zoomRow: 1, zoomCol: 1, shiftRow: 0, shiftCol: 0 };

/** An [1, h, w, 1] image with pixel (i, j) = value(i, j). */
function image(h: number, w: number, value: (i: number, j: number) => number): tf.Tensor4D {
  const data = new Float32Array(h * w);
  for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) data[i * w + j] = value(i, j);
  return tf.tensor4d(data, [1, h, w, 1]);
}

function rows(t: tf.Tensor): number[][] {
  const [, h, w] = t.shape;
  const data = Array.from(t.dataSync());
  return Array.from({ length: h as number }, (_, i) => data.slice(i * (w as number), (i + 1) * (w as number)));
}

beforeAll(async () => {
  await useBackend('cpu');
});

describe('zoomShift', () => {
  it('is the identity at zoom 1, shift 0, for both interpolations', () => {
    const x = tf.randomUniform([3, 28, 28, 2], 0, 1, 'float32', 5) as tf.Tensor4D;
    for (const interpolation of ['nearest', 'bilinear'] as const) {
      const y = zoomShift(x, [identity, identity, identity], { interpolation });
      expect(Array.from(y.dataSync())).toEqual(Array.from(x.dataSync()));
    }
  });

  it('moves pixels exactly for integer shifts and replicates the edges', () => {
    const x = image(28, 28, (i, j) => 100 * i + j);
    const params = [{ zoomRow: 1, zoomCol: 1, shiftRow: 2, shiftCol: -3 }];
    for (const interpolation of ['nearest', 'bilinear'] as const) {
      const got = rows(zoomShift(x, params, { interpolation }));
      for (let r = 0; r < 28; r++) {
        for (let c = 0; c < 28; c++) {
          // Output (r, c) reads input (r + 2, c - 3), clamped into the image.
          const i = Math.min(r + 2, 27);
          const j = Math.max(c - 3, 0);
          expect(got[r][c]).toBe(100 * i + j);
        }
      }
    }
  });

  it('zooms about Keras centre 14.5 and rounds halves up (nearest, hand-computed)', () => {
    // Rows only (zoomCol 1): r_in = 2r + 14.5 * (1 - 2) = 2r - 14.5, clamped to [0, 27],
    // then index floor(r_in + 0.5): r <= 7 -> 0; r = 8 -> 1.5 -> 2; ...; r = 20 -> 25.5 -> 26;
    // r >= 21 -> 27.5.. clamped to 27.
    const x = image(28, 28, (i) => i);
    const got = rows(zoomShift(x, [{ zoomRow: 2, zoomCol: 1, shiftRow: 0, shiftCol: 0 }]));
    const expected = [0, 0, 0, 0, 0, 0, 0, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 27, 27, 27, 27, 27, 27, 27];
    expect(got.map((row) => row[0])).toEqual(expected);
    expect(got.every((row) => row.every((v) => v === row[0]))).toBe(true);
  });

  it('zooms about 14.5 with linear weights (bilinear, hand-computed)', () => {
    // With pixel value = row index, bilinear reads back the clamped coordinate itself.
    const x = image(28, 28, (i) => i);
    const got = rows(zoomShift(x, [{ zoomRow: 2, zoomCol: 1, shiftRow: 0, shiftCol: 0 }], { interpolation: 'bilinear' }));
    const expected = Array.from({ length: 28 }, (_, r) => Math.min(Math.max(2 * r - 14.5, 0), 27));
    expect(got.map((row) => row[0])).toEqual(expected);
  });

  it('handles a small image with half-pixel shifts (4x4, centre 2.5)', () => {
    // Pixel (i, j) = 10 i + j. shiftRow 0.5, zoom 1: r_in = r + 0.5 = 0.5, 1.5, 2.5, 3.5.
    // Nearest (floor(c + 0.5), after clamping to 3): rows 1, 2, 3, 3 (half-even would give 0, 2, 2, 3).
    // Bilinear: 0.5, 1.5, 2.5, 3 (the last clamped).
    const x = image(4, 4, (i, j) => 10 * i + j);
    const params = [{ zoomRow: 1, zoomCol: 1, shiftRow: 0.5, shiftCol: 0 }];
    expect(rows(zoomShift(x, params))).toEqual([1, 2, 3, 3].map((i) => [0, 1, 2, 3].map((j) => 10 * i + j)));
    expect(rows(zoomShift(x, params, { interpolation: 'bilinear' }))).toEqual(
      [0.5, 1.5, 2.5, 3].map((i) => [0, 1, 2, 3].map((j) => 10 * i + j)),
    );
    // zoomCol 2 on columns: c_in = 2c - 2.5 -> -2.5, -0.5, 1.5, 3.5 -> clamped 0, 0, 1.5, 3
    // -> nearest columns 0, 0, 2, 3; bilinear 0, 0, 1.5, 3.
    const zoomed = [{ zoomRow: 1, zoomCol: 2, shiftRow: 0, shiftCol: 0 }];
    expect(rows(zoomShift(x, zoomed))).toEqual([0, 1, 2, 3].map((i) => [0, 0, 2, 3].map((j) => 10 * i + j)));
    expect(rows(zoomShift(x, zoomed, { interpolation: 'bilinear' }))).toEqual(
      [0, 1, 2, 3].map((i) => [0, 0, 1.5, 3].map((j) => 10 * i + j)),
    );
  });

  it('applies each image its own transform and every channel the same one', () => {
    const a = image(28, 28, (i, j) => 100 * i + j);
    const x = tf.concat([tf.concat([a, tf.neg(a)], 3), tf.concat([a, tf.neg(a)], 3)], 0) as tf.Tensor4D;
    const p0 = { zoomRow: 1.7, zoomCol: 1.2, shiftRow: -3.3, shiftCol: 4.1 };
    const p1 = { zoomRow: 2.4, zoomCol: 1.1, shiftRow: 5, shiftCol: -0.7 };
    const both = zoomShift(x, [p0, p1]);
    const single0 = zoomShift(a, [p0]);
    const single1 = zoomShift(a, [p1]);
    const [img0, img1] = tf.split(both, 2, 0);
    const [c0, c1] = tf.split(img0, 2, 3);
    expect(Array.from(c0.dataSync())).toEqual(Array.from(single0.dataSync()));
    expect(Array.from(c1.dataSync())).toEqual(Array.from(tf.neg(single0).dataSync()));
    expect(Array.from(tf.split(img1, 2, 3)[0].dataSync())).toEqual(Array.from(single1.dataSync()));
  });

  it('matches scipy.ndimage.affine_transform as Keras 2.0 called it (fixture)', () => {
    // tests/fixtures/zoom_shift_scipy.json comes from scripts/keras_zoom_shift_reference.py.
    const cases = JSON.parse(fs.readFileSync(path.join(__dirname, 'fixtures', 'zoom_shift_scipy.json'), 'utf8')) as Array<{
      image: number[];
      params: ZoomShiftParams;
      nearest: number[];
      bilinear: number[];
    }>;
    const x = tf.tensor4d(
      cases.flatMap((c) => c.image.map((v) => v / 255)),
      [cases.length, 28, 28, 1],
    );
    const params = cases.map((c) => c.params);
    const nearest = zoomShift(x, params).dataSync();
    const bilinear = zoomShift(x, params, { interpolation: 'bilinear' }).dataSync();
    cases.forEach((c, k) => {
      // Order 0 copies pixels: bit-exact.
      expect(Array.from(nearest.subarray(k * 784, (k + 1) * 784))).toEqual(c.nearest.map((v) => Math.fround(v / 255)));
      // Order 1: scipy computes in float64 (and the fixture keeps 6 decimals).
      c.bilinear.forEach((v, p) => expect(Math.abs(bilinear[k * 784 + p] - v)).toBeLessThan(2e-6));
    });
  });

  it('rejects mismatched parameters and shapes with clear messages', () => {
    const x = tf.zeros([2, 28, 28, 1]) as tf.Tensor4D;
    expect(() => zoomShift(x, [identity])).toThrow(/1 parameter sets for 2 images/);
    expect(() => zoomShift(x, [identity, { ...identity, zoomRow: NaN }])).toThrow(/params\[1\]\.zoomRow/);
    expect(() => zoomShift(tf.zeros([28, 28, 1]) as unknown as tf.Tensor4D, [identity])).toThrow(/\[N, H, W, C\]/);
  });
});

describe('sampleZoomShift', () => {
  it('draws the reference ranges, repeatably from a seed', () => {
    const a = sampleZoomShift(2000, new Rng(42));
    const b = sampleZoomShift(2000, new Rng(42));
    expect(a).toEqual(b);
    expect(sampleZoomShift(5, new Rng(43))).not.toEqual(a.slice(0, 5));
    for (const p of a) {
      expect(p.zoomRow).toBeGreaterThanOrEqual(1);
      expect(p.zoomRow).toBeLessThan(2.5);
      expect(p.zoomCol).toBeGreaterThanOrEqual(1);
      expect(p.zoomCol).toBeLessThan(2.5);
      expect(Math.abs(p.shiftRow)).toBeLessThanOrEqual(0.2 * 28);
      expect(Math.abs(p.shiftCol)).toBeLessThanOrEqual(0.2 * 28);
    }
    const mean = (f: (p: ZoomShiftParams) => number): number => a.reduce((s, p) => s + f(p), 0) / a.length;
    expect(mean((p) => p.zoomRow)).toBeCloseTo(1.75, 1);
    expect(mean((p) => p.zoomCol)).toBeCloseTo(1.75, 1);
    expect(Math.abs(mean((p) => p.shiftRow))).toBeLessThan(0.3);
    // Rows and columns are drawn independently (anisotropic zoom).
    expect(a.filter((p) => p.zoomRow !== p.zoomCol).length).toBe(a.length);
  });

  it('continues the same stream after its state is saved and restored', () => {
    const rng = new Rng(7);
    rng.permutation(100);
    const saved = rng.getState();
    const expected = sampleZoomShift(10, rng);
    expect(sampleZoomShift(10, Rng.fromState(saved))).toEqual(expected);
  });
});
