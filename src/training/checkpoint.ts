/**
 * Checkpoints that a kill at any moment cannot break.
 *
 * Layout of a checkpoint directory (the `--out` of a training command):
 *
 *   <out>/checkpoint.json      {"latest": "epoch-0003"}: the commit point
 *   <out>/epoch-0003/          one complete checkpoint:
 *       model.json, weights.bin    the model in tfjs format (tf.loadLayersModel reads it)
 *       optimizer.bin              the optimizer's weights
 *       state.json                 epoch, RNG state, config, metrics, backend, optimizer specs
 *   <out>/metrics.json         the metrics history, for people and plots
 *
 * A new checkpoint is written into <out>/.tmp-*, flushed to disk, renamed into place,
 * and only then does checkpoint.json (replaced by an atomic rename) point at it; the
 * previous checkpoint is deleted after that. So checkpoint.json always names a complete
 * checkpoint: the previous one or the new one.
 */

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { UserError } from '../errors';
import {
  ensureWritableDir,
  fileError,
  replaceFileAtomically,
  syncDir,
  TMP_PREFIX,
  writeDurable,
  writeJsonAtomically,
} from '../files/atomic';
import { OptimizerWeight } from '../optimizers/adam';

export const POINTER_FILE = 'checkpoint.json';
export const METRICS_FILE = 'metrics.json';
const MODEL_FILE = 'model.json';
const WEIGHTS_FILE = 'weights.bin';
const OPTIMIZER_FILE = 'optimizer.bin';
const STATE_FILE = 'state.json';
const STATE_FORMAT = 'deformconv-checkpoint';
const STATE_VERSION = 1;

/** What saveCheckpoint writes; S is the caller's JSON training state. */
export interface CheckpointContents<S> {
  /** Directory name inside `out`, e.g. 'epoch-0003'. */
  name: string;
  /** Saved in tfjs's format (model.json and weights.bin). */
  model: tf.LayersModel;
  /** The optimizer's weights in its own order (optimizer.getWeights()). */
  optimizerWeights: OptimizerWeight[];
  /** Anything JSON: the training state. */
  state: S;
  /** Anything JSON: written to <out>/metrics.json after the commit. */
  metrics: unknown;
}

/** What readCheckpoint returns: the weights as tensors, not a model (the caller builds that). */
export interface LoadedCheckpoint<S> {
  /** The checkpoint's own directory (<out>/epoch-0003). */
  dir: string;
  /** Its name inside `out`, e.g. 'epoch-0003'. */
  name: string;
  /** The model's weights by name ("conv11/kernel", ...). The caller disposes them. */
  weights: tf.NamedTensorMap;
  /** The optimizer's weights, in the order they were saved. The caller disposes them. */
  optimizerWeights: OptimizerWeight[];
  state: S;
}

interface StateFile<S> {
  format: typeof STATE_FORMAT;
  version: number;
  optimizerWeights: tf.io.WeightsManifestEntry[];
  state: S;
}

/** Fails early, before any training, if `out` cannot hold checkpoints. */
export function ensureCheckpointDir(out: string): void {
  ensureWritableDir(out, `cannot write checkpoints to ${out}`);
}

/** The name of the latest complete checkpoint in `out`, or undefined if it holds none. */
export function latestCheckpointName(out: string): string | undefined {
  const pointerPath = path.join(out, POINTER_FILE);
  if (!fs.existsSync(pointerPath)) return undefined;
  let latest: unknown;
  try {
    latest = (JSON.parse(fs.readFileSync(pointerPath, 'utf8')) as { latest?: unknown }).latest;
  } catch (err) {
    throw new UserError(`${pointerPath} is not a checkpoint pointer (${(err as Error).message})`);
  }
  if (typeof latest !== 'string' || !/^[\w.-]+$/.test(latest) || latest.startsWith('.')) {
    throw new UserError(`${pointerPath} does not name a checkpoint directory`);
  }
  return latest;
}

/** Writes a checkpoint atomically (see the file comment) and returns its directory. */
export async function saveCheckpoint<S>(out: string, contents: CheckpointContents<S>): Promise<string> {
  const { data: weightData, specs: weightSpecs, topology } = await modelArtifacts(contents.model);
  const optimizer = await tf.io.encodeWeights(contents.optimizerWeights);
  const finalDir = path.join(out, contents.name);
  const tmpDir = path.join(out, `${TMP_PREFIX}${contents.name}-${process.pid}-${Date.now()}`);
  const previous = latestCheckpointName(out);
  // Names encode progress (epoch, step): the current checkpoint already holds this state.
  if (previous === contents.name) return finalDir;
  try {
    fs.mkdirSync(out, { recursive: true });
    removeStaleTemporaries(out);
    fs.mkdirSync(tmpDir);
    const modelJson = {
      format: 'layers-model',
      generatedBy: `TensorFlow.js tfjs-layers v${tf.version_layers}`,
      convertedBy: null,
      modelTopology: topology,
      weightsManifest: [{ paths: [WEIGHTS_FILE], weights: weightSpecs }],
    };
    const stateFile: StateFile<S> = {
      format: STATE_FORMAT,
      version: STATE_VERSION,
      optimizerWeights: optimizer.specs,
      state: contents.state,
    };
    writeDurable(path.join(tmpDir, WEIGHTS_FILE), new Uint8Array(weightData));
    writeDurable(path.join(tmpDir, OPTIMIZER_FILE), new Uint8Array(optimizer.data));
    writeDurable(path.join(tmpDir, MODEL_FILE), JSON.stringify(modelJson));
    writeDurable(path.join(tmpDir, STATE_FILE), JSON.stringify(stateFile, null, 1));
    syncDir(tmpDir);
    // A directory of this name that the pointer does not name is a leftover; replace it.
    fs.rmSync(finalDir, { recursive: true, force: true });
    fs.renameSync(tmpDir, finalDir);
    syncDir(out);
    replaceFileAtomically(path.join(out, POINTER_FILE), JSON.stringify({ latest: contents.name }) + '\n');
  } catch (err) {
    fs.rmSync(tmpDir, { recursive: true, force: true });
    const kept = previous === undefined ? 'no earlier checkpoint exists' : `the previous checkpoint ${path.join(out, previous)} is intact`;
    throw fileError(err, `cannot write checkpoint ${finalDir} (${kept})`);
  }
  // Committed. What follows only tidies up; failures here lose nothing.
  try {
    writeJsonAtomically(path.join(out, METRICS_FILE), contents.metrics);
    for (const entry of fs.readdirSync(out)) {
      if (entry !== contents.name && isCheckpointDirName(entry)) {
        fs.rmSync(path.join(out, entry), { recursive: true, force: true });
      }
    }
  } catch {
    // A stale metrics file or an old checkpoint left behind is harmless.
  }
  return finalDir;
}

