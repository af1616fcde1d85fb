/**
 * Accuracy (and mean cross-entropy) of a model on the plain test set and on the scaled
 * test set.
 *
 * The reference drew fresh random transforms at every evaluation, so its scaled figure
 * moved from run to run. Here the scaled test set is fixed: test image i always gets
 * transform i of the stream drawn from SCALED_TEST_SEED, so every run and every model
 * sees the same scaled digits (the first N images of a limited set are the first N of
 * the full one).
 */

import * as tf from '@tensorflow/tfjs';
import { Rng } from '../augment/random';
import { Interpolation, sampleZoomShift, zoomShift, ZoomShiftParams } from '../augment/zoom_shift';
import { imagesAsFloat, MnistSplit } from '../data/mnist_split';
import { InvalidInputError } from '../errors';
import { forward } from '../models/cnn';
import type { Accuracies } from './table';

/** The seed of the scaled test set (recorded in every metrics file). */
export const SCALED_TEST_SEED = 20170306;
/** The scaled test set uses the reference's resampling, whatever a fine-tune trained with. */
export const SCALED_TEST_INTERPOLATION: Interpolation = 'nearest';

/**
 * How the scaled test set is drawn. The fixed default makes figures comparable; another seed
 * shows how much a figure moves with the draw (the reference redrew it at every evaluation).
 */
export interface ScaledTest {
  seed: number;
  interpolation: Interpolation;
}

export const DEFAULT_SCALED_TEST: ScaledTest = { seed: SCALED_TEST_SEED, interpolation: SCALED_TEST_INTERPOLATION };

/** Which test set: the plain test images, or the same images under the fixed scaled-test transforms. */
export type TestVariant = 'plain' | 'scaled';
/** Both test variants, in the order tables list them. */
export const TEST_VARIANTS: readonly TestVariant[] = ['plain', 'scaled'];

/** The first `count` images of a split, plain or with their fixed scaled-test transforms. */
export interface EvalSet {
  variant: TestVariant;
  split: MnistSplit;
  count: number;
  /** One transform per image for 'scaled'. */
  params?: ZoomShiftParams[];
  /** The resampling of the transforms. */
  interpolation: Interpolation;
}

/** A model's figures on one EvalSet. */
export interface EvalResult {
  /** Mean categorical cross-entropy (NaN when the model output NaN). */
  loss: number;
  /** Fraction of images classified correctly, 0..1. */
  accuracy: number;
  /** Number of images evaluated. */
  count: number;
}

/** The transforms of the first `count` scaled test images. */
export function scaledTestParams(count: number, seed: number = SCALED_TEST_SEED): ZoomShiftParams[] {
  return sampleZoomShift(count, new Rng(seed));
}

/** The plain or scaled version of the first `count` images of `split` (all by default). */
export function evalSet(split: MnistSplit, variant: TestVariant, count: number = split.count, scaledTest = DEFAULT_SCALED_TEST): EvalSet {
  if (!Number.isInteger(count) || count < 1 || count > split.count) {
    throw new InvalidInputError(`evaluation size must be 1..${split.count} (the ${split.name} split), got ${count}`);
  }
  const params = variant === 'scaled' ? scaledTestParams(count, scaledTest.seed) : undefined;
  return { variant, split, count, params, interpolation: scaledTest.interpolation };
}

/** The images of `set` from `start` (inclusive) to `end` (exclusive) as a float tensor, transformed if scaled. */
export function evalImages(set: EvalSet, start: number, end: number): tf.Tensor4D {
  const indices = Array.from({ length: end - start }, (_, i) => start + i);
  const { split } = set;
  const xs = tf.tensor4d(imagesAsFloat(split, indices), [indices.length, split.height, split.width, 1]);
  if (set.params === undefined) return xs;
  const scaled = zoomShift(xs, set.params.slice(start, end), { interpolation: set.interpolation });
  xs.dispose();
  return scaled;
}

/** Mean categorical cross-entropy and accuracy of `model` on `set`, in inference mode. */
export async function evaluate(model: tf.LayersModel, set: EvalSet, batchSize = 500): Promise<EvalResult> {
  let lossSum = 0;
  let correct = 0;
  for (let start = 0; start < set.count; start += batchSize) {
    const end = Math.min(start + batchSize, set.count);
    const labels = set.split.labels.subarray(start, end);
    const sums = tf.tidy(() => {
      const probs = forward(model, evalImages(set, start, end), false);
      const oneHot = tf.oneHot(tf.tensor1d(Int32Array.from(labels), 'int32'), probs.shape[1] as number);
      return [tf.sum(probs), tf.sum(tf.metrics.categoricalCrossentropy(oneHot, probs)), countCorrect(probs, oneHot)];
    });
    // Read asynchronously: GPU backends stall (webgpu can even fail) on synchronous reads.
    const [outputSum, batchLoss, batchCorrect] = (await Promise.all(sums.map((t) => t.data()))).map((values) => values[0]);
    tf.dispose(sums);
    // The loss clips probabilities (and with them NaN); a NaN output makes the loss NaN.
    lossSum += Number.isFinite(outputSum) ? batchLoss : NaN;
    correct += batchCorrect;
    // Let signals (Ctrl-C), timers and a page's events run between batches (setTimeout: browsers have no setImmediate).
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  return { loss: lossSum / set.count, accuracy: correct / set.count, count: set.count };
}

/** The class `model` predicts for each image of `set`, as one digit character per image (in inference mode). */
export async function predictedDigits(model: tf.LayersModel, set: EvalSet, batchSize = 500): Promise<string> {
  let digits = '';
  for (let start = 0; start < set.count; start += batchSize) {
    const classes = tf.tidy(() => tf.argMax(forward(model, evalImages(set, start, Math.min(start + batchSize, set.count)), false), -1));
    digits += Array.from(await classes.data()).join('');
    classes.dispose();
  }
  return digits;
}

/** How many rows of `probs` have their maximum at the one-hot label. */
export function countCorrect(probs: tf.Tensor, oneHot: tf.Tensor): tf.Scalar {
  return tf.sum(tf.cast(tf.equal(tf.argMax(probs, -1), tf.argMax(oneHot, -1)), 'float32'));
}

/** Accuracy of `model` on the first `limit` plain and scaled test images. */
export async function evaluateModel(
  model: tf.LayersModel,
  test: MnistSplit,
  limit?: number,
  scaledTest = DEFAULT_SCALED_TEST,
): Promise<Accuracies> {
  const accuracies = {} as Accuracies;
  for (const variant of TEST_VARIANTS) {
    accuracies[variant] = (await evaluate(model, evalSet(test, variant, limit ?? test.count, scaledTest))).accuracy;
  }
  return accuracies;
}
