/**
 * The figures of `deformconv visualize` (and of the report), built from models and the
 * test set (browser-safe: experiment/write_pictures.ts loads the checkpoints and writes them):
 *   offsets.png         sampling locations of one conv22 unit, regular vs deformable, plain and scaled digit
 *                       (the reference's offset layers, or DCN / DCNv2's DeformConv2D layers)
 *   offset-field.png    mean offset per pixel of each offset layer, as arrows (the reference's offset layers only)
 *   offsets-epochs.gif  the deformable sampling locations after each fine-tune epoch (needs offset snapshots)
 *   scaled-samples.png  test digits, plain and as the fixed scaled test set shows them
 *   curves.png          loss and accuracy per epoch of both stages, from the metrics JSON
 */

import * as tf from '@tensorflow/tfjs';
import { imagesAsFloat, MnistSplit } from '../data/mnist_split';
import { DeformType, INPUT_SHAPE } from '../models/cnn';
import { InvalidInputError } from '../errors';
import { evalImages, evalSet, SCALED_TEST_INTERPOLATION, SCALED_TEST_SEED, scaledTestParams } from '../evaluation/evaluate';
import { arrowFieldFigure, FieldRow } from './arrow_field';
import { CurveSeries, CurveStage, curvesFigure } from './curves';
import { CHANNEL_COMBINATION, cnnTraceLayers, cnnUnitGrid, modelDeformType, OffsetReadout, readOffsetsAsync } from '../tracing/offsets';
import { samplesGridFigure } from './samples_grid';
import { samplingFigure, samplingLegend, TraceRow } from './sampling_figure';
import { Figure } from './svg';
import { imageScale, toImage, traceSamplingLocations } from '../tracing/tracer';

/** The file name of each picture `visualize` (and the report) writes. */
export const PICTURE_FILES = {
  offsets: 'offsets.png',
  field: 'offset-field.png',
  animation: 'offsets-epochs.gif',
  samples: 'scaled-samples.png',
  curves: 'curves.png',
} as const;

/** A picture's key in PICTURE_FILES: 'offsets', 'field', 'animation', 'samples' or 'curves'. */
export type PictureName = keyof typeof PICTURE_FILES;

/** A unit of conv22's 7x7 output. */
export interface Unit {
  row: number;
  col: number;
}

/** One test digit, plain and scaled, as the pictures show it. */
interface DigitPair {
  index: number;
  label: number;
  /** [plain, scaled], 28 * 28 values in [0, 1] each. */
  images: [Float32Array, Float32Array];
  batch: tf.Tensor4D;
}

const VARIANT_NAMES = ['plain', 'scaled'] as const;
/** Digits per row of the scaled-samples picture. */
export const SAMPLE_COLUMNS = 12;

/** Test digit `index`, plain and with its transform of the fixed scaled test set; the caller disposes `batch`. */
async function digitPair(test: MnistSplit, index: number): Promise<DigitPair> {
  if (!Number.isInteger(index) || index < 0 || index >= test.count) {
    throw new InvalidInputError(`the test digit's index must be 0..${test.count - 1}, got ${index}`);
  }
  const plain = evalImages(evalSet(test, 'plain', index + 1), index, index + 1);
  const scaled = evalImages(evalSet(test, 'scaled', index + 1), index, index + 1);
  const batch = tf.concat([plain, scaled]) as tf.Tensor4D;
  tf.dispose([plain, scaled]);
  const data = (await batch.data()) as Float32Array;
  const size = test.height * test.width;
  return { index, label: test.labels[index], images: [data.slice(0, size), data.slice(size, 2 * size)], batch };
}

/**
 * The conv22 unit nearest the ink's centre of mass (the unit whose receptive field is
 * centred on the digit), so that the picture looks at the digit even when it is small
 * and shifted.
 */
export function unitOnInk(image: ArrayLike<number>, height: number, width: number): Unit {
  let total = 0;
  let sumY = 0;
  let sumX = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const v = image[y * width + x];
      total += v;
      sumY += v * y;
      sumX += v * x;
    }
  }
  const centreY = total > 0 ? sumY / total : (height - 1) / 2;
  const centreX = total > 0 ? sumX / total : (width - 1) / 2;
  return nearestUnit(centreY, centreX);
}

/** The conv22 unit whose centre lies nearest (y, x), in image pixels. */
export function nearestUnit(y: number, x: number): Unit {
  const layers = cnnTraceLayers({});
  const grid = cnnUnitGrid();
  let best: Unit = { row: 0, col: 0 };
  let bestDistance = Infinity;
  for (let row = 0; row < grid.rows; row++) {
    for (let col = 0; col < grid.cols; col++) {
      const [iy, ix] = toImage(layers, -1, row, col);
      const distance = Math.hypot(iy - y, ix - x);
      if (distance < bestDistance) {
        bestDistance = distance;
        best = { row, col };
      }
    }
  }
  return best;
}

