/**
 * The package's shipped models on disk: models/<name>/ (see models/shipped_model.ts) and
 * models/record.json, which says how they were made and what they score, and holds every
 * file's sha256 (scripts/demo_models writes both).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import type { Accuracies } from '../evaluation/table';
import { EnvironmentError } from '../errors';
import { fileError } from '../files/atomic';
import { checkFile, FileDigest, loadShippedModel, SHIPPED_FILES, ShippedState } from '../models/shipped_model';
import { packageRoot } from '../version';

/** The shipped models: the quick preset's two, and a DCNv2 fine-tune of its regular CNN where one was made. */
export type ShippedName = 'regular' | 'deform' | 'dcnv2';
export const SHIPPED_NAMES: readonly ShippedName[] = ['regular', 'deform', 'dcnv2'];
export const RECORD_FILE = 'record.json';

/** One shipped model in the record. */
export interface ShippedModelRecord {
  /** The checkpoint it was made from, as given to the script. */
  checkpoint: string;
  /** Full test sets: the float32 checkpoint's accuracy and the shipped model's. */
  float32: Accuracies;
  shipped: Accuracies;
  /** The shipped model's predicted digit for each of the first `subsetCount` test images, plain and scaled. */
  subset: { plain: string; scaled: string };
  /** Every file of its folder. */
  files: Record<string, FileDigest>;
}

/** models/record.json. */
export interface ShippedRecord {
  /** The command that wrote models/ (it refuses when accuracy moves more than `maxAccuracyChange`). */
  regenerate: string;
  trainedBy: string;
  preset: string;
  seed: number;
  weights: string;
  maxAccuracyChange: number;
  subsetCount: number;
  models: Partial<Record<ShippedName, ShippedModelRecord>>;
}

/** models/ of this package. */
export function shippedModelsDir(): string {
  return path.join(packageRoot(), 'models');
}

/** The folder of one shipped model. */
export function shippedModelDir(name: ShippedName): string {
  return path.join(shippedModelsDir(), name);
}

function readBytes(file: string): Uint8Array {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw fileError(err, `cannot read ${file}; reinstall deformconv`);
  }
}

/** models/record.json, parsed. */
export function readShippedRecord(): ShippedRecord {
  const file = path.join(shippedModelsDir(), RECORD_FILE);
  try {
    return JSON.parse(new TextDecoder().decode(readBytes(file))) as ShippedRecord;
  } catch (err) {
    if (err instanceof SyntaxError) throw new EnvironmentError(`${file} is damaged (not JSON); reinstall deformconv`);
    throw err;
  }
}

/** Checks every file of a shipped model against the record; throws in one line naming the first bad one. */
export async function verifyShippedModel(name: ShippedName): Promise<void> {
  const model = readShippedRecord().models[name];
  if (model === undefined) throw new EnvironmentError(`this deformconv ships no ${name} model (${shippedModelsDir()})`);
  for (const [file, digest] of Object.entries(model.files)) {
    const full = path.join(shippedModelDir(name), file);
    await checkFile(full, readBytes(full), digest);
  }
}

/** The model of a shipped folder, read as the demo page reads it (state.json, then the checked files). */
export async function loadShippedModelFrom(dir: string): Promise<{ model: tf.LayersModel; state: ShippedState }> {
  const file = (name: string) => readBytes(path.join(dir, name));
  const state = JSON.parse(new TextDecoder().decode(file(SHIPPED_FILES.state))) as ShippedState;
  const model = await loadShippedModel(state, file(SHIPPED_FILES.model), file(SHIPPED_FILES.weights), `${dir}${path.sep}`);
  return { model, state };
}
