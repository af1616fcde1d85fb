/**
 * The fine-tune's start: a deformable CNN with a trained regular CNN's weights.
 *
 * seed:        every regular weight by name; the ConvOffset2D layers keep their initial weights.
 * dcn / dcnv2: conv12, conv21 and conv22 are DeformConv2D layers under the regular names;
 *              each starts as deformConv2DFromConv2D makes it from the trained convolution
 *              (kernel and bias reused, doubled for dcnv2 against the initial mask of 0.5;
 *              offsets zero), so the model starts out computing exactly the regular CNN.
 */

import * as tf from '@tensorflow/tfjs';
import { deformConv2DFromConv2D } from '../layers/deform_conv2d_layer';
import { buildRegularCnn, DEFORMED_CONV_NAMES, DeformType, OFFSET_LAYER_NAMES } from './cnn';
import { transferWeights } from './transfer';

/**
 * Loads a regular CNN's weights (`regular`, named "conv11/kernel", ...) into `target`, a
 * model of buildDeformCnn({ deformType }). Strict as transferWeights: a missing, extra or
 * misshapen weight throws a InvalidInputError naming it (`sourceLabel` names the source), and
 * leaves `target` untouched.
 */
export function transferRegularWeights(
  regular: tf.NamedTensorMap,
  target: tf.LayersModel,
  deformType: DeformType,
  sourceLabel = 'the regular CNN',
): void {
  if (deformType === 'seed') {
    transferWeights(regular, target, { newLayers: OFFSET_LAYER_NAMES, sourceLabel });
    return;
  }
  const base = buildRegularCnn();
  let converted: tf.NamedTensorMap = {};
  try {
    transferWeights(regular, base, { sourceLabel });
    converted = deformableConvWeights(base, deformType === 'dcnv2');
    transferWeights({ ...regular, ...converted }, target, { sourceLabel });
  } finally {
    tf.dispose(Object.values(converted));
    base.dispose();
  }
}

/**
 * The weights of the DeformConv2D layers made from `regular`'s conv12, conv21 and conv22,
 * by name ("conv12/kernel", "conv12/offset_kernel", ...): new tensors, the caller's to dispose.
 */
function deformableConvWeights(regular: tf.LayersModel, modulated: boolean): tf.NamedTensorMap {
  const weights: tf.NamedTensorMap = {};
  for (const name of DEFORMED_CONV_NAMES) {
    const conv = regular.getLayer(name);
    // The layer takes the copied weights when built, which a model of it alone does.
    const holder = tf.sequential({
      layers: [
        tf.layers.inputLayer({ inputShape: (conv.input as tf.SymbolicTensor).shape.slice(1) as number[] }),
        deformConv2DFromConv2D(conv, { modulated }),
      ],
    });
    for (const weight of holder.weights) weights[weight.originalName] = tf.clone(weight.read());
    holder.dispose();
  }
  return weights;
}
