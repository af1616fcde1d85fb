/**
 * A data-parallel training worker: rebuilds the main thread's model, then per step loads
 * the broadcast weights, computes its shard's gradients and hands them back.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
// The models' module registers their layer classes, so the model rebuilds from its JSON as in the main thread.
import '../../models/cnn';
import { useBackend } from '../../backend/select';
import { FromWorker, ToWorker, WorkerInit } from './protocol';
import { FlatLayout, loadFlatWeights, replicaGradients, statefulWeights, trainableVariables } from './replica';
import { abortReplicaGroup } from './replica_group';

const port = parentPort;
if (port === null) throw new Error('worker.js runs as a worker thread of the step runner only');

function reply(message: FromWorker): void {
  port?.postMessage(message);
}

async function main(): Promise<void> {
  const init = workerData as WorkerInit;
  await useBackend(init.backend);
  const model = await tf.models.modelFromJSON(init.topology as Parameters<typeof tf.models.modelFromJSON>[0]);
  const variables = trainableVariables(model);
  const weightLayout = FlatLayout.of(model.weights.map((w) => w.read()));
  const gradLayout = FlatLayout.of(variables);
  const stateVariables = statefulWeights(model).map((w) => w.read());
  const stateLayout = FlatLayout.of(stateVariables);
  const weights = new Float32Array(init.weights);
  const grads = new Float32Array(init.results, 0, gradLayout.total);
  const state = new Float32Array(init.results, gradLayout.total * 4, stateLayout.total);

  // eslint-disable-next-line @typescript-eslint/no-misused-promises -- the handler replies with its own errors
  port?.on('message', async (message: ToWorker) => {
    if (message.type === 'close') {
      model.dispose();
      port?.close();
      return;
    }
    try {
      loadFlatWeights(model, weightLayout, weights);
      const xs = tf.tensor(message.xs, message.xsShape, 'float32');
      const ys = tf.tensor(message.ys, message.ysShape, 'float32');
      const place = init.group && { group: init.group, replica: init.replica, share: message.share };
      const result = await replicaGradients(model, variables, xs, ys, place);
      gradLayout.write(result.grads, grads);
      stateLayout.write(stateVariables, state);
      tf.dispose([xs, ys, ...result.grads]);
      reply({ type: 'done', loss: result.loss, correct: result.correct });
    } catch (err) {
      // Before the pass (loading the weights, say) too: the other replicas must not wait for this one.
      if (init.group) abortReplicaGroup(init.group);
      reply({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    }
  });
  reply({ type: 'ready', weightShapes: weightLayout.shapes, trainableShapes: gradLayout.shapes, stateShapes: stateLayout.shapes });
}

main().catch((err) => reply({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) }));
