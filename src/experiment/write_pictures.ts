/**
 * The pictures of `deformconv visualize` and of the report, from checkpoint directories
 * to image files: loads the models, their metrics and per-epoch offset snapshots, builds
 * the figures (reporting/figures.ts) and renders them with sharp.
 */

import * as path from 'node:path';
import { MnistSplit } from '../data/mnist_split';
import { CurveSeries } from '../reporting/curves';
import {
  animationFrames,
  EpochSnapshot,
  finetuneCurveLabel,
  offsetFigures,
  PICTURE_FILES,
  PictureName,
  scaledSamplesFigure,
  trainingCurvesFigure,
  Unit,
} from '../reporting/figures';
import { writeGif, writePng } from '../reporting/render_images';
import { listOffsetSnapshots, loadOffsetSnapshot } from '../training/offset_snapshots';
import { readStageMetrics } from '../training/state';
import { loadTrainedModel } from '../training/train';

const FRAME_DELAY_MS = 700;
const LAST_FRAME_DELAY_MS = 2500;

/** What writePictures draws from, and where the pictures go. */
export interface WritePicturesOptions {
  /** Directory the pictures go to. */
  out: string;
  test: MnistSplit;
  /** Deformable-CNN checkpoint directory: offsets.png, offset-field.png, offsets-epochs.gif. */
  deform?: string;
  /** Regular-CNN checkpoint directory: its predictions and its curves. */
  regular?: string;
  /** The test digit of the offset pictures (default 0). */
  index?: number;
  /** The traced conv22 unit (default: the unit nearest the digit's ink). */
  unit?: Unit;
  /** Fine-tune runs to plot in stage 2 (default: the deformable checkpoint's). */
  finetuneCurves?: CurveSeries[];
  log?: (line: string) => void;
}

/** The pictures written, by name. */
export type WrittenPictures = Partial<Record<PictureName, string>>;

/** Writes every picture its inputs allow; returns their paths by name. */
export async function writePictures(options: WritePicturesOptions): Promise<WrittenPictures> {
  const written: WrittenPictures = options.deform === undefined ? {} : await writeOffsetPictures(options, options.deform);
  written.samples = await writePng(picturePath(options, 'samples'), await scaledSamplesFigure(options.test));
  const regularCurve =
    options.regular === undefined ? undefined : { label: 'regular CNN', epochs: readStageMetrics(options.regular).epochs };
  const finetunes = options.finetuneCurves ?? (options.deform === undefined ? [] : [finetuneCurve(options.deform)]);
  if (regularCurve !== undefined || finetunes.length > 0) {
    written.curves = await writePng(picturePath(options, 'curves'), trainingCurvesFigure(regularCurve, finetunes));
  }
  return written;
}

/** The stage-2 curve of a fine-tune checkpoint directory. */
export function finetuneCurve(dir: string): CurveSeries {
  const metrics = readStageMetrics(dir);
  return { label: finetuneCurveLabel(metrics.config), epochs: metrics.epochs };
}

function picturePath(options: WritePicturesOptions, name: PictureName): string {
  return path.join(options.out, PICTURE_FILES[name]);
}

/** offsets.png, offset-field.png (the reference's offset layers only) and the per-epoch GIF of a deformable checkpoint. */
async function writeOffsetPictures(options: WritePicturesOptions, deformDir: string): Promise<WrittenPictures> {
  const log = options.log ?? (() => undefined);
  const written: WrittenPictures = {};
  const index = options.index ?? 0;
  const deform = loadTrainedModel(deformDir);
  const regular = options.regular === undefined ? undefined : loadTrainedModel(options.regular);
  try {
    const { config, epoch } = deform.state;
    const deformLabel = `${deformDir}, ${epoch} fine-tune epoch${epoch === 1 ? '' : 's'}${config.freezeBn ? ', BatchNorm frozen' : ''}`;
    const figures = await offsetFigures({
      deform: deform.model,
      regular: regular?.model,
      test: options.test,
      index,
      unit: options.unit,
      deformLabel,
    });
    written.offsets = await writePng(picturePath(options, 'offsets'), figures.sampling);
    if (figures.field !== undefined) {
      written.field = await writePng(picturePath(options, 'field'), figures.field);
    } else {
      log(
        `${deformDir} is a --deform-type ${config.deformType} checkpoint: ${PICTURE_FILES.field} not drawn (DeformConv2D ` +
          `offsets are per kernel tap at each output position, not one field per pixel; ${PICTURE_FILES.offsets} shows them)`,
      );
    }
    const frames = await animationFrames(deform.model, epochSnapshots(deformDir), options.test, index, figures.units, config.epochs);
    if (frames.length > 0) {
      const delays = frames.map((_, i) => (i === frames.length - 1 ? LAST_FRAME_DELAY_MS : FRAME_DELAY_MS));
      written.animation = await writeGif(picturePath(options, 'animation'), frames, delays);
    } else {
      log(`no per-epoch offset snapshots in ${deformDir}: ${PICTURE_FILES.animation} not drawn`);
    }
  } finally {
    deform.model.dispose();
    regular?.model.dispose();
  }
  return written;
}

/** The per-epoch offset snapshots a fine-tune saved in its checkpoint directory. */
export function epochSnapshots(checkpointDir: string): EpochSnapshot[] {
  return listOffsetSnapshots(checkpointDir).map(({ epoch, file }) => ({ epoch, loadInto: (model) => loadOffsetSnapshot(file, model) }));
}
