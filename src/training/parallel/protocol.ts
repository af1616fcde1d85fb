/**
 * The messages between the step runner (main thread) and its workers, and where the
 * worker's compiled entry file lives.
 *
 * Bulk data goes through SharedArrayBuffers: `weights` (every weight of the model, in
 * model.weights order, written by the main thread before each step) and one `results`
 * buffer per worker (its shard's gradients in trainable-weight order, then its
 * non-trainable weights, i.e. BatchNorm moving statistics, after the step). Synchronous
 * batch norm adds a third shared buffer, its replica group (replica_group.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EnvironmentError } from '../../errors';
import type { ReplicaGroupShape } from './replica_group';

export interface WorkerInit {
  /** The main thread's backend, as useBackend() names it. */
  backend: 'wasm' | 'cpu';
  /** model.toJSON(null, false): layers, their configs and trainable flags. */
  topology: unknown;
  weights: SharedArrayBuffer;
  results: SharedArrayBuffer;
  /** This worker's replica index (the main thread is replica 0). */
  replica: number;
  /** Shared memory of the cross-replica sums of synchronous batch norm; absent: each shard's own statistics. */
  group?: ReplicaGroupShape;
}

export type ToWorker =
  { type: 'step'; xs: Float32Array; xsShape: number[]; ys: Float32Array; ysShape: number[]; share: number } | { type: 'close' };

export type FromWorker =
  | { type: 'ready'; weightShapes: number[][]; trainableShapes: number[][]; stateShapes: number[][] }
  | { type: 'done'; loss: number; correct: number }
  | { type: 'error'; message: string };

/**
 * The worker's JavaScript file. Compiled code finds it beside this module; run from the
 * TypeScript sources (vitest), it is the compiled copy under dist/, which `npm run build`
 * (run by `npm ci`) makes.
 */
export function workerEntryFile(): string {
  const beside = path.join(__dirname, 'worker.js');
  if (fs.existsSync(beside)) return beside;
  const compiled = path.resolve(__dirname, '../../../dist/src/training/parallel/worker.js');
  if (fs.existsSync(compiled)) return compiled;
  throw new EnvironmentError(`parallel training needs the compiled worker ${compiled}; run npm run build`);
}
