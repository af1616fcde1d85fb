/**
 * The models shipped with the package (models/, made by scripts/demo_models): the record
 * says they score within 0.2 points of the float32 checkpoints they came from; every file
 * is the one recorded; loaded as the demo loads them, they predict the recorded digits of
 * the first test images; and a damaged file fails in one line naming it, in Node and in
 * the CLI (a copy of the package whose shipped model was altered).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { useBackend } from '../src/backend/select';
import { loadMnistSplit } from '../src/data/mnist';
import {
  loadShippedModelFrom,
  readShippedRecord,
  SHIPPED_NAMES,
  ShippedName,
  shippedModelDir,
  shippedModelsDir,
  verifyShippedModel,
} from '../src/demo/shipped_model_files';
import { evalSet, predictedDigits, TEST_VARIANTS } from '../src/evaluation/evaluate';
import { dataDirWith, expectOneLineError, runCli } from './helpers/cli';

const REPO = path.resolve(__dirname, '..');
const record = readShippedRecord();
const shippedNames = SHIPPED_NAMES.filter((name) => record.models[name] !== undefined);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'deformconv-shipped-'));

afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A copy of one shipped model's folder, to damage. */
function copyOfModel(name: ShippedName): string {
  const dir = path.join(fs.mkdtempSync(path.join(tmp, 'copy-')), name);
  fs.cpSync(shippedModelDir(name), dir, { recursive: true });
  return dir;
}

describe('the shipped models', () => {
  it("are the quick preset's regular and deformable CNNs, within 0.2 points of their float32 checkpoints, plain and scaled", () => {
    expect(shippedNames).toEqual(expect.arrayContaining(['regular', 'deform']));
    expect(record.preset).toBe('quick');
    for (const name of shippedNames) {
      const { float32, shipped } = record.models[name]!;
      for (const variant of TEST_VARIANTS)
        expect(Math.abs(shipped[variant] - float32[variant]), `${name} ${variant}`).toBeLessThanOrEqual(0.002);
    }
  });

  it('are, file for file, what the record names', async () => {
    for (const name of shippedNames) await expect(verifyShippedModel(name)).resolves.toBeUndefined();
  });

  it('predict, loaded as the demo loads them, the recorded digits of the first test images: test digit #0 (a 7) as 7', async () => {
    await useBackend('wasm');
    const test = await loadMnistSplit('test', { dataDir: dataDirWith(path.join(tmp, 'data')) });
    expect(test.labels[0]).toBe(7);
    for (const name of shippedNames) {
      const { model } = await loadShippedModelFrom(shippedModelDir(name));
      const { subset } = record.models[name]!;
      for (const variant of TEST_VARIANTS) {
        expect(await predictedDigits(model, evalSet(test, variant, record.subsetCount)), `${name} ${variant}`).toBe(subset[variant]);
      }
      expect(subset.plain[0], name).toBe('7');
      model.dispose();
    }
  }, 120_000);

  it('refuse to load, in one line naming the file, when a file is truncated or altered', async () => {
    const truncated = copyOfModel('regular');
    const weights = path.join(truncated, 'weights.bin');
    fs.truncateSync(weights, fs.statSync(weights).size - 7);
    await expect(loadShippedModelFrom(truncated)).rejects.toThrow(
      new RegExp(`^${weights.replace(/[.\\]/g, '\\$&')} is damaged: \\d+ bytes, the shipped file has \\d+; reinstall deformconv`),
    );
    const altered = copyOfModel('regular');
    const modelJson = path.join(altered, 'model.json');
    fs.writeFileSync(modelJson, fs.readFileSync(modelJson, 'utf8').replace('"conv11"', '"conv1X"'));
    await expect(loadShippedModelFrom(altered)).rejects.toThrow(/model\.json is damaged: its sha256 is not the shipped file's/);
  });
});

describe('deformconv demo with a damaged shipped model', () => {
  it('exits 1 with one line naming the file, and builds nothing', async () => {
    const pkg = path.join(tmp, 'package');
    for (const part of ['package.json', 'dist/src', 'dist/web'])
      fs.cpSync(path.join(REPO, part), path.join(pkg, part), { recursive: true });
    fs.cpSync(shippedModelsDir(), path.join(pkg, 'models'), { recursive: true });
    fs.symlinkSync(path.join(REPO, 'node_modules'), path.join(pkg, 'node_modules'));
    const weights = path.join(pkg, 'models', 'deform', 'weights.bin');
    const bytes = fs.readFileSync(weights);
    bytes[bytes.length >> 1] ^= 0xff;
    fs.writeFileSync(weights, bytes);
    const site = path.join(tmp, 'site');
    const run = await runCli(['demo', '--build', site], { cwd: tmp, cli: path.join(pkg, 'dist', 'src', 'cli', 'main.js') });
    expectOneLineError(run, 1, /^error: \S+\/models\/deform\/weights\.bin is damaged: its sha256 is not the shipped file's; reinstall/);
    expect(fs.existsSync(site)).toBe(false);
  }, 60_000);
});