function prediction(probabilities: Float32Array | undefined): string | undefined {
  if (probabilities === undefined) return undefined;
  let best = 0;
  for (let k = 1; k < probabilities.length; k++) if (probabilities[k] > probabilities[best]) best = k;
  return `predicts ${best} (${(probabilities[best] * 100).toFixed(1)}%)`;
}

function variantTitle(pair: DigitPair, variant: number): string {
  return `${VARIANT_NAMES[variant]} test digit ${pair.index} (label ${pair.label})`;
}

/** The models and the test digit an offset picture shows. */
export interface OffsetFigureInput {
  /** The deformable CNN (with offset layers, or DeformConv2D layers). */
  deform: tf.LayersModel;
  /** The regular CNN, for its predictions (its grid is rigid whatever its weights). */
  regular?: tf.LayersModel;
  test: MnistSplit;
  /** The test digit shown (plain and scaled). */
  index: number;
  /** The traced unit (default: the unit nearest the ink, for each digit). */
  unit?: Unit;
  /** Describes the deformable model in captions, e.g. "checkpoints/deform, 20 fine-tune epochs". */
  deformLabel: string;
}

/** What a DeformConv2D CNN's sampling-location points are (DCN and DCNv2 captions). */
const TAP_POINTS =
  'Its conv12, conv21 and conv22 are DeformConv2D layers, which learn one offset (dy, dx) per kernel tap at each output ' +
  'position, so each point is exactly where its tap samples, nothing combined (where a lower unit sits at a moved, ' +
  'fractional position, the offsets of the four nearest output positions are blended bilinearly). Points that read ' +
  'only the zeros outside the input are not drawn.';

/** How the pictures name a kind of deformable CNN and say how its points are placed. */
interface DeformKindText {
  /** In curve labels. */
  short: string;
  /** In titles and captions. */
  name: string;
  /** Above its panel of the sampling-location picture. */
  heading: string;
  /** The animation's caption: how its points are placed. */
  points: string;
  /** The sampling-location caption: how its points are placed. */
  caption: string;
}

const DEFORM_KINDS: Readonly<Record<DeformType, DeformKindText>> = {
  seed: {
    short: 'deformable',
    name: 'deformable CNN',
    heading: 'deformable CNN: learned offsets',
    points: `channels combined by ${CHANNEL_COMBINATION}`,
    caption:
      `Its offset layers learn one offset per channel; the picture combines the channels by ${CHANNEL_COMBINATION} (at ` +
      `each pixel, the mean (dy, dx) of all channels, bilinearly interpolated between pixels), so each point is where that ` +
      `mean offset moves a tap; single channels sample elsewhere around it. Taps in zero padding are not drawn.`,
  },
  dcn: {
    short: 'DCN',
    name: 'DCN model',
    heading: 'DCN: learned offsets per kernel tap',
    points: 'each tap moved by its own offset (DCN)',
    caption: TAP_POINTS,
  },
  dcnv2: {
    short: 'DCNv2',
    name: 'DCNv2 model',
    heading: 'DCNv2: learned offsets and masks per tap',
    points: "each tap moved by its own offset, a dot's opacity following the product of the masks along its path (DCNv2)",
    caption:
      `${TAP_POINTS} DCNv2 also multiplies each tap's sample by a learned mask in (0, 1): a red dot's opacity is ` +
      'proportional to the product of the masks along its path (the largest product at full strength).',
  },
};

/**
 * The sampling-location picture for one test digit, and the arrow-field picture for a
 * CNN with the reference's offset layers (undefined for DCN: its offsets are per kernel
 * tap at each output position, not one field over a layer's input grid).
 */
export async function offsetFigures(
  input: OffsetFigureInput,
): Promise<{ sampling: Figure; field: Figure | undefined; units: [Unit, Unit] }> {
  const kind = modelDeformType(input.deform);
  if (kind === null) {
    throw new InvalidInputError(
      'the model given as the deformable CNN has no offset layers (ConvOffset2D) and no DeformConv2D layers; the offset ' +
        'pictures need a deformable checkpoint, not a regular or bn-only one',
    );
  }
  const pair = await digitPair(input.test, input.index);
  try {
    const deform = await readOffsetsAsync(input.deform, pair.batch);
    const regular = input.regular === undefined ? undefined : await readOffsetsAsync(input.regular, pair.batch);
    const units = pair.images.map((image) => input.unit ?? unitOnInk(image, input.test.height, input.test.width)) as [Unit, Unit];
    const sampling = samplingFigure({
      rows: traceRows(pair, units, kind, deform, regular),
      caption: samplingCaption(kind, input.deformLabel, units),
    });
    const field =
      kind === 'seed' ? arrowFieldFigure({ rows: fieldRows(pair, deform), caption: fieldCaption(input.deformLabel) }) : undefined;
    return { sampling, field, units };
  } finally {
    pair.batch.dispose();
  }
}

