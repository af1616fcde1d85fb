/**
 * MNIST in memory: the splits as loaded (uint8 pixels, class labels) and the float32
 * batches made from them. No file access, so it runs in a browser as in Node.
 */
import * as tf from '@tensorflow/tfjs';
import { UserError } from '../errors';
import type { IdxImages, IdxLabels } from './idx';

/** MNIST's two splits. */
export type MnistSplitName = 'train' | 'test';

/** MNIST's classes: the digits 0 to 9. */
export const NUM_CLASSES = 10;
/** Height and width of every MNIST image; the models are built for it. */
export const IMAGE_SIZE = 28;

/** One MNIST split in memory, as parsed from its IDX files. */
export interface MnistSplit {
  /** 'train' or 'test'. */
  name: MnistSplitName;
  /** Number of images (60,000 train, 10,000 test, fewer when limited). */
  count: number;
  /** Image height in pixels (28). */
  height: number;
  /** Image width in pixels (28). */
  width: number;
  /** count * height * width pixels, 0..255, image after image, row-major. */
  images: Uint8Array;
  /** count class indices, 0..9. */
  labels: Uint8Array;
}

/** Both MNIST splits. */
export interface MnistData {
  train: MnistSplit;
  test: MnistSplit;
}

/** A split's two parsed IDX files, and their names for messages. */
export interface SplitFiles {
  images: IdxImages;
  labels: IdxLabels;
  imagesFile: string;
  labelsFile: string;
}

/** The split the two files make; a UserError unless they hold as many 28x28 images as labels. */
export function mnistSplit(name: MnistSplitName, files: SplitFiles): MnistSplit {
  const { images, labels, imagesFile, labelsFile } = files;
  if (images.count !== labels.count) {
    throw new UserError(`count mismatch: ${imagesFile} has ${images.count} images but ${labelsFile} has ${labels.count} labels`);
  }
  if (images.rows !== IMAGE_SIZE || images.cols !== IMAGE_SIZE) {
    throw new UserError(`${imagesFile} holds ${images.rows}x${images.cols} images; MNIST images are ${IMAGE_SIZE}x${IMAGE_SIZE}`);
  }
  return { name, count: images.count, height: images.rows, width: images.cols, images: images.pixels, labels: labels.labels };
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

/** How mnistBatch encodes labels: one-hot float32 rows, or int32 class indices. */
export type LabelEncoding = 'one-hot' | 'int';

/** Images and labels as tensors, owned by the caller. */
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
