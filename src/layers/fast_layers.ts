/**
 * Loading saved models with this package's Conv2D and BatchNormalization.
 */
import * as tf from '@tensorflow/tfjs';
import { BatchNormalization } from './batch_normalization';
import { Conv2D } from './conv2d_layer';

/**
 * Makes tf.models.modelFromJSON and tf.loadLayersModel build this package's Conv2D and
 * BatchNormalization for every layer saved as 'Conv2D' or 'BatchNormalization' (the
 * classes keep tfjs's names, so saved models also load without this package). Not done
 * on import of `deformconv`, since it changes how all of an app's models load; call it
 * once to opt in. (`deformconv/experiment` and `deformconv/node` do call it on import: its
 * models must rebuild from JSON with the layers they were built with.)
 *
 * @example
 * useFastLayersWhenLoading();
 * const model = await tf.loadLayersModel('model/model.json'); // trains faster on wasm
 */
export function useFastLayersWhenLoading(): void {
  // fromConfig is inherited from tf.layers.Layer; the casts only restore what the runtime lookup of the base classes hides from the types.
  for (const layer of [Conv2D, BatchNormalization]) {
    tf.serialization.registerClass(layer as unknown as tf.serialization.SerializableConstructor<tf.serialization.Serializable>);
  }
}