function traceRows(
  pair: DigitPair,
  units: Unit[],
  kind: DeformType,
  deform: OffsetReadout,
  regular: OffsetReadout | undefined,
): TraceRow[] {
  return pair.images.map((image, v) => ({
    title: variantTitle(pair, v),
    panels: [
      {
        heading: 'regular CNN: rigid 3x3 grids',
        subheading: prediction(regular?.probabilities[v]),
        ...digitImage(image),
        trace: traceSamplingLocations(cnnTraceLayers({}), units[v]),
      },
      {
        heading: DEFORM_KINDS[kind].heading,
        subheading: prediction(deform.probabilities[v]),
        ...digitImage(image),
        trace: traceSamplingLocations(cnnTraceLayers(deform.fields[v], deform.tapFields[v]), units[v]),
      },
    ],
  }));
}

function digitImage(image: Float32Array): { image: Float32Array; height: number; width: number } {
  return { image, height: INPUT_SHAPE[0], width: INPUT_SHAPE[1] };
}

function unitsText(units: Unit[]): string {
  const [plain, scaled] = units;
  return plain.row === scaled.row && plain.col === scaled.col
    ? `unit (${plain.row}, ${plain.col}) of conv22's 7x7 output in both rows`
    : `unit (${plain.row}, ${plain.col}) of conv22's 7x7 output for the plain digit, (${scaled.row}, ${scaled.col}) for the scaled one`;
}

function samplingCaption(kind: DeformType, deformLabel: string, units: Unit[]): string {
  return (
    `Where one output unit looks: ${unitsText(units)} (the unit nearest the ink's centre unless chosen), traced down through ` +
    `conv22 (stride 2), conv21 and conv12 (stride 2) to the input, as in Dai et al. 2017, Fig. 6. Left: the regular CNN, ` +
    `whose grids are rigid. Right: the ${DEFORM_KINDS[kind].name} (${deformLabel}). ${DEFORM_KINDS[kind].caption} ${samplingLegend('conv22', 3)}`
  );
}

function fieldRows(pair: DigitPair, deform: OffsetReadout): FieldRow[] {
  return pair.images.map((image, v) => {
    const layers = cnnTraceLayers(deform.fields[v]);
    // Bottom (conv12_offset, on the image grid) first, like the network.
    const panels = layers
      .map((layer, level) => ({ layer, level }))
      .reverse()
      .map(({ layer, level }) => ({
        heading: `${layer.name}_offset (${layer.inputHeight}x${layer.inputWidth} grid)`,
        field: layer.offsets as NonNullable<typeof layer.offsets>,
        toImage: (y: number, x: number) => toImage(layers, level, y, x),
        scale: imageScale(layers, level),
      }));
    return { title: variantTitle(pair, v), ...digitImage(image), panels };
  });
}

function fieldCaption(deformLabel: string): string {
  return (
    `The offsets of each offset layer of the deformable CNN (${deformLabel}) on this digit: one arrow per pixel of the ` +
    `layer's input grid, from the pixel to where its tap is moved, drawn in image pixels (a 14x14 grid pixel spans 2 image ` +
    `pixels). Each arrow is ${CHANNEL_COMBINATION} at that pixel. Arrows are scaled by the factor above each panel ` +
    `to be visible; shorter than 1.5 picture pixels after scaling are left out.`
  );
}

/** A fine-tune's offsets after some epoch, as a snapshot that can be loaded into its model. */
export interface EpochSnapshot {
  epoch: number;
  /** Writes the snapshot's weights into the deformable CNN it was taken from. */
  loadInto(model: tf.LayersModel): void;
}

/**
 * Frames of the deformable sampling locations after each snapshot epoch. `model` must be
 * the deformable CNN the snapshots were taken from; its weights are replaced by each
 * snapshot's in turn (the last frame is the final epoch's). Fewer than two snapshots: no frames.
 */
