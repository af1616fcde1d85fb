/**
 * Data-parallel training steps across worker threads, to use every core on backends
 * that use one (wasm in Node: its threaded build is disabled there upstream).
 *
 * The main thread's model is replica 0 and the only one that learns: each step it
 * broadcasts all its weights, splits the batch into `threads` shards, computes shard 0's
 * gradients itself while workers compute the others, averages them (weighted by shard
 * size, so the result is the gradient of the batch's mean loss) and applies the caller's
 * optimizer. Optimizer state and weights therefore stay in the main thread, where the
 * training loop checkpoints them as usual; workers hold nothing between steps.
 *
 * BatchNorm is synchronous by default, as PyTorch's SyncBatchNorm: the replicas add up
 * their per-channel sums through shared memory in the middle of each pass
 * (replica_group.ts), so every replica normalises with the whole batch's mean and
 * variance, back-propagates through them, and moves its moving statistics identically;
 * a two-thread step equals the one-thread step up to float32 rounding. With
 * `syncBatchNorm: false` each replica normalises its shard with the shard's own
 * statistics (PyTorch DDP without SyncBN), and the moving statistics become the
 * shard-size weighted average of the replicas'. With one thread, it is the plain step.
 */
import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { UserError } from '../../errors';
import { FromWorker, ToWorker, WorkerInit, workerEntryFile } from './protocol';
import { FlatLayout, ReplicaPlace, replicaGradients, shardGradients, statefulWeights, trainableVariables } from './replica';
import { createReplicaGroup, ReplicaGroupShape, resetReplicaGroup } from './replica_group';

/** What createStepRunner trains, with what, on how many threads. */
export interface StepRunnerOptions {
  /** Trained in place; its trainable flags are fixed for the runner's lifetime. */
  model: tf.LayersModel;
  /** Applied in the main thread to the averaged gradients (checkpoint it as usual). */
  optimizer: tf.Optimizer;
  /** Replicas, the main thread included (default 1: no workers). */
  threads?: number;
  /** Batch norm with the whole batch's statistics across replicas (default true); false: each shard's own. */
  syncBatchNorm?: boolean;
}

/** One step's figures, measured on the batch before the update. */
export interface StepRunResult {
  /** Mean categorical cross-entropy of the batch, before the update; NaN once outputs are not finite. */
  loss: number;
  /** How many of the batch were classified right, before the update. */
  correct: number;
  /** correct / batch size. */
  accuracy: number;
}

/** Runs training steps, data-parallel over `threads` replicas; made by createStepRunner. */
export interface StepRunner {
  /** Replicas per step, the main thread included. */
  readonly threads: number;
  /** One optimisation step on a batch: xs [B, H, W, C] and one-hot ys [B, classes]. */
  step(xs: tf.Tensor, ys: tf.Tensor): Promise<StepRunResult>;
  /** Stops the workers; the model stays usable. */
  dispose(): Promise<void>;
}

/** Batch sizes of the shards: as equal as possible, the larger first. */
export function shardSizes(batch: number, shards: number): number[] {
  return Array.from({ length: shards }, (_, k) => Math.floor(batch / shards) + (k < batch % shards ? 1 : 0));
}

/** A worker thread and its side of the shared buffers. */
class WorkerReplica {
  private pending: { resolve: (m: FromWorker) => void; reject: (e: Error) => void } | null = null;
  private failure: Error | null = null;

  constructor(
    private readonly worker: Worker,
    readonly results: Float32Array,
  ) {
    worker.on('message', (message: FromWorker) => {
      if (message.type === 'error') this.fail(new Error(`training worker failed: ${message.message}`));
      else this.settle(message);
    });
    worker.on('error', (err) => this.fail(err));
    worker.on('exit', (code) => this.fail(new Error(`training worker exited (code ${code})`)));
  }

  /** The worker's next message. */
  next(): Promise<FromWorker> {
    if (this.failure !== null) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
    });
  }

  send(message: ToWorker, transfer: ArrayBuffer[] = []): void {
    this.worker.postMessage(message, transfer);
  }

  async close(): Promise<void> {
    this.failure ??= new Error('step runner disposed');
    this.worker.removeAllListeners('exit');
    await this.worker.terminate();
  }

  private settle(message: FromWorker): void {
    const pending = this.pending;
    this.pending = null;
    pending?.resolve(message);
  }

  private fail(err: Error): void {
    this.failure ??= err;
    const pending = this.pending;
    this.pending = null;
    pending?.reject(this.failure);
  }
}

function workerBackend(threads: number): WorkerInit['backend'] {
  const backend = tf.getBackend();
  if (backend !== 'wasm' && backend !== 'cpu') {
    throw new UserError(
      `data-parallel training runs on the wasm or cpu backend, not '${backend}' (which uses every core itself); use 1 thread, not ${threads}`,
    );
  }
  return backend;
}

