import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../src/backend/select';
import { downloadMnist } from '../src/data/download';
import { loadMnist } from '../src/data/mnist';
import { MnistData } from '../src/data/mnist_split';
import { latestCheckpointName, readCheckpoint } from '../src/training/checkpoint';
import { TrainConfig } from '../src/training/config';
import { EpochRecord, finetuneDeform, trainRegular, TrainOptions, TrainResult, TrainingState } from '../src/training/train';

let tmp: string;
let data: MnistData;
const quiet = (): void => {};

beforeAll(async () => {
  await useBackend('wasm');
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'deformconv-training-'));
  await downloadMnist({ dataDir: path.join(tmp, 'data'), source: 'package' });
  data = await loadMnist({ dataDir: path.join(tmp, 'data') });
});

afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Runs a stage to its end, disposing the model. */
async function run(stage: typeof trainRegular, config: Partial<TrainConfig>, extra: Partial<TrainOptions> = {}): Promise<TrainResult> {
  const result = await stage({ data, config, log: quiet, progress: false, ...extra });
  result.model.dispose();
  return result;
}

/** A stop request at the n-th poll (shouldStop is polled after every step and after every epoch's checkpoint). */
function stopAfter(n: number): () => boolean {
  let polls = 0;
  return () => ++polls >= n;
}

/** sha256 of the latest checkpoint's weights and optimizer state (deep-comparing MBs of bytes is slow). */
function checkpointFiles(out: string): Record<string, string> {
  const dir = path.join(out, latestCheckpointName(out) as string);
  const digest = (f: string): string =>
    crypto
      .createHash('sha256')
      .update(fs.readFileSync(path.join(dir, f)))
      .digest('hex');
  return { weights: digest('weights.bin'), optimizer: digest('optimizer.bin') };
}

/** What must match between runs: everything but wall-clock figures. */
function learning(metrics: EpochRecord[]): unknown {
  return metrics.map(({ epoch, loss, accuracy, val }) => ({ epoch, loss, accuracy, val }));
}

const regularConfig: Partial<TrainConfig> = { epochs: 2, limit: 96, batchSize: 16, valLimit: 40, seed: 3 };

