/** Model helpers shared by the model and layer tests. */
import * as tf from '@tensorflow/tfjs';

/** Copies of every weight's values, by name. */
export function snapshot(model: tf.LayersModel): Record<string, Float32Array> {
  return Object.fromEntries(model.weights.map((w) => [w.originalName, w.read().dataSync().slice() as Float32Array]));
}

/** n seeded random 28x28 images and one-hot labels cycling through the classes. */
export function batch(n: number, seed: number): { xs: tf.Tensor4D; ys: tf.Tensor2D } {
  const xs = tf.randomUniform([n, 28, 28, 1], 0, 1, 'float32', seed) as tf.Tensor4D;
  const ys = tf.oneHot(
    tf.tensor1d(
      Array.from({ length: n }, (_, i) => (i * 7 + seed) % 10),
      'int32',
    ),
    10,
  ) as tf.Tensor2D;
  return { xs, ys };
}

/** `model` saved in memory with model.save and loaded back with tf.loadLayersModel. */
export async function saveAndLoad(model: tf.LayersModel): Promise<tf.LayersModel> {
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (saved) => {
      artifacts = saved;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  return tf.loadLayersModel(tf.io.fromMemory(artifacts as tf.io.ModelArtifacts));
}
