/**
 * What every replica of a data-parallel step does, in the main thread and in the
 * workers alike: gradients of one shard, and the model's weights as one flat float32
 * vector (the form they cross threads in).
 */
import * as tf from '@tensorflow/tfjs';
import { countCorrect } from '../../evaluation/evaluate';
import { DeformConv2D } from '../../layers/deform_conv2d_layer';
import { withReplicaSums } from '../../kernels/replica_sums';
import { forward } from '../../models/cnn';
import { abortReplicaGroup, REPLICA_TIMEOUT_MS, replicaMember, ReplicaGroupShape } from './replica_group';

/** One shard's result, before any update. */
export interface ShardGradients {
  /** d(mean loss of the shard) / d(variable), one per trainable variable, in order. */
  grads: tf.Tensor[];
  /** Mean categorical cross-entropy of the shard; NaN once the model's outputs are not finite. */
  loss: number;
  /** How many of the shard were classified right. */
  correct: number;
}

/** The variables a step updates: the model's trainable weights, in order. */
export function trainableVariables(model: tf.LayersModel): tf.Variable[] {
  return model.trainableWeights.map((w) => w.read() as tf.Variable);
}

/**
 * The weights a training forward pass changes besides the trainable ones: the
 * non-trainable weights of trainable layers (BatchNorm's moving statistics). A frozen
 * layer runs in inference mode and changes nothing; a DeformConv2D's non-trainable
 * weights are its frozen kernel and bias, which nothing changes either.
 */
export function statefulWeights(model: tf.LayersModel): tf.LayerVariable[] {
  return model.layers.filter((layer) => layer.trainable && !(layer instanceof DeformConv2D)).flatMap((layer) => layer.nonTrainableWeights);
}

/** shardGradients's results before they are read: the gradients, and scalars for the loss, the right answers and the outputs' sum. */
export interface ShardTensors {
  grads: tf.Tensor[];
  loss: tf.Scalar;
  correct: tf.Scalar;
  /** Not finite once the model's outputs are not: the loss clips probabilities, which turns NaN into a bound. */
  outputSum: tf.Scalar;
}

/**
 * The training loop's step without the update: forward in training mode (frozen layers
 * in inference mode), Keras's categorical cross-entropy on the softmax output. Trainable
 * BatchNorm layers normalise with the shard's statistics and move their moving
 * statistics towards them, as in a single-thread step. The caller reads and disposes the
 * scalars (shardGradients reads them).
 */
export function shardGradientTensors(model: tf.LayersModel, variables: tf.Variable[], xs: tf.Tensor, ys: tf.Tensor): ShardTensors {
  let correct: tf.Scalar | undefined;
  let outputSum: tf.Scalar | undefined;
  const { value, grads } = tf.variableGrads(() => {
    const probs = forward(model, xs, true);
    correct = tf.keep(countCorrect(probs, ys));
    outputSum = tf.keep(tf.sum(probs) as tf.Scalar);
    return tf.mean(tf.metrics.categoricalCrossentropy(ys, probs)) as tf.Scalar;
  }, variables);
  return { grads: variables.map((v) => grads[v.name]), loss: value, correct: correct as tf.Scalar, outputSum: outputSum as tf.Scalar };
}

/**
 * shardGradientTensors with its scalars read and freed. Read asynchronously, in one
 * download: GPU backends (webgpu in Node) have no synchronous read.
 */
export async function shardGradients(
  model: tf.LayersModel,
  variables: tf.Variable[],
  xs: tf.Tensor,
  ys: tf.Tensor,
): Promise<ShardGradients> {
  return readShard(shardGradientTensors(model, variables, xs, ys));
}

async function readShard(t: ShardTensors): Promise<ShardGradients> {
  const scalars = tf.stack([t.outputSum, t.loss, t.correct]);
  tf.dispose([t.loss, t.correct, t.outputSum]);
  try {
    const [outputSum, loss, correct] = await scalars.data();
    return { grads: t.grads, loss: Number.isFinite(outputSum) ? loss : NaN, correct };
  } finally {
    scalars.dispose();
  }
}

/** Which replica of a synchronous-batch-norm step is computing, and its share of the batch. */
export interface ReplicaPlace {
  group: ReplicaGroupShape;
  replica: number;
  share: number;
}

/**
 * shardGradients as one replica of a step: with `place`, batch norm normalises with the
 * whole batch's statistics (summed across the replicas as the pass goes), and a failure
 * aborts the group so that the other replicas stop waiting for this one.
 */
export async function replicaGradients(
  model: tf.LayersModel,
  variables: tf.Variable[],
  xs: tf.Tensor,
  ys: tf.Tensor,
  place: ReplicaPlace | undefined,
): Promise<ShardGradients> {
  if (place === undefined) return shardGradients(model, variables, xs, ys);
  try {
    const sums = replicaMember(place.group, place.replica, place.share, REPLICA_TIMEOUT_MS);
    // The pass itself runs inside the replica group (its batch norm sums cross threads); the read may follow.
    return await readShard(withReplicaSums(sums, () => shardGradientTensors(model, variables, xs, ys)));
  } catch (err) {
    abortReplicaGroup(place.group);
    throw err;
  }
}

/** Where each of a list of tensors lives in one flat vector. */
export class FlatLayout {
  readonly offsets: number[];
  readonly sizes: number[];
  readonly total: number;

  constructor(readonly shapes: number[][]) {
    this.sizes = shapes.map((shape) => tf.util.sizeFromShape(shape));
    this.offsets = [];
    let offset = 0;
    for (const size of this.sizes) {
      this.offsets.push(offset);
      offset += size;
    }
    this.total = offset;
  }

  static of(tensors: readonly { shape: readonly number[] }[]): FlatLayout {
    return new FlatLayout(tensors.map((t) => [...t.shape]));
  }

  /** Copies the tensors' values into `into` (which may live in a SharedArrayBuffer). */
  write(tensors: readonly tf.Tensor[], into: Float32Array): void {
    tensors.forEach((t, i) => into.set(t.dataSync() as Float32Array, this.offsets[i]));
  }

  /** The i-th tensor's values: a view into `from`, not a copy. */
  view(from: Float32Array, i: number): Float32Array {
    return from.subarray(this.offsets[i], this.offsets[i] + this.sizes[i]);
  }
}

/** Overwrites every weight of `model` (trainable or not, in model.weights order) from `from`. */
export function loadFlatWeights(model: tf.LayersModel, layout: FlatLayout, from: Float32Array): void {
  model.weights.forEach((w, i) => {
    tf.tidy(() => {
      w.write(tf.tensor(layout.view(from, i), layout.shapes[i], 'float32'));
    });
  });
}
