/**
 * Weight transfer by name, as Keras's load_weights(by_name=True) does, but strict:
 * every weight the target expects must come from the source with the same shape, and
 * every source weight must land somewhere. Weights are named "layer/weight"
 * (e.g. "conv11/kernel"), the names tfjs writes into model.json.
 */

import * as tf from '@tensorflow/tfjs';
import { InvalidInputError } from '../errors';

/** A model's weights by name ("conv11/kernel", ...): its live variables, not copies. */
export function namedWeights(model: tf.LayersModel): tf.NamedTensorMap {
  const map: tf.NamedTensorMap = {};
  for (const weight of model.weights) map[weight.originalName] = weight.read();
  return map;
}

/** What transferWeights may leave out, and how its errors name the source. */
export interface TransferOptions {
  /**
   * Target layers that the source must NOT have and that keep their own initial weights
   * (the deformable model's offset layers when loading a regular CNN).
   */
  newLayers?: readonly string[];
  /** How errors name the source, e.g. "checkpoint checkpoints/regular". */
  sourceLabel?: string;
}

/**
 * Copies `source`'s weights into `target`, matching by layer and weight name.
 * Throws a InvalidInputError naming the first missing layer, missing weight, shape mismatch,
 * unexpected new layer, or leftover source layer; on error the target is untouched.
 */
export function transferWeights(source: tf.LayersModel | tf.NamedTensorMap, target: tf.LayersModel, options: TransferOptions = {}): void {
  const weights = source instanceof tf.LayersModel ? namedWeights(source) : source;
  const label = options.sourceLabel ?? 'the source model';
  const newLayers = new Set(options.newLayers ?? []);
  const sourceLayers = new Set(Object.keys(weights).map(layerOf));
  const used = new Set<string>();
  const assignments: Array<{ layer: tf.layers.Layer; values: tf.Tensor[] }> = [];

  for (const layer of target.layers) {
    if (layer.weights.length === 0) continue;
    if (newLayers.has(layer.name)) {
      if (sourceLayers.has(layer.name)) {
        throw new InvalidInputError(`${label} already has layer '${layer.name}'; expected a model without it (a regular CNN)`);
      }
      continue;
    }
    if (!sourceLayers.has(layer.name)) {
      throw new InvalidInputError(`${label} has no layer '${layer.name}' (the ${target.name} model needs it)`);
    }
    const values = layer.weights.map((w) => {
      const value = weights[w.originalName];
      if (value === undefined) {
        throw new InvalidInputError(`${label} has no weight '${w.originalName}' (layer '${layer.name}' is there)`);
      }
      if (!tf.util.arraysEqual(value.shape, w.shape as number[])) {
        throw new InvalidInputError(
          `weight '${w.originalName}' has shape [${value.shape}] in ${label} but [${w.shape}] in the ${target.name} model`,
        );
      }
      used.add(w.originalName);
      return value;
    });
    assignments.push({ layer, values });
  }

  const leftover = Object.keys(weights).filter((name) => !used.has(name));
  if (leftover.length > 0) {
    throw new InvalidInputError(
      `${label} has weights the ${target.name} model lacks: ${leftover.slice(0, 4).join(', ')}${leftover.length > 4 ? ', ...' : ''}`,
    );
  }
  for (const { layer, values } of assignments) layer.setWeights(values);
}

function layerOf(weightName: string): string {
  const slash = weightName.lastIndexOf('/');
  return slash < 0 ? weightName : weightName.slice(0, slash);
}