async function startWorker(init: WorkerInit, results: Float32Array, expected: FlatLayout[]): Promise<WorkerReplica> {
  const replica = new WorkerReplica(new Worker(workerEntryFile(), { workerData: init }), results);
  try {
    const ready = await replica.next();
    if (ready.type !== 'ready') throw new Error(`training worker: expected 'ready', got '${ready.type}'`);
    const got = [ready.weightShapes, ready.trainableShapes, ready.stateShapes];
    expected.forEach((layout, i) => {
      if (JSON.stringify(layout.shapes) !== JSON.stringify(got[i])) {
        throw new Error(
          `training worker rebuilt the model differently: weight shapes ${JSON.stringify(got[i])} vs ${JSON.stringify(layout.shapes)}`,
        );
      }
    });
    return replica;
  } catch (err) {
    await replica.close();
    throw err;
  }
}

/** The model's trainable variables and stateful weights, and the flat layouts they travel in. */
interface ModelLayouts {
  variables: tf.Variable[];
  state: tf.LayerVariable[];
  stateVariables: tf.Tensor[];
  weightLayout: FlatLayout;
  gradLayout: FlatLayout;
  stateLayout: FlatLayout;
}

function modelLayouts(model: tf.LayersModel): ModelLayouts {
  const variables = trainableVariables(model);
  const state = statefulWeights(model);
  const stateVariables = state.map((w) => w.read());
  return {
    variables,
    state,
    stateVariables,
    weightLayout: FlatLayout.of(model.weights.map((w) => w.read())),
    gradLayout: FlatLayout.of(variables),
    stateLayout: FlatLayout.of(stateVariables),
  };
}

/** Starts replicas 1 .. threads - 1; if any fails to start, closes the others and throws its error. */
async function startWorkers(
  model: tf.LayersModel,
  threads: number,
  layouts: ModelLayouts,
  weights: Float32Array,
  group: ReplicaGroupShape | undefined,
): Promise<WorkerReplica[]> {
  const { weightLayout, gradLayout, stateLayout } = layouts;
  const backend = workerBackend(threads);
  const topology = model.toJSON(null, false);
  const started = await Promise.allSettled(
    Array.from({ length: threads - 1 }, (_, k) => {
      const results = new SharedArrayBuffer((gradLayout.total + stateLayout.total) * 4);
      const init: WorkerInit = { backend, topology, weights: weights.buffer as SharedArrayBuffer, results, replica: k + 1, group };
      return startWorker(init, new Float32Array(results), [weightLayout, gradLayout, stateLayout]);
    }),
  );
  const workers = started.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed !== undefined) {
    await Promise.all(workers.map((w) => w.close()));
    throw failed.reason;
  }
  return workers;
}

/** The runner: replica 0 in the main thread, the others in `workers`. */
class DataParallelStepRunner implements StepRunner {
  constructor(
    readonly threads: number,
    private readonly model: tf.LayersModel,
    private readonly optimizer: tf.Optimizer,
    private readonly layouts: ModelLayouts,
    /** The weights broadcast to the workers each step. */
    private readonly weights: Float32Array,
    private readonly group: ReplicaGroupShape | undefined,
    private readonly workers: WorkerReplica[],
  ) {}

  async step(xs: tf.Tensor, ys: tf.Tensor): Promise<StepRunResult> {
    const batch = xs.shape[0];
    if (ys.shape[0] !== batch) {
      throw new UserError(`step: xs has ${batch} examples but ys has ${ys.shape[0]}`);
    }
    const sizes = shardSizes(batch, Math.min(this.threads, batch)).filter((n) => n > 0);
    if (sizes.length === 1) return this.stepAlone(xs, ys);

    this.layouts.weightLayout.write(
      this.model.weights.map((w) => w.read()),
      this.weights,
    );
    if (this.group) resetReplicaGroup(this.group, sizes.length);
    const replies = this.sendShards(xs, ys, sizes);
    const place = this.group && { group: this.group, replica: 0, share: sizes[0] / batch };
    const own = await this.ownGradients(xs, ys, sizes[0], place, replies);
    let lossSum = own.loss * sizes[0];
    let correct = own.correct;
    try {
      const done = await Promise.all(replies);
      done.forEach((reply, k) => {
        if (reply.type !== 'done') throw new Error(`training worker: expected 'done', got '${reply.type}'`);
        lossSum += reply.loss * sizes[k + 1];
        correct += reply.correct;
      });
      this.combine(own.grads, sizes, batch);
    } finally {
      tf.dispose(own.grads);
    }
    return { loss: lossSum / batch, correct, accuracy: correct / batch };
  }

