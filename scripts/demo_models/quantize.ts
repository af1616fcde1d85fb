/**
 * A checkpoint's model.json and weights.bin, with the kernels quantised to 8 bits as
 * tfjs-converter's weight manifests do it (value = q * scale + min, per tensor), so that
 * tf.io.decodeWeights and tf.loadLayersModel read them back without any code of ours.
 * The small tensors (biases, BatchNorm's statistics) stay float32: they weigh nothing.
 */
import * as tf from '@tensorflow/tfjs';

/** Tensors with fewer elements than this stay float32. */
const MIN_QUANTISED_SIZE = 1024;
const UINT8_LEVELS = 255;

/** model.json as a checkpoint writes it. */
export interface ModelJson {
  modelTopology: unknown;
  weightsManifest: tf.io.WeightsManifestConfig;
  [key: string]: unknown;
}

/** One tensor's 8-bit codes and their manifest entry. */
function quantiseUint8(spec: tf.io.WeightsManifestEntry, values: Float32Array): { spec: tf.io.WeightsManifestEntry; bytes: Uint8Array } {
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  const scale = max > min ? (max - min) / UINT8_LEVELS : 1;
  const bytes = Uint8Array.from(values, (v) => Math.round((v - min) / scale));
  return { spec: { ...spec, quantization: { dtype: 'uint8', scale, min } }, bytes };
}

/** The model with its kernels quantised: the new model.json (one weights file, `weightsFile`) and that file's bytes. */
export function quantiseModel(
  modelJson: ModelJson,
  weights: Uint8Array,
  weightsFile: string,
): { modelJson: ModelJson; weights: Uint8Array } {
  const specs = modelJson.weightsManifest.flatMap((group) => group.weights);
  const buffer = weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength) as ArrayBuffer;
  const tensors = tf.io.decodeWeights(buffer, specs);
  const parts = specs.map((spec) => {
    const values = tensors[spec.name].dataSync() as Float32Array;
    if (spec.dtype !== 'float32' || values.length < MIN_QUANTISED_SIZE)
      return { spec, bytes: new Uint8Array(values.buffer, values.byteOffset, values.byteLength).slice() };
    return quantiseUint8(spec, values);
  });
  tf.dispose(tensors);
  const data = new Uint8Array(parts.reduce((sum, p) => sum + p.bytes.byteLength, 0));
  let offset = 0;
  for (const part of parts) {
    data.set(part.bytes, offset);
    offset += part.bytes.byteLength;
  }
  return {
    modelJson: { ...modelJson, weightsManifest: [{ paths: [weightsFile], weights: parts.map((p) => p.spec) }] },
    weights: data,
  };
}
