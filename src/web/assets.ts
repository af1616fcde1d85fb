/**
 * What the demo page loads from its server: the two trained models (a checkpoint's
 * model.json, weights and state.json, under models/regular/ and models/deform/) and the
 * MNIST test digits (the raw IDX files under data/). Every failure becomes a sentence a
 * person can act on.
 */
import * as tf from '@tensorflow/tfjs';
import { parseIdxImages, parseIdxLabels } from '../data/idx';
import { mnistSplit, MnistSplit } from '../data/mnist_split';
import type { DeformType } from '../models/cnn';
import { isShippedState, loadShippedModel, SHIPPED_FILES, ShippedOrigin, ShippedState } from '../models/shipped_model';
import { modelDeformType } from '../tracing/offsets';

/** Where the server puts each model, relative to the page. */
export const MODEL_PATHS = { regular: 'models/regular/', deform: 'models/deform/' } as const;
/** Where the server puts the test split's IDX files, relative to the page. */
export const TEST_DIGIT_PATHS = { images: 'data/t10k-images-idx3-ubyte', labels: 'data/t10k-labels-idx1-ubyte' } as const;

/** The command that trains demo models, for messages. */
const TRAIN_HINT = '`deformconv reproduce --preset smoke` makes demo models in about a minute, `--preset quick` good ones';

export type ModelRole = keyof typeof MODEL_PATHS;

/** A loaded model and what its checkpoint says about it. */
export interface DemoModel {
  role: ModelRole;
  model: tf.LayersModel;
  /** 'seed' (the reference's offset layers), 'dcn' or 'dcnv2'; null for the regular CNN. */
  deformType: DeformType | null;
  /** Epochs trained, and the training stage's name. */
  epochs: number;
  stage: string;
  /** Set for a model shipped with the package: how it was trained and what it scores. */
  shipped?: ShippedOrigin;
}

/** The part of a checkpoint's state.json the page reads. */
interface CheckpointState {
  state?: { epoch?: number; config?: { stage?: string } };
}

/** Loads one model; throws an Error whose message says what is wrong and what to do. */
export async function loadDemoModel(role: ModelRole): Promise<DemoModel> {
  const base = MODEL_PATHS[role];
  const response = await fetch(`${base}state.json`);
  if (response.status === 404) throw new Error(`no ${role} model is served (${base}); ${TRAIN_HINT}, then restart \`deformconv demo\``);
  if (!response.ok) throw new Error(`${base}state.json: HTTP ${response.status}`);
  let state: CheckpointState;
  try {
    state = (await response.json()) as CheckpointState;
  } catch {
    throw new Error(`${base}state.json is not a checkpoint's state (not JSON); retrain the ${role} model (${TRAIN_HINT})`);
  }
  let model: tf.LayersModel;
  if (isShippedState(state)) model = await fetchShippedModel(state, base);
  else {
    try {
      model = await tf.loadLayersModel(`${base}model.json`);
    } catch (err) {
      throw new Error(`the ${role} model in ${base} does not load (${(err as Error).message}); retrain it (${TRAIN_HINT})`, { cause: err });
    }
  }
  const deformType = modelDeformType(model);
  if ((role === 'regular') !== (deformType === null)) {
    model.dispose();
    throw new Error(
      `the model served as ${role} is ${deformType === null ? 'a regular CNN' : `a deformable one (${deformType})`}; check --regular and --deform`,
    );
  }
  const shipped = isShippedState(state) ? state.shipped : undefined;
  return { role, model, deformType, epochs: state.state?.epoch ?? 0, stage: state.state?.config?.stage ?? 'unknown', shipped };
}

/** A shipped model from `base`, each file checked against its state.json before it loads. */
async function fetchShippedModel(state: ShippedState, base: string): Promise<tf.LayersModel> {
  const [modelJson, weights] = await Promise.all(
    [SHIPPED_FILES.model, SHIPPED_FILES.weights].map(async (name) => {
      const response = await fetch(`${base}${name}`);
      if (!response.ok) throw new Error(`${base}${name}: HTTP ${response.status}`);
      return new Uint8Array(await response.arrayBuffer());
    }),
  );
  return loadShippedModel(state, modelJson, weights, base);
}

/** The MNIST test split, or undefined when the server has no data (drawing still works). */
export async function loadTestDigits(): Promise<MnistSplit | undefined> {
  const [images, labels] = await Promise.all([TEST_DIGIT_PATHS.images, TEST_DIGIT_PATHS.labels].map((file) => fetch(file)));
  if (images.status === 404 || labels.status === 404) return undefined;
  if (!images.ok || !labels.ok) throw new Error(`test digits: HTTP ${images.ok ? labels.status : images.status}`);
  const [imageBytes, labelBytes] = await Promise.all([images, labels].map(async (r) => new Uint8Array(await r.arrayBuffer())));
  return mnistSplit('test', {
    images: parseIdxImages(imageBytes, TEST_DIGIT_PATHS.images),
    labels: parseIdxLabels(labelBytes, TEST_DIGIT_PATHS.labels),
    imagesFile: TEST_DIGIT_PATHS.images,
    labelsFile: TEST_DIGIT_PATHS.labels,
  });
}