describe('training and resume', () => {
  it('resumes a regular run stopped mid-epoch to exactly the uninterrupted result', async () => {
    const straight = path.join(tmp, 'regular-straight');
    const before = tf.memory().numTensors;
    const a = await run(trainRegular, { ...regularConfig, out: straight });
    expect(tf.memory().numTensors).toBe(before);
    expect(a.status).toBe('completed');
    expect(latestCheckpointName(straight)).toBe('epoch-0002');

    const resumed = path.join(tmp, 'regular-resumed');
    const stopped = await run(trainRegular, { ...regularConfig, out: resumed }, { shouldStop: stopAfter(4) });
    expect(stopped.status).toBe('interrupted');
    expect(latestCheckpointName(resumed)).toBe('epoch-0000-step-000004');
    const b = await run(trainRegular, { out: resumed }, { resume: true });
    expect(b.status).toBe('completed');

    expect(checkpointFiles(resumed)).toEqual(checkpointFiles(straight));
    expect(learning(b.state.metrics)).toEqual(learning(a.state.metrics));
    const metricsFile = JSON.parse(fs.readFileSync(path.join(resumed, 'metrics.json'), 'utf8'));
    expect(learning(metricsFile.epochs)).toEqual(learning(a.state.metrics));
    expect(metricsFile.backend.name).toBe('wasm');
    // Only the latest checkpoint is kept.
    expect(fs.readdirSync(resumed).sort()).toEqual(['checkpoint.json', 'epoch-0002', 'metrics.json']);
  });

  it('resumes a fine-tune (fresh augmentation every epoch) stopped mid-epoch to exactly the uninterrupted result', async () => {
    const from = path.join(tmp, 'regular-straight');
    const config: Partial<TrainConfig> = { from, epochs: 2, limit: 32, batchSize: 16, valLimit: 20, seed: 4 };
    const straight = path.join(tmp, 'deform-straight');
    const a = await run(finetuneDeform, { ...config, out: straight });
    const state = readCheckpoint<TrainingState>(straight).state;
    expect(state.source).toMatchObject({ checkpoint: from, name: 'epoch-0002', epoch: 2 });
    expect(Object.keys(a.state.metrics[0].val)).toEqual(['scaled']);

    const resumed = path.join(tmp, 'deform-resumed');
    const stopped = await run(finetuneDeform, { ...config, out: resumed }, { shouldStop: stopAfter(4) });
    expect(stopped.status).toBe('interrupted');
    expect(latestCheckpointName(resumed)).toBe('epoch-0001-step-000001');
    const b = await run(finetuneDeform, { out: resumed }, { resume: true });
    expect(checkpointFiles(resumed)).toEqual(checkpointFiles(straight));
    expect(learning(b.state.metrics)).toEqual(learning(a.state.metrics));
  });

  it('resumes a data-parallel run (2 threads) stopped mid-epoch to exactly the uninterrupted result', async () => {
    const config: Partial<TrainConfig> = { epochs: 1, limit: 64, batchSize: 16, valLimit: 20, seed: 5, threads: 2 };
    const straight = path.join(tmp, 'parallel-straight');
    const a = await run(trainRegular, { ...config, out: straight });
    const resumed = path.join(tmp, 'parallel-resumed');
    expect((await run(trainRegular, { ...config, out: resumed }, { shouldStop: stopAfter(2) })).status).toBe('interrupted');
    const b = await run(trainRegular, { out: resumed }, { resume: true });
    expect(checkpointFiles(resumed)).toEqual(checkpointFiles(straight));
    expect(learning(b.state.metrics)).toEqual(learning(a.state.metrics));
    // Synchronous BatchNorm: the 1-thread run's result, to rounding; so the threads may change on resume.
    const single = await run(trainRegular, { ...config, threads: 1, out: path.join(tmp, 'parallel-single') });
    expect(Math.abs(single.state.metrics[0].loss - a.state.metrics[0].loss) / a.state.metrics[0].loss).toBeLessThan(1e-3);
    const moved = path.join(tmp, 'parallel-resumed-on-one');
    expect((await run(trainRegular, { ...config, out: moved }, { shouldStop: stopAfter(2) })).status).toBe('interrupted');
    const c = await run(trainRegular, { out: moved, threads: 1 }, { resume: true });
    expect(c.config.threads).toBe(1);
    expect(Math.abs(c.state.metrics[0].loss - a.state.metrics[0].loss) / a.state.metrics[0].loss).toBeLessThan(1e-3);
  });

  it('refuses to overwrite a checkpoint, to resume with other settings, and to fine-tune from a non-regular checkpoint', async () => {
    const out = path.join(tmp, 'regular-straight');
    await expect(run(trainRegular, { ...regularConfig, out })).rejects.toThrow(/already holds a checkpoint \(epoch-0002\); pass --resume/);
    await expect(run(trainRegular, { out, batchSize: 8 }, { resume: true })).rejects.toThrow(
      "--batch-size 8 differs from the checkpoint's 16",
    );
    await expect(run(finetuneDeform, { out: path.join(tmp, 'x'), from: path.join(tmp, 'deform-straight') })).rejects.toThrow(
      /holds a deform checkpoint; expected a regular CNN/,
    );
    await expect(run(finetuneDeform, { out: path.join(tmp, 'y'), from: path.join(tmp, 'nowhere') })).rejects.toThrow(
      /checkpoint directory .*nowhere does not exist/,
    );
    await expect(run(trainRegular, { out: path.join(tmp, 'data', 'mnist', 'train-labels-idx1-ubyte', 'sub') })).rejects.toThrow(
      /cannot write checkpoints to .*not a directory/,
    );
  });

  it('an already finished run resumes to completion without training', async () => {
    const out = path.join(tmp, 'regular-straight');
    const files = checkpointFiles(out);
    const result = await run(trainRegular, { out }, { resume: true });
    expect(result.status).toBe('completed');
    expect(checkpointFiles(out)).toEqual(files);
  });

  it('stops at once when the loss becomes NaN, naming epoch and step, and keeps the last good checkpoint', async () => {
    const out = path.join(tmp, 'diverging');
    await run(trainRegular, { ...regularConfig, epochs: 1, out });
    const files = checkpointFiles(out);
    // A resumed run may take a new learning rate; an absurd one makes the model diverge.
    await expect(run(trainRegular, { out, epochs: 3, learningRate: 1e38 }, { resume: true })).rejects.toThrow(
      /(loss became NaN at epoch 2, step \d+ of 6|weight '.*' is no longer finite).* The last good checkpoint \(.*epoch-0001\) is kept; try a lower --lr/,
    );
    expect(latestCheckpointName(out)).toBe('epoch-0001');
    expect(checkpointFiles(out)).toEqual(files);
  });
});
