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
import { MnistSplit } from '../src/data/mnist_split';
import { buildDeformCnn, buildRegularCnn } from '../src/models/cnn';
import { DeformConv2D } from '../src/layers/deform_conv2d_layer';
import { arrowFactor } from '../src/reporting/arrow_field';
import { curvesFigure } from '../src/reporting/curves';
import { listOffsetSnapshots, loadOffsetSnapshot, saveOffsetSnapshot } from '../src/training/offset_snapshots';
import { cnnTraceLayers, meanOffsetFields, OffsetFields, readOffsets, TapOffsetFields } from '../src/tracing/offsets';
import { epochSnapshots } from '../src/experiment/write_pictures';
import { animationFrames, offsetFigures, scaledSamplesFigure, unitOnInk } from '../src/reporting/figures';
import { renderGif, renderPng, writePng } from '../src/reporting/render_images';
import { samplingFigure } from '../src/reporting/sampling_figure';
import { Figure } from '../src/reporting/svg';
import { OffsetField, offsetAt, SamplingTrace, TapOffsetField, traceSamplingLocations } from '../src/tracing/tracer';

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

/** Per-tap offsets over an output grid: every tap's (dy, dx) from `tapOffset(tap)`, and a constant mask if given. */
function tapField(height: number, width: number, tapOffset: (tap: number) => [number, number], mask?: number): TapOffsetField {
  const data = new Float32Array(height * width * 18);
  for (let i = 0; i < height * width; i++) {
    for (let tap = 0; tap < 9; tap++) [data[(i * 9 + tap) * 2], data[(i * 9 + tap) * 2 + 1]] = tapOffset(tap);
  }
  return { height, width, data, ...(mask === undefined ? {} : { mask: new Float32Array(height * width * 9).fill(mask) }) };
}

/** DeformConv2D offsets of conv12 (14x14 output), conv21 (14x14) and conv22 (7x7), every tap's from `tapOffset`. */
function tapFields(tapOffset: (tap: number) => [number, number], mask?: number): TapOffsetFields {
  return { conv12: tapField(14, 14, tapOffset, mask), conv21: tapField(14, 14, tapOffset, mask), conv22: tapField(7, 7, tapOffset, mask) };
}

