/**
 * The reference's two MNIST classifiers, layer for layer and name for name
 * (docs/EXPERIMENT.md, "The two models"): the layer names are the contract for weight transfer.
 *
 * Regular:    conv11 -> conv11_relu -> conv11_bn -> conv12 (stride 2) -> ... -> conv22_bn
 *             -> avg_pool -> fc1 -> out (softmax)
 * Deformable: the same, with conv12_offset, conv21_offset, conv22_offset in front of
 *             conv12, conv21, conv22 (deformType 'seed', the reference's ConvOffset2D);
 *             or with conv12, conv21, conv22 themselves DeformConv2D layers (deformType
 *             'dcn', or 'dcnv2' with a mask) under the same names, nothing in front.
 * ReLU comes before BatchNorm; BatchNorm is Keras's default (momentum 0.99, epsilon 1e-3),
 * as this package's BatchNormalization (tfjs-layers' layer with a fused training op);
 * the convolutions are this package's Conv2D (tfjs-layers' layer, gradients only where needed).
 */

import * as tf from '@tensorflow/tfjs';
import { BatchNormalization } from '../layers/batch_normalization';
import { Conv2D } from '../layers/conv2d_layer';
import { ConvOffset2D } from '../layers/conv_offset2d';
import { DeformConv2D } from '../layers/deform_conv2d_layer';
import { useFastLayersWhenLoading } from '../layers/fast_layers';
import { InvalidInputError } from '../errors';
import { seedFor } from './seeds';

// The models rebuild from their JSON (in the training workers) with the fast layers they were built with.
useFastLayersWhenLoading();

/** The models' input: one 28x28 grey MNIST image, [height, width, channels]. */
export const INPUT_SHAPE: [number, number, number] = [28, 28, 1];
export const NUM_CLASSES = 10;

/** The convolutions of both models: name, filters, stride (all 3x3, 'same', with bias). */
export const CONV_BLOCKS = [
  { name: 'conv11', filters: 32, strides: 1 },
  { name: 'conv12', filters: 64, strides: 2 },
  { name: 'conv21', filters: 128, strides: 1 },
  { name: 'conv22', filters: 128, strides: 2 },
] as const;

/** The convolutions that the deformable model deforms. */
export const DEFORMED_CONV_NAMES = ['conv12', 'conv21', 'conv22'] as const;

/** conv12, conv21 and conv22 each get an offset layer in the 'seed' deformable model. */
export const OFFSET_LAYER_NAMES = ['conv12_offset', 'conv21_offset', 'conv22_offset'] as const;

/**
 * How the deformable model deforms conv12, conv21 and conv22:
 *   seed   the reference's: a ConvOffset2D in front of each (one offset per channel and pixel);
 *   dcn    each is a DeformConv2D (DCN: one offset per kernel tap);
 *   dcnv2  each is a modulated DeformConv2D (DCNv2: an offset and a mask per kernel tap).
 */
export type DeformType = 'seed' | 'dcn' | 'dcnv2';
/** Every DeformType, 'seed' (the reference's, the default) first. */
export const DEFORM_TYPES: readonly DeformType[] = ['seed', 'dcn', 'dcnv2'];

/** The layers learned on plain MNIST that the fine-tune freezes. */
export const BASE_LAYER_NAMES = ['conv11', 'conv12', 'conv21', 'conv22', 'fc1'] as const;

/** Standard deviation of the offset convolutions' RandomNormal initialiser (the reference's 0.01). */
export const OFFSET_INIT_STDDEV = 0.01;

/** How buildRegularCnn and buildDeformCnn build (and freeze) a model. */
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
  /** The deformable model's kind (default 'seed', the reference's); buildRegularCnn ignores it. */
  deformType?: DeformType;
}

/** The regular CNN of the reference. */
export function buildRegularCnn(options: CnnOptions = {}): tf.Sequential {
  return buildCnn('regular_cnn', null, options);
}

/**
 * The deformable CNN of the reference (or, with `deformType`, its DCN variant). For the
 * fine-tune, build it with `{ trainableBase: false }` and load the regular weights with
 * `transferRegularWeights`.
 */
export function buildDeformCnn(options: CnnOptions = {}): tf.Sequential {
  const deformType = options.deformType ?? 'seed';
  if (!DEFORM_TYPES.includes(deformType)) {
    throw new InvalidInputError(`deformType must be one of ${DEFORM_TYPES.join(', ')}, got '${String(deformType)}'`);
  }
  return buildCnn(deformType === 'seed' ? 'deform_cnn' : `${deformType}_cnn`, deformType, options);
}

/** The regular CNN (`deformType` null) or a deformable one. */
function buildCnn(modelName: string, deformType: DeformType | null, options: CnnOptions): tf.Sequential {
  const { seed } = options;
  const layers: tf.layers.Layer[] = [tf.layers.inputLayer({ inputShape: INPUT_SHAPE, name: 'input' })];
  for (const block of CONV_BLOCKS) {
    const deformed = deformType !== null && (DEFORMED_CONV_NAMES as readonly string[]).includes(block.name);
    const conv = {
      name: block.name,
      filters: block.filters,
      kernelSize: 3,
      strides: block.strides,
      padding: 'same' as const,
      useBias: true,
      kernelInitializer: tf.initializers.glorotUniform({ seed: seedFor(seed, block.name) }),
      biasInitializer: 'zeros' as const,
    };
    if (deformed && deformType !== 'seed') {
      layers.push(new DeformConv2D({ ...conv, modulated: deformType === 'dcnv2' }));
    } else {
      if (deformed) {
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
      layers.push(new Conv2D(conv));
    }
    layers.push(
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
 * A DeformConv2D base layer stays trainable, for its offset (and mask) convolution, and
 * only its kernel and bias follow `trainableBase`.
 */
export function setTrainable(model: tf.LayersModel, options: Pick<CnnOptions, 'trainableBase' | 'freezeBn'>): void {
  const trainableBase = options.trainableBase ?? true;
  const freezeBn = options.freezeBn ?? false;
  for (const layer of model.layers) {
    if (layer instanceof DeformConv2D) {
      layer.trainable = true;
      layer.kernelTrainable = trainableBase;
    } else if ((BASE_LAYER_NAMES as readonly string[]).includes(layer.name)) {
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