  async dispose(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.close()));
  }

  /** The plain step, on the main thread alone. */
  private async stepAlone(xs: tf.Tensor, ys: tf.Tensor): Promise<StepRunResult> {
    const { variables } = this.layouts;
    const own = await shardGradients(this.model, variables, xs, ys);
    tf.tidy(() => this.optimizer.applyGradients(variables.map((v, i) => ({ name: v.name, tensor: own.grads[i] }))));
    tf.dispose(own.grads);
    return { loss: own.loss, correct: own.correct, accuracy: own.correct / xs.shape[0] };
  }

  /** Sends shard k + 1 of the batch to worker k; returns their replies to come. */
  private sendShards(xs: tf.Tensor, ys: tf.Tensor, sizes: number[]): Promise<FromWorker>[] {
    const batch = xs.shape[0];
    const replies: Promise<FromWorker>[] = [];
    let begin = sizes[0];
    sizes.slice(1).forEach((size, k) => {
      const shard = tf.tidy(() => [xs, ys].map((t) => t.slice(begin, size)));
      const [xsData, ysData] = shard.map((t) => new Float32Array(t.dataSync()));
      const message: ToWorker = {
        type: 'step',
        xs: xsData,
        xsShape: shard[0].shape,
        ys: ysData,
        ysShape: shard[1].shape,
        share: size / batch,
      };
      tf.dispose(shard);
      replies.push(this.workers[k].next());
      this.workers[k].send(message, [xsData.buffer, ysData.buffer]);
      begin += size;
    });
    return replies;
  }

  /**
   * The main thread's shard (the batch's first `size` examples). If it fails, it waits for
   * the workers, and a worker's failure (the cause of the main thread's, when the worker
   * aborted the replica group) is the one reported.
   */
  private async ownGradients(xs: tf.Tensor, ys: tf.Tensor, size: number, place: ReplicaPlace | undefined, replies: Promise<FromWorker>[]) {
    const shard = tf.tidy(() => [xs, ys].map((t) => t.slice(0, size)));
    try {
      return await replicaGradients(this.model, this.layouts.variables, shard[0], shard[1], place);
    } catch (err) {
      const settled = await Promise.allSettled(replies);
      throw settled.find((r): r is PromiseRejectedResult => r.status === 'rejected')?.reason ?? err;
    } finally {
      tf.dispose(shard);
    }
  }

  /** Averages the replicas' gradients and moving statistics, weighted by shard size, and applies them. */
  private combine(own: tf.Tensor[], sizes: number[], total: number): void {
    const { variables, state, stateVariables, gradLayout, stateLayout } = this.layouts;
    const average = new Float32Array(gradLayout.total + stateLayout.total);
    gradLayout.write(own, average);
    stateLayout.write(stateVariables, average.subarray(gradLayout.total));
    // One pass, summing in double precision: the sum of size-weighted terms rounds once.
    const others = this.workers.slice(0, sizes.length - 1).map((w) => w.results);
    const shares = sizes.map((size) => size / total);
    for (let i = 0; i < average.length; i++) {
      let sum = shares[0] * average[i];
      for (let k = 0; k < others.length; k++) sum += shares[k + 1] * others[k][i];
      average[i] = sum;
    }
    tf.tidy(() => {
      this.optimizer.applyGradients(
        variables.map((v, i) => ({ name: v.name, tensor: tf.tensor(gradLayout.view(average, i), v.shape, 'float32') })),
      );
      const averageState = average.subarray(gradLayout.total);
      state.forEach((w, i) => w.write(tf.tensor(stateLayout.view(averageState, i), stateLayout.shapes[i], 'float32')));
    });
  }
}

/**
 * Starts `threads - 1` workers (each loads tfjs, the backend and the model: a second or
 * two) and returns the step function.
 */
export async function createStepRunner(options: StepRunnerOptions): Promise<StepRunner> {
  const { model, optimizer } = options;
  const threads = options.threads ?? 1;
  if (!Number.isInteger(threads) || threads < 1) {
    throw new UserError(`threads must be a positive integer, got ${threads}`);
  }
  const layouts = modelLayouts(model);
  const weights = new Float32Array(new SharedArrayBuffer(layouts.weightLayout.total * 4));
  // Batch norm sums 4 values per channel at most (its gradient's); the moving means are as long as its channels.
  const group =
    threads > 1 && options.syncBatchNorm !== false ? createReplicaGroup(threads, 4 * Math.max(1, ...layouts.stateLayout.sizes)) : undefined;
  const workers = threads > 1 ? await startWorkers(model, threads, layouts, weights, group) : [];
  return new DataParallelStepRunner(threads, model, optimizer, layouts, weights, group, workers);
}
