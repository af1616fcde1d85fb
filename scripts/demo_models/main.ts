/**
 * `npm run demo-models -- --from DIR [--dcnv2 CHECKPOINTS] [--data-dir data]`: makes the
 * models shipped with the package (models/, what `deformconv demo` opens on) from the
 * checkpoints of a `reproduce --preset quick` run in DIR (DIR/checkpoints/{regular,deform}),
 * and a DCNv2 fine-tune of its regular CNN when given.
 *
 * Each model's kernels are quantised to 8 bits (quantize.ts). The float32 checkpoint and
 * the shipped model are both evaluated on the full plain and scaled test sets, as `eval`
 * does; a shipped model whose accuracy moved more than 0.2 points is refused and nothing
 * is written. models/record.json records the command, seed, preset, both accuracies,
 * the predictions on the first test images (which the tests check, quickly) and every
 * file's sha256. Written into a temporary sibling first, renamed into place at the end.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { parseBackendChoice, useBackend, formatBackend } from '../../src/backend/select';
import { loadMnistSplit } from '../../src/data/mnist';
import { MnistSplit } from '../../src/data/mnist_split';
import type * as tf from '@tensorflow/tfjs';
import { RECORD_FILE, ShippedModelRecord, ShippedName, ShippedRecord, shippedModelsDir } from '../../src/demo/shipped_model_files';
import { evalSet, evaluateModel, predictedDigits, TEST_VARIANTS } from '../../src/evaluation/evaluate';
import type { Accuracies } from '../../src/evaluation/table';
import { TMP_PREFIX } from '../../src/files/atomic';
import { fileDigest, loadShippedModel, SHIPPED_FILES, SHIPPED_FORMAT, SHIPPED_VERSION, ShippedState } from '../../src/models/shipped_model';
import { latestCheckpointName } from '../../src/training/checkpoint';
import { loadTrainedModel } from '../../src/training/train';
import { ModelJson, quantiseModel } from './quantize';

/** The most a shipped model's accuracy (plain or scaled) may differ from its checkpoint's: 0.2 points. */
export const MAX_ACCURACY_CHANGE = 0.002;
/** How many test images the record keeps the predictions of. */
export const SUBSET_COUNT = 200;
const WEIGHTS = 'uint8';
const PRESET = 'quick';

interface Options {
  checkpoints: Partial<Record<ShippedName, string>>;
  dataDir: string;
  backend: string;
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      from: { type: 'string' },
      dcnv2: { type: 'string' },
      'data-dir': { type: 'string', default: 'data' },
      backend: { type: 'string', default: 'wasm' },
    },
  });
  if (values.from === undefined) throw new Error('--from DIR is required: the --out of a `reproduce --preset quick` run');
  const checkpoints: Options['checkpoints'] = {
    regular: path.join(values.from, 'checkpoints', 'regular'),
    deform: path.join(values.from, 'checkpoints', 'deform'),
    ...(values.dcnv2 === undefined ? {} : { dcnv2: values.dcnv2 }),
  };
  return { checkpoints, dataDir: values['data-dir'], backend: values.backend };
}

function accuracyMoved(float32: Accuracies, shipped: Accuracies): boolean {
  return TEST_VARIANTS.some((variant) => Math.abs(shipped[variant] - float32[variant]) > MAX_ACCURACY_CHANGE);
}

/** Predictions on the first test images (on the script's backend: wasm, as the tests run it). */
async function subsetPredictions(model: tf.LayersModel, test: MnistSplit): Promise<ShippedModelRecord['subset']> {
  return {
    plain: await predictedDigits(model, evalSet(test, 'plain', SUBSET_COUNT)),
    scaled: await predictedDigits(model, evalSet(test, 'scaled', SUBSET_COUNT)),
  };
}

