/**
 * The trained models shipped with the package (models/ at its root, made by
 * scripts/demo_models from `reproduce --preset quick` checkpoints): each one a folder of
 * a tfjs model.json, its weights.bin (kernels quantised, read back by tf.io.decodeWeights)
 * and a state.json that records the size and sha256 of the other two, so a damaged file
 * is caught, named, before it loads. Browser-safe: the demo page loads them as Node does.
 */
import * as tf from '@tensorflow/tfjs';
import { UserError } from '../errors';
// Registers the models' layer classes, which the model.json names.
import './cnn';

export const SHIPPED_FORMAT = 'deformconv-shipped-model';
export const SHIPPED_VERSION = 1;
/** The files of a shipped model's folder; state.json lists the other two. */
export const SHIPPED_FILES = { state: 'state.json', model: 'model.json', weights: 'weights.bin' } as const;

/** What a file must be. */
export interface FileDigest {
  bytes: number;
  sha256: string;
}

/** Where a shipped model came from and how well it does (fractions of the full test sets). */
export interface ShippedOrigin {
  /** The command that trained it. */
  trainedBy: string;
  /** How its weights are stored, e.g. 'uint8' (kernels; the small tensors stay float32). */
  weights: string;
  accuracy: { plain: number; scaled: number };
}

/** A shipped model's state.json. `state` has the fields of a checkpoint's state that the demo reads. */
export interface ShippedState {
  format: typeof SHIPPED_FORMAT;
  version: number;
  files: Record<typeof SHIPPED_FILES.model | typeof SHIPPED_FILES.weights, FileDigest>;
  state: { epoch: number; config: { stage: string; deformType?: string; seed?: number } };
  shipped: ShippedOrigin;
}

/** True when `json` (a parsed state.json) is a shipped model's, not a checkpoint's. */
export function isShippedState(json: unknown): json is ShippedState {
  return (json as { format?: unknown } | null)?.format === SHIPPED_FORMAT;
}

/** Lowercase hex sha256, or undefined where Web Crypto is absent (a page served over plain HTTP from another host). */
export async function sha256Hex(bytes: Uint8Array): Promise<string | undefined> {
  const subtle = globalThis.crypto?.subtle;
  if (subtle === undefined) return undefined;
  const digest = new Uint8Array(await subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** The digest of `bytes`, for a record. */
export async function fileDigest(bytes: Uint8Array): Promise<FileDigest> {
  return { bytes: bytes.byteLength, sha256: (await sha256Hex(bytes)) as string };
}

/** Throws, in one line naming `file`, unless `bytes` have the expected size and (where it can be computed) sha256. */
export async function checkFile(file: string, bytes: Uint8Array, expected: FileDigest): Promise<void> {
  const fix = 'reinstall deformconv (or rebuild the demo site)';
  if (bytes.byteLength !== expected.bytes) {
    throw new UserError(`${file} is damaged: ${bytes.byteLength} bytes, the shipped file has ${expected.bytes}; ${fix}`);
  }
  const sha256 = await sha256Hex(bytes);
  if (sha256 !== undefined && sha256 !== expected.sha256) {
    throw new UserError(`${file} is damaged: its sha256 is not the shipped file's; ${fix}`);
  }
}

/**
 * The model of a shipped folder, from its files' bytes (read from disk or fetched):
 * each checked against state.json first. `folder` names the files in messages.
 */
export async function loadShippedModel(
  state: ShippedState,
  modelJson: Uint8Array,
  weights: Uint8Array,
  folder: string,
): Promise<tf.LayersModel> {
  await checkFile(`${folder}${SHIPPED_FILES.model}`, modelJson, state.files[SHIPPED_FILES.model]);
  await checkFile(`${folder}${SHIPPED_FILES.weights}`, weights, state.files[SHIPPED_FILES.weights]);
  const { modelTopology, weightsManifest } = JSON.parse(new TextDecoder().decode(modelJson)) as {
    modelTopology: object;
    weightsManifest: tf.io.WeightsManifestConfig;
  };
  const weightData = weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength) as ArrayBuffer;
  return tf.loadLayersModel(tf.io.fromMemory({ modelTopology, weightSpecs: weightsManifest[0].weights, weightData }));
}