export async function animationFrames(
  model: tf.LayersModel,
  snapshots: readonly EpochSnapshot[],
  test: MnistSplit,
  index: number,
  units: [Unit, Unit],
  totalEpochs: number,
): Promise<Figure[]> {
  if (snapshots.length < 2) return [];
  const kind = modelDeformType(model) ?? 'seed';
  const pair = await digitPair(test, index);
  try {
    const frames: Figure[] = [];
    for (const snapshot of snapshots) {
      snapshot.loadInto(model);
      const readout = await readOffsetsAsync(model, pair.batch);
      const rows: TraceRow[] = [
        {
          title: `${DEFORM_KINDS[kind].name}, test digit ${pair.index} (label ${pair.label})`,
          panels: pair.images.map((image, v) => ({
            heading: VARIANT_NAMES[v],
            subheading: prediction(readout.probabilities[v]),
            ...digitImage(image),
            trace: traceSamplingLocations(cnnTraceLayers(readout.fields[v], readout.tapFields[v]), units[v]),
          })),
        },
      ];
      const when = snapshot.epoch === 0 ? 'before fine-tuning (epoch 0)' : `after fine-tune epoch ${snapshot.epoch} of ${totalEpochs}`;
      frames.push(
        samplingFigure({
          title: when,
          rows,
          caption:
            `Sampling locations of ${unitsText(units)} as the fine-tune goes on; ${DEFORM_KINDS[kind].points}. ` +
            samplingLegend('conv22', 3),
        }),
      );
    }
    return frames;
  } finally {
    pair.batch.dispose();
  }
}

/** The first `count` test digits, plain and as the fixed scaled test set shows them (labels and zoom factors). */
export async function scaledSamplesFigure(test: MnistSplit, count = 2 * SAMPLE_COLUMNS, columns = SAMPLE_COLUMNS): Promise<Figure> {
  if (count > test.count) throw new InvalidInputError(`cannot show ${count} digits of a ${test.count}-image test set`);
  const set = evalSet(test, 'scaled', count);
  const scaledTensor = evalImages(set, 0, count);
  const scaled = (await scaledTensor.data()) as Float32Array;
  scaledTensor.dispose();
  const params = scaledTestParams(count);
  const plain = imagesAsFloat(
    test,
    Array.from({ length: count }, (_, i) => i),
  );
  const size = test.height * test.width;
  const rows = [];
  for (let start = 0; start < count; start += columns) {
    const indices = Array.from({ length: Math.min(columns, count - start) }, (_, i) => start + i);
    rows.push({
      title: 'plain',
      digits: indices.map((i) => ({ image: plain.subarray(i * size, (i + 1) * size), label: `#${i}: ${test.labels[i]}` })),
    });
    rows.push({
      title: 'scaled',
      digits: indices.map((i) => ({
        image: scaled.subarray(i * size, (i + 1) * size),
        label: `zoom ${params[i].zoomRow.toFixed(1)}x${params[i].zoomCol.toFixed(1)}`,
      })),
    });
  }
  return samplesGridFigure({
    height: test.height,
    width: test.width,
    rows,
    caption:
      `The first ${count} test digits (#index: label), plain and scaled as the scaled test set has them ` +
      `(seed ${SCALED_TEST_SEED}, ${SCALED_TEST_INTERPOLATION} resampling; zoom rows x columns, a zoom z shows the digit ` +
      `at 1/z of its size, and a shift of up to 20% in each direction).`,
  });
}

/** The curves of a regular run (stage 1) and fine-tune runs (stage 2). */
export function trainingCurvesFigure(regular: CurveSeries | undefined, finetunes: CurveSeries[]): Figure {
  const stages: CurveStage[] = [];
  if (regular !== undefined) stages.push({ title: 'Stage 1: regular CNN on plain MNIST', series: [regular] });
  if (finetunes.length > 0) stages.push({ title: 'Stage 2: fine-tunes on scaled MNIST', series: finetunes });
  if (stages.length === 0) throw new InvalidInputError('no training metrics to plot');
  return curvesFigure({
    stages,
    caption:
      "Solid lines, dots: training loss and accuracy, averaged over the epoch's batches (in training mode, while the weights change). " +
      'Dashed lines, squares: validation after the epoch, on plain test digits for stage 1 and on scaled test digits for stage 2 ' +
      '(the first --val-limit images of the test set). A single point per run means one epoch.',
  });
}

/** The stage-2 curve label of a fine-tune, e.g. "DCN, offsets + BN". */
export function finetuneCurveLabel(config: { deformType?: DeformType; freezeBn: boolean }): string {
  return `${DEFORM_KINDS[config.deformType ?? 'seed'].short}, offsets${config.freezeBn ? ' only' : ' + BN'}`;
}