/** Reads the latest checkpoint of `out` (or `out` itself if it is a checkpoint's own directory). */
export function readCheckpoint<S>(out: string): LoadedCheckpoint<S> {
  if (!fs.existsSync(out)) throw new UserError(`checkpoint directory ${out} does not exist`);
  const latest = latestCheckpointName(out);
  const dir = latest === undefined ? out : path.join(out, latest);
  if (latest === undefined && !fs.existsSync(path.join(out, STATE_FILE))) {
    throw new UserError(`no checkpoint in ${out} (no ${POINTER_FILE}); train one with train-regular or finetune-deform --out ${out}`);
  }
  const modelJson = readJson(path.join(dir, MODEL_FILE)) as { weightsManifest?: tf.io.WeightsManifestConfig };
  const manifest = modelJson.weightsManifest;
  if (!Array.isArray(manifest)) throw new UserError(`${path.join(dir, MODEL_FILE)} has no weightsManifest`);
  const weights: tf.NamedTensorMap = {};
  for (const group of manifest) {
    const data = Buffer.concat(group.paths.map((p) => readBinary(path.join(dir, p))));
    Object.assign(weights, decode(data, group.weights, path.join(dir, group.paths.join('+'))));
  }
  const stateFile = readJson(path.join(dir, STATE_FILE)) as StateFile<S>;
  if (stateFile.format !== STATE_FORMAT || stateFile.version !== STATE_VERSION) {
    throw new UserError(`${path.join(dir, STATE_FILE)} is not a deformconv checkpoint state (format ${STATE_FORMAT} v${STATE_VERSION})`);
  }
  const optimizerPath = path.join(dir, OPTIMIZER_FILE);
  const optimizerMap = decode(readBinary(optimizerPath), stateFile.optimizerWeights, optimizerPath);
  const optimizerWeights = stateFile.optimizerWeights.map((spec) => ({ name: spec.name, tensor: optimizerMap[spec.name] }));
  return { dir, name: latest ?? path.basename(dir), weights, optimizerWeights, state: stateFile.state };
}

async function modelArtifacts(
  model: tf.LayersModel,
): Promise<{ data: ArrayBuffer; specs: tf.io.WeightsManifestEntry[]; topology: unknown }> {
  let captured: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      captured = artifacts;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  if (captured?.weightData === undefined || captured.weightSpecs === undefined) {
    throw new Error('model.save produced no weights');
  }
  return {
    data: tf.io.CompositeArrayBuffer.join(captured.weightData),
    specs: captured.weightSpecs,
    topology: captured.modelTopology,
  };
}

function decode(data: Buffer, specs: tf.io.WeightsManifestEntry[], file: string): tf.NamedTensorMap {
  const expected = specs.reduce((sum, s) => sum + tf.util.sizeFromShape(s.shape) * bytesPerElement(s.dtype, file), 0);
  if (data.byteLength !== expected) {
    throw new UserError(`${file} holds ${data.byteLength} bytes but its manifest describes ${expected}`);
  }
  const buffer = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer;
  return tf.io.decodeWeights(buffer, specs);
}

function bytesPerElement(dtype: string, file: string): number {
  if (dtype === 'float32' || dtype === 'int32') return 4;
  if (dtype === 'bool') return 1;
  throw new UserError(`${file}: unsupported weight dtype '${dtype}'`);
}

function readJson(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw fileError(err, `cannot read ${file}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UserError(`${file} is not valid JSON (${(err as Error).message})`);
  }
}

function readBinary(file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw fileError(err, `cannot read ${file}`);
  }
}

function isCheckpointDirName(entry: string): boolean {
  return /^epoch-\d+(-step-\d+)?$/.test(entry);
}

/** Leftovers of a writer that was killed; only one writer uses a directory at a time. */
function removeStaleTemporaries(out: string): void {
  for (const entry of fs.readdirSync(out)) {
    if (entry.startsWith(TMP_PREFIX)) fs.rmSync(path.join(out, entry), { recursive: true, force: true });
  }
}
