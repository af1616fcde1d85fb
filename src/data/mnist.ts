/**
 * The MNIST loader every command uses. Images stay uint8 (the whole set is ~55 MB) and are
 * turned into float32 [0, 1] NHWC batches only when a batch is asked for.
 */
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { EnvironmentError, UserError } from '../errors';
import { checkFile, mnistFile, MnistFile, MnistSplitName } from './checksums';
import { readIdxImages, readIdxLabels } from './idx';

export const DEFAULT_DATA_DIR = 'data';
export const NUM_CLASSES = 10;
/** Height and width of every MNIST image; the models are built for it. */
export const IMAGE_SIZE = 28;

/** Where the four raw IDX files live inside a data directory. */
export function mnistDir(dataDir: string = DEFAULT_DATA_DIR): string {
  return path.join(dataDir, 'mnist');
}

export interface MnistSplit {
  name: MnistSplitName;
  count: number;
  height: number;
  width: number;
  /** count * height * width pixels, 0..255, image after image, row-major. */
  images: Uint8Array;
  /** count class indices, 0..9. */
  labels: Uint8Array;
}

export interface MnistData {
  train: MnistSplit;
  test: MnistSplit;
}

export interface LoadOptions {
  /** Directory given to `deformconv download` (default 'data'). */
  dataDir?: string;
  /** Check each file's sha256 first (default true; ~50 ms for the whole set). */
  verify?: boolean;
}

/** Loads both splits. Missing data is an EnvironmentError telling the user to run `deformconv download`. */
export async function loadMnist(options: LoadOptions = {}): Promise<MnistData> {
  const [train, test] = await Promise.all([loadMnistSplit('train', options), loadMnistSplit('test', options)]);
  return { train, test };
}

export async function loadMnistSplit(split: MnistSplitName, options: LoadOptions = {}): Promise<MnistSplit> {
  const dataDir = options.dataDir ?? DEFAULT_DATA_DIR;
  const imagesFile = mnistFile(split, 'images');
  const labelsFile = mnistFile(split, 'labels');
  const [imagesPath, labelsPath] = await Promise.all(
    [imagesFile, labelsFile].map((file) => checkedPath(dataDir, file, options.verify ?? true)),
  );
  const [images, labels] = await Promise.all([readIdxImages(imagesPath), readIdxLabels(labelsPath, NUM_CLASSES)]);
  if (images.count !== labels.count) {
    throw new UserError(`count mismatch: ${imagesPath} has ${images.count} images but ${labelsPath} has ${labels.count} labels`);
  }
  if (images.rows !== IMAGE_SIZE || images.cols !== IMAGE_SIZE) {
    throw new UserError(`${imagesPath} holds ${images.rows}x${images.cols} images; MNIST images are ${IMAGE_SIZE}x${IMAGE_SIZE}`);
  }
  return { name: split, count: images.count, height: images.rows, width: images.cols, images: images.pixels, labels: labels.labels };
}

async function checkedPath(dataDir: string, file: MnistFile, verify: boolean): Promise<string> {
  const filePath = path.join(mnistDir(dataDir), file.name);
  const status = verify ? await checkFile(filePath, file) : undefined;
  if (status === 'missing') {
    throw new EnvironmentError(`MNIST not found: ${filePath} is missing; run \`${downloadCommandFor(dataDir)}\``);
  }
  if (status === 'corrupt') {
    throw new EnvironmentError(`${filePath} fails its size or sha256 check; run \`${downloadCommandFor(dataDir)}\` to replace it`);
  }
  return filePath;
}

/** The command that puts the data in `dataDir`, for messages. */
export function downloadCommandFor(dataDir: string): string {
  return path.normalize(dataDir) === DEFAULT_DATA_DIR ? 'deformconv download' : `deformconv download --data-dir ${dataDir}`;
}

/** Pixels of the given images as float32 in [0, 1], NHWC order with one channel, in a new array. */
export function imagesAsFloat(split: MnistSplit, indices: ArrayLike<number>): Float32Array {
  const size = split.height * split.width;
  const out = new Float32Array(indices.length * size);
  for (let b = 0; b < indices.length; b++) {
    const index = checkIndex(split, indices[b]);
    const source = split.images.subarray(index * size, (index + 1) * size);
    for (let p = 0; p < size; p++) out[b * size + p] = source[p] / 255;
  }
  return out;
}

export type LabelEncoding = 'one-hot' | 'int';

export interface MnistBatch {
  /** [n, height, width, 1] float32 in [0, 1]. */
  xs: tf.Tensor4D;
  /** [n, 10] float32 one-hot, or [n] int32 class indices. */
  ys: tf.Tensor2D | tf.Tensor1D;
}

/** A batch of tensors for the given indices; the caller disposes them. */
export function mnistBatch(split: MnistSplit, indices: ArrayLike<number>, labels: LabelEncoding = 'one-hot'): MnistBatch {
  const xs = tf.tensor4d(imagesAsFloat(split, indices), [indices.length, split.height, split.width, 1], 'float32');
  if (labels === 'int') {
    const ints = Int32Array.from({ length: indices.length }, (_, b) => split.labels[checkIndex(split, indices[b])]);
    return { xs, ys: tf.tensor1d(ints, 'int32') };
  }
  const oneHot = new Float32Array(indices.length * NUM_CLASSES);
  for (let b = 0; b < indices.length; b++) oneHot[b * NUM_CLASSES + split.labels[checkIndex(split, indices[b])]] = 1;
  return { xs, ys: tf.tensor2d(oneHot, [indices.length, NUM_CLASSES]) };
}

function checkIndex(split: MnistSplit, index: number): number {
  if (!Number.isInteger(index) || index < 0 || index >= split.count) {
    throw new RangeError(`index ${index} is outside the ${split.name} split (0..${split.count - 1})`);
  }
  return index;
}