/** Writes one shipped model into `target` and returns its record; throws if its accuracy moved too much. */
async function shipModel(name: ShippedName, checkpoints: string, target: string, test: MnistSplit): Promise<ShippedModelRecord> {
  const checkpoint = path.join(checkpoints, latestCheckpointName(checkpoints) ?? '');
  const trained = loadTrainedModel(checkpoints);
  const float32 = await evaluateModel(trained.model, test);
  trained.model.dispose();
  const modelJson = JSON.parse(fs.readFileSync(path.join(checkpoint, SHIPPED_FILES.model), 'utf8')) as ModelJson;
  const quantised = quantiseModel(modelJson, fs.readFileSync(path.join(checkpoint, SHIPPED_FILES.weights)), SHIPPED_FILES.weights);
  const modelBytes = new TextEncoder().encode(JSON.stringify(quantised.modelJson));
  const { epoch, config } = trained.state;
  const state: ShippedState = {
    format: SHIPPED_FORMAT,
    version: SHIPPED_VERSION,
    files: { [SHIPPED_FILES.model]: await fileDigest(modelBytes), [SHIPPED_FILES.weights]: await fileDigest(quantised.weights) },
    state: { epoch, config: { stage: config.stage, deformType: config.deformType, seed: config.seed } },
    shipped: { trainedBy: trainedBy(name, config.seed), weights: WEIGHTS, accuracy: float32 },
  };
  // Loaded from the very bytes written below, as the demo loads them.
  const shippedModel = await loadShippedModel(state, modelBytes, quantised.weights, `${name}/`);
  const shipped = await evaluateModel(shippedModel, test);
  const subset = await subsetPredictions(shippedModel, test);
  shippedModel.dispose();
  console.log(`${name}: float32 ${JSON.stringify(float32)}, shipped (${WEIGHTS}) ${JSON.stringify(shipped)}`);
  if (accuracyMoved(float32, shipped)) {
    throw new Error(`the ${WEIGHTS} ${name} model's accuracy moved more than ${MAX_ACCURACY_CHANGE * 100} points; nothing written`);
  }
  state.shipped.accuracy = shipped;
  fs.mkdirSync(target, { recursive: true });
  fs.writeFileSync(path.join(target, SHIPPED_FILES.model), modelBytes);
  fs.writeFileSync(path.join(target, SHIPPED_FILES.weights), quantised.weights);
  const stateBytes = new TextEncoder().encode(`${JSON.stringify(state, null, 1)}\n`);
  fs.writeFileSync(path.join(target, SHIPPED_FILES.state), stateBytes);
  const files = { [SHIPPED_FILES.state]: await fileDigest(stateBytes), ...state.files };
  return { checkpoint, float32, shipped, subset, files };
}

/** The command that trained a shipped model: the quick preset's reproduce, and for DCNv2 its fine-tune of that regular CNN. */
function trainedBy(name: ShippedName, seed: number): string {
  const reproduce = `deformconv --backend wasm reproduce --preset ${PRESET} --seed ${seed}`;
  if (name !== 'dcnv2') return reproduce;
  return `${reproduce}, then deformconv --backend wasm finetune-deform --deform-type dcnv2 with the preset's deform-stage settings`;
}

async function main(): Promise<void> {
  const options = parseOptions();
  console.log(formatBackend(await useBackend(parseBackendChoice(options.backend, '--backend'))));
  const test = await loadMnistSplit('test', { dataDir: options.dataDir });
  const final = shippedModelsDir();
  const tmp = path.join(path.dirname(final), `${TMP_PREFIX}models-${process.pid}`);
  try {
    const models: ShippedRecord['models'] = {};
    for (const [name, checkpoints] of Object.entries(options.checkpoints) as [ShippedName, string][]) {
      models[name] = await shipModel(name, checkpoints, path.join(tmp, name), test);
    }
    const regular = JSON.parse(fs.readFileSync(path.join(tmp, 'regular', SHIPPED_FILES.state), 'utf8')) as ShippedState;
    const seed = regular.state.config.seed as number;
    const record: ShippedRecord = {
      regenerate: `npm run demo-models -- ${process.argv.slice(2).join(' ')}`,
      trainedBy: trainedBy('regular', seed),
      preset: PRESET,
      seed,
      weights: WEIGHTS,
      maxAccuracyChange: MAX_ACCURACY_CHANGE,
      subsetCount: SUBSET_COUNT,
      models,
    };
    fs.writeFileSync(path.join(tmp, RECORD_FILE), `${JSON.stringify(record, null, 1)}\n`);
    fs.rmSync(final, { recursive: true, force: true });
    fs.renameSync(tmp, final);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  console.log(`wrote ${final}`);
}

main().catch((err: unknown) => {
  console.error(`error: ${(err as Error).message}`);
  process.exitCode = 1;
});
