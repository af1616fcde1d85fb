/**
 * The reference's two MNIST classifiers, layer for layer and name for name
 * (EXPERIMENT.md, "Models"): the layer names are the contract for weight transfer.
 *
 * Regular:    conv11 -> conv11_relu -> conv11_bn -> conv12 (stride 2) -> ... -> conv22_bn
 *             -> avg_pool -> fc1 -> out (softmax)
 * Deformable: the same, with conv12_offset, conv21_offset, conv22_offset in front of
 *             conv12, conv21, conv22.
 * ReLU comes before BatchNorm; BatchNorm is Keras's default (momentum 0.99, epsilon 1e-3),
 * as this package's BatchNormalization (tfjs-layers' layer with a fused training op).
 */

import * as tf from '@tensorflow/tfjs';
import { BatchNormalization } from '../layers/batch_normalization';
import { ConvOffset2D } from '../layers/conv_offset2d';
import { seedFor } from './seeds';

export const INPUT_SHAPE: [number, number, number] = [28, 28, 1];
export const NUM_CLASSES = 10;

/** The convolutions of both models: name, filters, stride (all 3x3, 'same', with bias). */
export const CONV_BLOCKS = [
  { name: 'conv11', filters: 32, strides: 1 },
  { name: 'conv12', filters: 64, strides: 2 },
  { name: 'conv21', filters: 128, strides: 1 },
  { name: 'conv22', filters: 128, strides: 2 },
] as const;

/** conv12, conv21 and conv22 each get an offset layer in the deformable model. */
export const OFFSET_LAYER_NAMES = ['conv12_offset', 'conv21_offset', 'conv22_offset'] as const;

/** The layers learned on plain MNIST that the fine-tune freezes. */
export const BASE_LAYER_NAMES = ['conv11', 'conv12', 'conv21', 'conv22', 'fc1'] as const;

/** Standard deviation of the offset convolutions' RandomNormal initialiser (the reference's 0.01). */
export const OFFSET_INIT_STDDEV = 0.01;

export interface CnnOptions {
  /**
   * Seeds every initialiser (each layer's seed derives from this and its name), so the
   * same seed builds the same weights. Without it, weights come from tfjs's unseeded RNG.
   */
  seed?: number;
  /** false freezes conv11, conv12, conv21, conv22 and fc1 (default true). */
  trainableBase?: boolean;
  /**
   * true freezes the BatchNorm layers: gamma and beta stop learning and, because a
   * frozen layer runs in inference mode (see `forward`), the moving statistics stay put.
   */
  freezeBn?: boolean;
}

/** The regular CNN of the reference. */
export function buildRegularCnn(options: CnnOptions = {}): tf.Sequential {
  return buildCnn('regular_cnn', false, options);
}

/**
 * The deformable CNN of the reference. For the fine-tune, build it with
 * `{ trainableBase: false }` and load the regular weights with `transferWeights`.
 */
export function buildDeformCnn(options: CnnOptions = {}): tf.Sequential {
  return buildCnn('deform_cnn', true, options);
}

function buildCnn(modelName: string, deformable: boolean, options: CnnOptions): tf.Sequential {
  const { seed } = options;
  const layers: tf.layers.Layer[] = [tf.layers.inputLayer({ inputShape: INPUT_SHAPE, name: 'input' })];
  for (const block of CONV_BLOCKS) {
    if (deformable && block.name !== 'conv11') {
      const name = `${block.name}_offset`;
      layers.push(
        new ConvOffset2D({
          name,
          filters: filtersBefore(block.name),
          kernelInitializer: tf.initializers.randomNormal({
            mean: 0,
            stddev: OFFSET_INIT_STDDEV,
            seed: seedFor(seed, name),
          }),
        }),
      );
    }
    layers.push(
      tf.layers.conv2d({
        name: block.name,
        filters: block.filters,
        kernelSize: 3,
        strides: block.strides,
        padding: 'same',
        useBias: true,
        kernelInitializer: tf.initializers.glorotUniform({ seed: seedFor(seed, block.name) }),
        biasInitializer: 'zeros',
      }),
      tf.layers.activation({ name: `${block.name}_relu`, activation: 'relu' }),
      new BatchNormalization({ name: `${block.name}_bn`, momentum: 0.99, epsilon: 1e-3 }),
    );
  }
  layers.push(
    tf.layers.globalAveragePooling2d({ name: 'avg_pool' }),
    tf.layers.dense({
      name: 'fc1',
      units: NUM_CLASSES,
      kernelInitializer: tf.initializers.glorotUniform({ seed: seedFor(seed, 'fc1') }),
      biasInitializer: 'zeros',
    }),
    tf.layers.activation({ name: 'out', activation: 'softmax' }),
  );
  const model = tf.sequential({ name: modelName, layers });
  setTrainable(model, options);
  return model;
}

/** The channel count feeding a convolution: the filters of the block before it. */
function filtersBefore(convName: string): number {
  const index = CONV_BLOCKS.findIndex((b) => b.name === convName);
  return CONV_BLOCKS[index - 1].filters;
}

/**
 * Sets which layers learn: the base layers (conv11, conv12, conv21, conv22, fc1) follow
 * `trainableBase`, the BatchNorm layers follow `!freezeBn`, the offset layers always learn.
 */
export function setTrainable(model: tf.LayersModel, options: Pick<CnnOptions, 'trainableBase' | 'freezeBn'>): void {
  const trainableBase = options.trainableBase ?? true;
  const freezeBn = options.freezeBn ?? false;
  for (const layer of model.layers) {
    if ((BASE_LAYER_NAMES as readonly string[]).includes(layer.name)) {
      layer.trainable = trainableBase;
    } else if (layer.getClassName() === 'BatchNormalization') {
      layer.trainable = !freezeBn;
    }
  }
}

/**
 * Runs `model` layer by layer. In training mode each trainable layer runs in training
 * mode, while a frozen layer runs in inference mode (the modern Keras rule): a frozen
 * BatchNorm normalises with its moving statistics and leaves them untouched.
 */
export function forward(model: tf.LayersModel, x: tf.Tensor, training: boolean): tf.Tensor {
  let h = x;
  for (const layer of model.layers) {
    if (layer.getClassName() === 'InputLayer') continue;
    h = layer.apply(h, { training: training && layer.trainable }) as tf.Tensor;
  }
  return h;
}
