/**
 * Per-epoch snapshots of what a deformable fine-tune changes (the offset layers, or the
 * offset and mask convolutions of DeformConv2D layers, and the BatchNorm layers), so that pictures can show the sampling locations epoch by epoch
 * although a checkpoint directory keeps only its latest epoch.
 *
 * Layout: <out>/offset-history/epoch-0003.bin, one file per epoch (epoch-0000: before
 * the first step). A file is a little-endian uint32 header length, a JSON header
 * { format, version, epoch, weights: manifest }, then the float32 weights. Each file is
 * written to a temporary sibling and renamed into place.
 */

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { UserError } from '../errors';
import { DeformConv2D } from '../layers/deform_conv2d_layer';
import { BASE_LAYER_NAMES } from '../models/cnn';
import { fileError, writeFileSafely } from '../files/atomic';
import { modelDeformType } from '../tracing/offsets';

/** The folder, inside a fine-tune's checkpoint directory, that holds its per-epoch offset snapshots. */
export const SNAPSHOT_DIR = 'offset-history';
const FORMAT = 'deformconv-offset-snapshot';
const VERSION = 1;
const NAME = /^epoch-(\d{4,})\.bin$/;

interface SnapshotHeader {
  format: typeof FORMAT;
  version: number;
  epoch: number;
  weights: tf.io.WeightsManifestEntry[];
}

/** One snapshot file, as listOffsetSnapshots finds it. */
export interface OffsetSnapshot {
  /** Completed epochs when it was taken (0: before the first step). */
  epoch: number;
  /** Its path. */
  file: string;
}

/**
 * The weights a snapshot holds: all but those of the frozen base (conv11..conv22, fc1),
 * except that of a DeformConv2D base layer it holds the offset (and mask) convolution
 * (its weights named '<layer>/offset_kernel' and '<layer>/offset_bias').
 */
function snapshotWeights(model: tf.LayersModel): tf.LayerVariable[] {
  return model.layers.flatMap((layer) => {
    if (layer instanceof DeformConv2D) return layer.weights.filter((w) => w.originalName.startsWith(`${layer.name}/offset_`));
    return (BASE_LAYER_NAMES as readonly string[]).includes(layer.name) ? [] : layer.weights;
  });
}

/**
 * Writes the snapshot of `epoch` (completed epochs) into <out>/offset-history. Does
 * nothing for a model without offsets (neither offset layers nor DeformConv2D layers).
 */
export async function saveOffsetSnapshot(out: string, epoch: number, model: tf.LayersModel): Promise<void> {
  if (modelDeformType(model) === null) return;
  const named = snapshotWeights(model).map((w) => ({ name: w.originalName, tensor: w.read() }));
  const { data, specs } = await tf.io.encodeWeights(named);
  const header: SnapshotHeader = { format: FORMAT, version: VERSION, epoch, weights: specs };
  const headerBytes = Buffer.from(JSON.stringify(header), 'utf8');
  const length = Buffer.alloc(4);
  length.writeUInt32LE(headerBytes.length, 0);
  const dir = path.join(out, SNAPSHOT_DIR);
  const file = path.join(dir, `epoch-${String(epoch).padStart(4, '0')}.bin`);
  writeFileSafely(file, Buffer.concat([length, headerBytes, Buffer.from(data)]), `offset snapshot ${file}`);
}

/** The snapshots in a checkpoint directory, by epoch (none: []). */
export function listOffsetSnapshots(out: string): OffsetSnapshot[] {
  const dir = path.join(out, SNAPSHOT_DIR);
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .map((name) => ({ match: NAME.exec(name), name }))
    .filter((e): e is { match: RegExpExecArray; name: string } => e.match !== null)
    .map((e) => ({ epoch: Number(e.match[1]), file: path.join(dir, e.name) }))
    .sort((a, b) => a.epoch - b.epoch);
}

/** Loads a snapshot's weights into `model` (the deformable CNN it was taken from). */
export function loadOffsetSnapshot(file: string, model: tf.LayersModel): void {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (err) {
    throw fileError(err, `cannot read offset snapshot ${file}`);
  }
  const headerLength = bytes.length >= 4 ? bytes.readUInt32LE(0) : -1;
  let header: SnapshotHeader;
  try {
    if (headerLength < 0 || 4 + headerLength > bytes.length) throw new Error('truncated');
    header = JSON.parse(bytes.subarray(4, 4 + headerLength).toString('utf8')) as SnapshotHeader;
  } catch (err) {
    throw new UserError(`${file} is not an offset snapshot (${(err as Error).message})`);
  }
  if (header.format !== FORMAT || header.version !== VERSION) {
    throw new UserError(`${file} is not an offset snapshot (format ${FORMAT} v${VERSION})`);
  }
  const body = bytes.subarray(4 + headerLength);
  const expected = header.weights.reduce((sum, w) => sum + 4 * tf.util.sizeFromShape(w.shape), 0);
  if (body.length !== expected || header.weights.some((w) => w.dtype !== 'float32')) {
    throw new UserError(`${file} holds ${body.length} bytes of weights, its header describes ${expected} (float32)`);
  }
  const weights = tf.io.decodeWeights(body.buffer.slice(body.byteOffset, body.byteOffset + body.length) as ArrayBuffer, header.weights);
  try {
    const targets = snapshotWeights(model);
    const values = targets.map((w) => {
      const value = weights[w.originalName];
      if (value === undefined || !tf.util.arraysEqual(value.shape, w.shape as number[])) {
        throw new UserError(`${file} does not fit the model: weight '${w.originalName}' is missing or has another shape`);
      }
      return value;
    });
    targets.forEach((w, i) => w.write(values[i]));
  } finally {
    tf.dispose(Object.values(weights));
  }
}