/** A dcn or dcnv2 CNN whose offset (and mask) convolutions have random weights, so that its taps move. */
function movingDcnCnn(deformType: 'dcn' | 'dcnv2', seed: number): tf.LayersModel {
  const model = buildDeformCnn({ seed, deformType });
  model.layers
    .filter((layer): layer is DeformConv2D => layer instanceof DeformConv2D)
    .forEach((layer, i) => {
      const weights = layer.getWeights();
      const offsetKernel = layer.weights.findIndex((w) => w.originalName.endsWith('/offset_kernel'));
      weights[offsetKernel] = tf.randomNormal(weights[offsetKernel].shape, 0, 0.3, 'float32', seed + i);
      layer.setWeights(weights);
    });
  return model;
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
    for (const unit of [
      { row: 3, col: 3 },
      { row: 1, col: 5 },
      { row: 0, col: 0 },
      { row: 6, col: 6 },
    ]) {
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

  it('maps zero DeformConv2D (DCN) offsets to exactly the rigid grid, with every weight 1', () => {
    for (const unit of [
      { row: 3, col: 3 },
      { row: 0, col: 6 },
      { row: 6, col: 0 },
    ]) {
      const rigid = traceSamplingLocations(cnnTraceLayers({}), unit);
      expect(
        traceSamplingLocations(
          cnnTraceLayers(
            {},
            tapFields(() => [0, 0]),
          ),
          unit,
        ),
      ).toEqual(rigid);
      expect(rigid.levels[2].every((p) => p.weight === 1)).toBe(true);
    }
  });

  it('moves each DCN tap by its own offset, unclipped, and multiplies DCNv2 masks along the path', () => {
    const unit = { row: 3, col: 3 };
    const rigid = traceSamplingLocations(cnnTraceLayers({}), unit);
    // Tap 0 (top left) of conv22 moves by (1, -0.5); the other taps stay.
    const conv22Only = { conv22: tapField(7, 7, (tap) => (tap === 0 ? [1, -0.5] : [0, 0])) };
    const moved = traceSamplingLocations(cnnTraceLayers({}, conv22Only), unit);
    expect(positions(moved, 0)).toEqual(positions(rigid, 0).map(([y, x], tap) => (tap === 0 ? [y + 1, x - 0.5] : [y, x])));
    // The 81 conv12 points below tap 0 move twice as far in the image (conv12 has stride 2); the rest stay.
    moved.levels[2].forEach((p, i) => {
      const [dy, dx] = i < 81 ? [2, -1] : [0, 0];
      expect([p.imageY, p.imageX]).toEqual([rigid.levels[2][i].imageY + dy, rigid.levels[2][i].imageX + dx]);
    });
    // Each tap its own offset: tap k of every layer moves by (k / 4, -k / 8).
    const perTap = traceSamplingLocations(
      cnnTraceLayers(
        {},
        tapFields((tap) => [tap / 4, -tap / 8]),
      ),
      unit,
    );
    perTap.levels[0].forEach((p, tap) => expect([p.y, p.x]).toEqual([rigid.levels[0][tap].y + tap / 4, rigid.levels[0][tap].x - tap / 8]));
    // Unclipped (zeros outside the input): a large offset leaves the grid and reads nothing.
    const outside = traceSamplingLocations(cnnTraceLayers({}, { conv12: tapField(14, 14, () => [-100, 0]) }), unit);
    expect(outside.levels[2].every((p, i) => p.padding && p.y === rigid.levels[2][i].y - 100)).toBe(true);
    // A rigid tap in padding that an offset moves inside reads the input.
    const corner = traceSamplingLocations(cnnTraceLayers({}, { conv22: tapField(7, 7, () => [0.5, 0.5]) }), { row: 0, col: 0 });
    expect(corner.levels[0].every((p) => !p.padding)).toBe(true);
    const masked = traceSamplingLocations(
      cnnTraceLayers(
        {},
        tapFields(() => [0, 0], 0.5),
      ),
      unit,
    );
    expect(masked.levels.map((level) => level[0].weight)).toEqual([0.5, 0.25, 0.125]);
    expect(() => traceSamplingLocations(cnnTraceLayers({}, { conv22: tapField(14, 14, () => [0, 0]) }), unit)).toThrow(
      /per-tap offsets of 'conv22' are 14x14 .*expected 7x7x18/,
    );
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

  it("reads every DeformConv2D layer's per-tap offsets and mask as they are, and leaves capture off", () => {
    const model = movingDcnCnn('dcnv2', 7);
    const images = tf.randomUniform([2, 28, 28, 1], 0, 1, 'float32', 8) as tf.Tensor4D;
    const readout = readOffsets(model, images);
    expect(readout.fields).toEqual([{}, {}]);
    const conv22 = readout.tapFields[1].conv22;
    expect([conv22.height, conv22.width, conv22.data.length, conv22.mask?.length]).toEqual([7, 7, 7 * 7 * 18, 7 * 7 * 9]);
    expect(readout.tapFields[0].conv12.data.length).toBe(14 * 14 * 18);
    expect(Math.max(...conv22.data.map(Math.abs))).toBeGreaterThan(0);
    expect(conv22.mask?.every((m) => m > 0 && m < 1)).toBe(true);
    const layer = model.getLayer('conv22') as DeformConv2D;
    expect([layer.captureOffsets, layer.lastOffsets, layer.lastMask]).toEqual([false, null, null]);
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
    const { sampling, field, units } = await offsetFigures({ deform, regular, test, index: 2, deformLabel: 'test model' });
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
    await expect(offsetFigures({ deform: regular, test, index: 0, deformLabel: 'x' })).rejects.toThrow(
      /no offset layers \(ConvOffset2D\) and no DeformConv2D layers/,
    );
    deform.dispose();
    regular.dispose();
  });

  it('draws the sampling locations of a DCN / DCNv2 CNN (each tap its own offset) and no arrow field', async () => {
    for (const deformType of ['dcn', 'dcnv2'] as const) {
      const deform = movingDcnCnn(deformType, 9);
      const { sampling, field } = await offsetFigures({ deform, test, index: 3, deformLabel: 'test model' });
      expect(field).toBeUndefined();
      expect(sampling.width).toBe(2 * 16 + 2 * 280 + 24);
      expect(textOf(sampling)).toContain(
        deformType === 'dcn' ? 'DCN: learned offsets per kernel tap' : 'DCNv2: learned offsets and masks per tap',
      );
      expect(textOf(sampling)).toContain('one offset (dy, dx) per kernel tap');
      // DCNv2: the dots' opacity follows their masks, so it varies.
      const opacities = new Set([...sampling.svg.matchAll(/fill-opacity="([\d.]+)"/g)].map((m) => m[1]));
      expect(opacities.size > 1).toBe(deformType === 'dcnv2');
      const file = await writePng(path.join(tmp, `offsets-${deformType}.png`), sampling);
      await expectImage(fs.readFileSync(file), sampling, 'png');
      deform.dispose();
    }
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

    const frames = await animationFrames(
      model,
      epochSnapshots(out),
      test,
      0,
      [
        { row: 3, col: 3 },
        { row: 3, col: 3 },
      ],
      1,
    );
    expect(frames).toHaveLength(2);
    expect(frames[0].svg).not.toEqual(frames[1].svg);
    await expectImage(await renderGif(frames, [700, 2500]), frames[0], 'gif', 2);
    // The last snapshot loaded: the model is back at epoch 1.
    loadOffsetSnapshot(listOffsetSnapshots(out)[0].file, model);
    expect(tf.max(tf.abs(tf.sub(model.getLayer('conv22_offset').getWeights()[0], kernel))).dataSync()[0]).toBe(0);
    model.dispose();
  });

  it("snapshots a DCN CNN's offset (and mask) convolutions, not its frozen kernels", async () => {
    const model = buildDeformCnn({ seed: 6, deformType: 'dcnv2' });
    const out = path.join(tmp, 'dcn-run');
    await saveOffsetSnapshot(out, 0, model);
    const before = model
      .getLayer('conv21')
      .getWeights()
      .map((w) => w.dataSync().slice());
    const moving = movingDcnCnn('dcnv2', 10);
    model.getLayer('conv21').setWeights(moving.getLayer('conv21').getWeights());
    await saveOffsetSnapshot(out, 1, model);
    const frames = await animationFrames(
      model,
      epochSnapshots(out),
      test,
      0,
      [
        { row: 3, col: 3 },
        { row: 3, col: 3 },
      ],
      1,
    );
    expect(frames).toHaveLength(2);
    expect(frames[0].svg).not.toEqual(frames[1].svg);
    expect(textOf(frames[0])).toContain('DCNv2 model, test digit 0');
    // Loading epoch 0 restores the offset convolution; the kernel stays as it is (frozen in a fine-tune, not in the snapshot).
    loadOffsetSnapshot(listOffsetSnapshots(out)[0].file, model);
    const names = model.getLayer('conv21').weights.map((w) => w.originalName);
    const after = model
      .getLayer('conv21')
      .getWeights()
      .map((w) => w.dataSync());
    const moved = moving
      .getLayer('conv21')
      .getWeights()
      .map((w) => w.dataSync());
    names.forEach((name, i) => expect(Array.from(after[i]), name).toEqual(Array.from(name.includes('/offset_') ? before[i] : moved[i])));
    model.dispose();
    moving.dispose();
  });

  it('draws the scaled-samples grid and the curves', async () => {
    const samples = await scaledSamplesFigure(test);
    // 12 digits of 84 pixels, 10 pixels apart, after a 74-pixel row title, 16-pixel margins.
    expect(samples.width).toBe(2 * 16 + 74 + 12 * 84 + 11 * 10);
    await expectImage(await renderPng(samples), samples, 'png');

    const epochs = [1, 2, 3].map((epoch) => ({
      epoch,
      loss: 1 / epoch,
      accuracy: 0.5 + epoch / 10,
      val: { scaled: { loss: 1.2 / epoch, accuracy: 0.4 + epoch / 10 } },
    }));
    const curves = curvesFigure({
      stages: [
        { title: 'Stage 1', series: [{ label: 'regular', epochs: epochs.map((e) => ({ ...e, val: { plain: e.val.scaled } })) }] },
        {
          title: 'Stage 2',
          series: [
            { label: 'a', epochs },
            { label: 'b', epochs: epochs.slice(0, 1) },
          ],
        },
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
