/**
 * The sampling-location tracer, the offset read-out and the pictures (each a valid image
 * of the expected size, read back with sharp).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MnistSplit } from '../src/data/mnist';
import { buildDeformCnn, buildRegularCnn } from '../src/models/cnn';
import { arrowFactor } from '../src/reporting/arrow_field';
import { curvesFigure } from '../src/reporting/curves';
import { listOffsetSnapshots, loadOffsetSnapshot, saveOffsetSnapshot } from '../src/reporting/offset_snapshots';
import { cnnTraceLayers, meanOffsetFields, OffsetFields, readOffsets } from '../src/reporting/offsets';
import { animationFrames, offsetFigures, scaledSamplesFigure, unitOnInk } from '../src/reporting/pictures';
import { renderGif, renderPng, writePng } from '../src/reporting/render';
import { samplingFigure } from '../src/reporting/sampling_figure';
import { Figure } from '../src/reporting/svg';
import { OffsetField, offsetAt, SamplingTrace, traceSamplingLocations } from '../src/reporting/tracer';

function constantField(height: number, width: number, dy: number, dx: number): OffsetField {
  const data = new Float32Array(height * width * 2);
  for (let i = 0; i < height * width; i++) {
    data[2 * i] = dy;
    data[2 * i + 1] = dx;
  }
  return { height, width, data };
}

function zeroFields(): OffsetFields {
  return {
    conv12_offset: constantField(28, 28, 0, 0),
    conv21_offset: constantField(14, 14, 0, 0),
    conv22_offset: constantField(14, 14, 0, 0),
  };
}

function positions(trace: SamplingTrace, level: number): Array<[number, number]> {
  return trace.levels[level].map((p) => [p.y, p.x]);
}

/** A synthetic test split: `count` 28x28 images with a bright square at a different place each. */
function syntheticTest(count: number): MnistSplit {
  const images = new Uint8Array(count * 784);
  for (let n = 0; n < count; n++) {
    for (let y = 8 + (n % 5); y < 18 + (n % 5); y++) {
      for (let x = 6 + (n % 7); x < 14 + (n % 7); x++) images[n * 784 + y * 28 + x] = 255;
    }
  }
  return { name: 'test', count, height: 28, width: 28, images, labels: Uint8Array.from({ length: count }, (_, i) => i % 10) };
}

async function expectImage(data: Buffer, figure: Figure, format: 'png' | 'gif', pages = 1): Promise<void> {
  const meta = await sharp(data, { animated: true }).metadata();
  expect(meta.format).toBe(format);
  expect(meta.width).toBe(figure.width);
  expect(meta.pageHeight ?? meta.height).toBe(figure.height);
  expect(meta.pages ?? 1).toBe(pages);
  const stats = await sharp(data).stats();
  // Not blank: some pixels are dark (text, ink, points).
  expect(stats.channels[0].min).toBeLessThan(100);
}

/** The words of a figure's text, with the line breaks of wrapping removed. */
function textOf(figure: Figure): string {
  return [...figure.svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]).join(' ');
}

let tmp: string;

beforeAll(async () => {
  await tf.setBackend('cpu');
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'deformconv-visualize-'));
});

afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('traceSamplingLocations', () => {
  it('maps zero offsets to exactly the rigid grid of the regular CNN', () => {
    for (const unit of [{ row: 3, col: 3 }, { row: 1, col: 5 }, { row: 0, col: 0 }, { row: 6, col: 6 }]) {
      const rigid = traceSamplingLocations(cnnTraceLayers({}), unit);
      const zero = traceSamplingLocations(cnnTraceLayers(zeroFields()), unit);
      expect(zero).toEqual(rigid);
      expect(rigid.levels.map((l) => l.length)).toEqual([9, 81, 729]);
      // The closed form: conv22 (stride 2) taps 2i+a on 14x14, conv21 taps (2i+a)+b-1, conv12 (stride 2) taps 2(..)+c.
      // A point is in padding if it or a point above it lies outside its grid (14x14, 14x14, 28x28).
      const expected: Array<[number, number]> = [];
      const expectedPadding: boolean[] = [];
      const top: Array<[number, number]> = [];
      const out = (v: number, size: number): boolean => v < 0 || v > size - 1;
      for (const a of [0, 1, 2]) for (const a2 of [0, 1, 2]) top.push([2 * unit.row + a, 2 * unit.col + a2]);
      for (const [ty, tx] of top) {
        for (const b of [0, 1, 2]) {
          for (const b2 of [0, 1, 2]) {
            const [my, mx] = [ty + b - 1, tx + b2 - 1];
            for (const c of [0, 1, 2]) {
              for (const c2 of [0, 1, 2]) {
                const [by, bx] = [2 * my + c, 2 * mx + c2];
                expected.push([by, bx]);
                expectedPadding.push(out(ty, 14) || out(tx, 14) || out(my, 14) || out(mx, 14) || out(by, 28) || out(bx, 28));
              }
            }
          }
        }
      }
      expect(positions(rigid, 0)).toEqual(top);
      expect(positions(rigid, 2)).toEqual(expected);
      expect(rigid.levels[2].map((p) => p.padding)).toEqual(expectedPadding);
      expect(rigid.unit).toEqual({ ...unit, imageY: 4 * unit.row + 3, imageX: 4 * unit.col + 3 });
      for (const p of rigid.levels[2]) expect([p.imageY, p.imageX]).toEqual([p.y, p.x]);
    }
  });

  it('flags taps in zero padding and does not move them', () => {
    const trace = traceSamplingLocations(cnnTraceLayers({ conv21_offset: constantField(14, 14, 3, 3) }), { row: 0, col: 0 });
    // conv21's taps of conv22's tap at row 0 reach row -1: padding, left where they are.
    const padded = trace.levels[1].filter((p) => p.padding);
    expect(padded.length).toBeGreaterThan(0);
    for (const p of padded) expect(Number.isInteger(p.y) && Number.isInteger(p.x)).toBe(true);
    for (const p of trace.levels[1].filter((q) => !q.padding)) {
      expect(p.y).toBeGreaterThanOrEqual(0);
      expect(p.y).toBeLessThanOrEqual(13);
    }
  });

  it('moves every tap by its offset, clipped to the grid, and carries the move down through the strides', () => {
    const unit = { row: 3, col: 3 };
    const rigid = traceSamplingLocations(cnnTraceLayers({}), unit);
    const shifted = traceSamplingLocations(cnnTraceLayers({ conv22_offset: constantField(14, 14, 0.5, -0.25) }), unit);
    shifted.levels[0].forEach((p, i) => {
      expect(p.y).toBe(rigid.levels[0][i].y + 0.5);
      expect(p.x).toBe(rigid.levels[0][i].x - 0.25);
    });
    // conv21 (stride 1) keeps the shift, conv12 (stride 2) doubles it.
    shifted.levels[2].forEach((p, i) => {
      expect(p.y).toBe(rigid.levels[2][i].y + 1);
      expect(p.x).toBe(rigid.levels[2][i].x - 0.5);
    });
    const clipped = traceSamplingLocations(cnnTraceLayers({ conv12_offset: constantField(28, 28, 100, -100) }), unit);
    for (const p of clipped.levels[2]) expect([p.y, p.x]).toEqual([27, 0]);
  });

  it('interpolates offsets bilinearly between pixels and is exact on them', () => {
    const field: OffsetField = { height: 2, width: 2, data: Float32Array.from([0, 0, 1, 2, 2, 4, 3, 6]) };
    expect(offsetAt(field, 1, 0)).toEqual([2, 4]);
    expect(offsetAt(field, 0.5, 0.5)).toEqual([1.5, 3]);
    expect(offsetAt(field, -3, 9)).toEqual([1, 2]);
  });

  it('rejects offsets that do not fit the layer and units outside the output', () => {
    expect(() => traceSamplingLocations(cnnTraceLayers({ conv21_offset: constantField(28, 28, 0, 0) }), { row: 0, col: 0 })).toThrow(
      /offsets of 'conv21' are 28x28/,
    );
    expect(() => traceSamplingLocations(cnnTraceLayers({}), { row: 7, col: 0 })).toThrow(/outside conv22's 7x7 output/);
  });
});

describe('offset read-out', () => {
  it('combines per-channel offsets by their mean', () => {
    // [1, 1, 2, 4]: two channels, (dy, dx) = (1, 2) and (3, 6) at pixel 0.
    const offsets = tf.tensor4d([1, 2, 3, 6, 0, 0, -2, 4], [1, 1, 2, 4]);
    const [field] = meanOffsetFields(offsets);
    expect(field.height).toBe(1);
    expect(field.width).toBe(2);
    expect(Array.from(field.data)).toEqual([2, 4, -1, 2]);
    offsets.dispose();
  });

  it('reads every offset layer of the deformable CNN and leaves capture off', () => {
    const model = buildDeformCnn({ seed: 3 });
    const images = tf.randomUniform([2, 28, 28, 1], 0, 1, 'float32', 4) as tf.Tensor4D;
    const readout = readOffsets(model, images);
    expect(readout.probabilities).toHaveLength(2);
    expect(readout.fields[1].conv12_offset.height).toBe(28);
    expect(readout.fields[1].conv21_offset.width).toBe(14);
    expect(readout.fields[0].conv22_offset.data.length).toBe(14 * 14 * 2);
    const layer = model.getLayer('conv12_offset') as unknown as { captureOffsets: boolean };
    expect(layer.captureOffsets).toBe(false);
    images.dispose();
    model.dispose();
  });

  it('chooses the conv22 unit over the ink', () => {
    const image = new Float32Array(784);
    image[27 * 28 + 27] = 1;
    expect(unitOnInk(image, 28, 28)).toEqual({ row: 6, col: 6 });
    image.fill(0);
    image[14 * 28 + 14] = 1;
    expect(unitOnInk(image, 28, 28)).toEqual({ row: 3, col: 3 });
  });
});

describe('pictures', () => {
  const test = syntheticTest(24);

  it('draws the sampling locations and arrow fields as PNGs of the documented size', async () => {
    const deform = buildDeformCnn({ seed: 5 });
    const regular = buildRegularCnn({ seed: 5 });
    const { sampling, field, units } = offsetFigures({ deform, regular, test, index: 2, deformLabel: 'test model' });
    // Two 280-pixel panels side by side (28 pixels x 10) with 16-pixel margins and a 24-pixel gap.
    expect(sampling.width).toBe(2 * 16 + 2 * 280 + 24);
    expect(field.width).toBe(2 * 16 + 3 * 280 + 2 * 24);
    expect(textOf(sampling)).toContain('combines the channels by the mean offset over channels');
    expect(textOf(field)).toContain('the mean offset over channels');
    expect(units).toHaveLength(2);
    await expectImage(await renderPng(sampling), sampling, 'png');
    const file = await writePng(path.join(tmp, 'field.png'), field);
    await expectImage(fs.readFileSync(file), field, 'png');
    expect(fs.readdirSync(tmp).filter((f) => f.startsWith('.tmp-'))).toEqual([]);
    expect(() => offsetFigures({ deform: regular, test, index: 0, deformLabel: 'x' })).toThrow(/no offset layers/);
    deform.dispose();
    regular.dispose();
  });

  it('animates per-epoch offset snapshots as a GIF with one frame per epoch', async () => {
    const model = buildDeformCnn({ seed: 6 });
    const out = path.join(tmp, 'run');
    await saveOffsetSnapshot(out, 0, model);
    const kernel = model.getLayer('conv22_offset').getWeights()[0];
    model.getLayer('conv22_offset').setWeights([tf.mul(kernel, 50)]);
    await saveOffsetSnapshot(out, 1, model);
    expect(listOffsetSnapshots(out).map((s) => s.epoch)).toEqual([0, 1]);
    await saveOffsetSnapshot(path.join(tmp, 'regular-run'), 1, buildRegularCnn());
    expect(listOffsetSnapshots(path.join(tmp, 'regular-run'))).toEqual([]);

    const frames = animationFrames(model, out, test, 0, [{ row: 3, col: 3 }, { row: 3, col: 3 }], 1);
    expect(frames).toHaveLength(2);
    expect(frames[0].svg).not.toEqual(frames[1].svg);
    await expectImage(await renderGif(frames, [700, 2500]), frames[0], 'gif', 2);
    // The last snapshot loaded: the model is back at epoch 1.
    loadOffsetSnapshot(listOffsetSnapshots(out)[0].file, model);
    expect(tf.max(tf.abs(tf.sub(model.getLayer('conv22_offset').getWeights()[0], kernel))).dataSync()[0]).toBe(0);
    model.dispose();
  });

  it('draws the scaled-samples grid and the curves', async () => {
    const samples = scaledSamplesFigure(test);
    // 12 digits of 84 pixels, 10 pixels apart, after a 74-pixel row title, 16-pixel margins.
    expect(samples.width).toBe(2 * 16 + 74 + 12 * 84 + 11 * 10);
    await expectImage(await renderPng(samples), samples, 'png');

    const epochs = [1, 2, 3].map((epoch) => ({ epoch, loss: 1 / epoch, accuracy: 0.5 + epoch / 10, val: { scaled: { loss: 1.2 / epoch, accuracy: 0.4 + epoch / 10 } } }));
    const curves = curvesFigure({
      stages: [
        { title: 'Stage 1', series: [{ label: 'regular', epochs: epochs.map((e) => ({ ...e, val: { plain: e.val.scaled } })) }] },
        { title: 'Stage 2', series: [{ label: 'a', epochs }, { label: 'b', epochs: epochs.slice(0, 1) }] },
      ],
      caption: 'test',
    });
    expect(curves.width).toBe(2 * 16 + 2 * (58 + 380) + 28);
    await expectImage(await renderPng(curves), curves, 'png');
  });

  it('scales arrows by a stated 1-2-5 factor', () => {
    expect(arrowFactor(constantField(4, 4, 0, 0), 1)).toBe(1);
    expect(arrowFactor(constantField(4, 4, 0.03, 0.04), 1)).toBe(10);
    expect(arrowFactor(constantField(4, 4, 3, 4), 2)).toBe(0.1);
  });

  it('keeps a frame size fixed so GIF frames match', () => {
    const trace = traceSamplingLocations(cnnTraceLayers({}), { row: 3, col: 3 });
    const image = new Float32Array(784);
    const frame = (title: string): Figure =>
      samplingFigure({ title, rows: [{ title: 'row', panels: [{ heading: 'h', image, height: 28, width: 28, trace }] }], caption: 'c' });
    expect(frame('after epoch 1').height).toBe(frame('after epoch 20 of 20').height);
  });
});
