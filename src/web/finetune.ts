/**
 * Fine-tuning the deformable CNN in the page, with finetune-deform's recipe (Adam 5e-4,
 * batch 32, the offsets and BatchNorm learn, the trained convolutions and the classifier
 * stay frozen, a fresh random zoom and shift for every digit in every epoch), on a few
 * hundred test digits that the page scores nowhere else, through the training loop's own
 * step (shardGradientTensors). Values are read asynchronously, as GPU backends need.
 */
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../augment/random';
import { sampleZoomShift, zoomShift } from '../augment/zoom_shift';
import { mnistBatch, MnistSplit } from '../data/mnist_split';
import { SCALED_TEST_INTERPOLATION } from '../evaluation/evaluate';
import { setTrainable } from '../models/cnn';
import { createAdam } from '../optimizers/adam';
import { DEFAULT_BATCH_SIZE, STAGE_SPECS } from '../training/config';
import { shardGradientTensors, trainableVariables } from '../training/parallel/replica';

/** The test digits the page fine-tunes on (the accuracy it shows is on the first digits, well before them). */
export const FINETUNE_DIGITS = { first: 5000, count: 256 } as const;

/** One finished step. */
export interface FinetuneStep {
  epoch: number;
  step: number;
  steps: number;
  loss: number;
  /** Wall time of this step. */
  milliseconds: number;
}

export interface FinetuneOptions {
  epochs: number;
  /** Seeds the order and the transforms. */
  seed: number;
  onStep(step: FinetuneStep): void;
  /** Polled between steps: true stops the fine-tune. */
  shouldStop?: () => boolean;
}

/** Fine-tunes `model` (the deformable CNN, changed in place) and returns every step's loss. */
export async function finetuneInPage(model: tf.LayersModel, test: MnistSplit, options: FinetuneOptions): Promise<number[]> {
  setTrainable(model, { trainableBase: false, freezeBn: false });
  const variables = trainableVariables(model);
  const optimizer = createAdam(STAGE_SPECS.deform.defaults.learningRate);
  const rng = new Rng(options.seed);
  const steps = Math.ceil(FINETUNE_DIGITS.count / DEFAULT_BATCH_SIZE);
  const losses: number[] = [];
  try {
    for (let epoch = 1; epoch <= options.epochs; epoch++) {
      const order = rng.permutation(FINETUNE_DIGITS.count).map((i) => FINETUNE_DIGITS.first + i);
      const transforms = sampleZoomShift(FINETUNE_DIGITS.count, rng);
      for (let step = 0; step < steps; step++) {
        if (options.shouldStop?.()) return losses;
        const start = performance.now();
        const begin = step * DEFAULT_BATCH_SIZE;
        const end = Math.min(begin + DEFAULT_BATCH_SIZE, FINETUNE_DIGITS.count);
        const loss = await trainStep(model, variables, optimizer, test, order.subarray(begin, end), transforms.slice(begin, end));
        losses.push(loss);
        options.onStep({ epoch, step: step + 1, steps, loss, milliseconds: performance.now() - start });
      }
    }
    return losses;
  } finally {
    optimizer.dispose();
  }
}

async function trainStep(
  model: tf.LayersModel,
  variables: tf.Variable[],
  optimizer: tf.Optimizer,
  test: MnistSplit,
  indices: Int32Array,
  transforms: ReturnType<typeof sampleZoomShift>,
): Promise<number> {
  const { xs, ys } = mnistBatch(test, indices);
  const scaled = zoomShift(xs, transforms, { interpolation: SCALED_TEST_INTERPOLATION });
  const t = shardGradientTensors(model, variables, scaled, ys);
  tf.tidy(() => optimizer.applyGradients(variables.map((v, i) => ({ name: v.name, tensor: t.grads[i] }))));
  const loss = (await t.loss.data())[0];
  tf.dispose([xs, ys, scaled, t.loss, t.correct, t.outputSum, ...t.grads]);
  return loss;
}
