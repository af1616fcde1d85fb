import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { useBackend } from '../src/backend/select';
import { EnvironmentError, UserError } from '../src/errors';
import { loadMnist, loadMnistSplit } from '../src/data/mnist';
import { imagesAsFloat, mnistBatch, MnistData } from '../src/data/mnist_split';
import { PACKAGE_DATA } from './helpers/packages';

const scratch = mkdtempSync(path.join(tmpdir(), 'deformconv-mnist-'));

/** A data dir whose mnist/ is the package's data folder. */
function linkedDataDir(): string {
  const dir = path.join(scratch, 'linked');
  mkdirSync(dir, { recursive: true });
  symlinkSync(PACKAGE_DATA, path.join(dir, 'mnist'));
  return dir;
}

let mnist: MnistData;
beforeAll(async () => {
  await useBackend('cpu');
  mnist = await loadMnist({ dataDir: linkedDataDir() });
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('loadMnist', () => {
  test('loads both splits as uint8, verified', () => {
    expect([mnist.train.count, mnist.train.height, mnist.train.width]).toEqual([60000, 28, 28]);
    expect(mnist.train.images).toBeInstanceOf(Uint8Array);
    expect(mnist.train.images.length).toBe(60000 * 784);
    expect(mnist.test.count).toBe(10000);
    expect(Array.from(mnist.test.labels.subarray(0, 10))).toEqual([7, 2, 1, 0, 4, 1, 4, 9, 5, 9]);
  });

  test('missing data says to run deformconv download with the data dir', async () => {
    const dir = path.join(scratch, 'empty');
    const error = await loadMnistSplit('test', { dataDir: dir }).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(EnvironmentError);
    expect((error as Error).message).toMatch(/MNIST not found: .*t10k-.*is missing; run `deformconv download --data-dir .*empty`/);
  });

  test('a corrupt file fails verification', async () => {
    const dir = path.join(scratch, 'corrupt');
    mkdirSync(path.join(dir, 'mnist'), { recursive: true });
    copyFileSync(path.join(PACKAGE_DATA, 't10k-images-idx3-ubyte'), path.join(dir, 'mnist', 't10k-images-idx3-ubyte'));
    writeFileSync(path.join(dir, 'mnist', 't10k-labels-idx1-ubyte'), Buffer.alloc(10008, 1));
    await expect(loadMnistSplit('test', { dataDir: dir })).rejects.toThrow(/t10k-labels-idx1-ubyte fails its size or sha256 check/);
  });

  test('images and labels of different counts are a count mismatch (verification off)', async () => {
    const dir = path.join(scratch, 'mismatch');
    mkdirSync(path.join(dir, 'mnist'), { recursive: true });
    symlinkSync(path.join(PACKAGE_DATA, 't10k-images-idx3-ubyte'), path.join(dir, 'mnist', 't10k-images-idx3-ubyte'));
    symlinkSync(path.join(PACKAGE_DATA, 'train-labels-idx1-ubyte'), path.join(dir, 'mnist', 't10k-labels-idx1-ubyte'));
    const error = await loadMnistSplit('test', { dataDir: dir, verify: false }).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(UserError);
    expect((error as Error).message).toMatch(/^count mismatch: .* has 10000 images but .* has 60000 labels$/);
  });
});

describe('batches', () => {
  test('float images in [0, 1], NHWC, in the order of the indices', () => {
    const floats = imagesAsFloat(mnist.test, [3, 0]);
    expect(floats.length).toBe(2 * 784);
    expect(floats[784 + 200]).toBeCloseTo(mnist.test.images[200] / 255, 7);
    expect(floats[300]).toBeCloseTo(mnist.test.images[3 * 784 + 300] / 255, 7);
    expect(Math.max(...floats)).toBe(1);
    expect(Math.min(...floats)).toBe(0);
  });

  test('one-hot and int labels', () => {
    const { xs, ys } = mnistBatch(mnist.train, [0, 1, 2]);
    expect(xs.shape).toEqual([3, 28, 28, 1]);
    expect(xs.dtype).toBe('float32');
    expect(ys.shape).toEqual([3, 10]);
    expect(Array.from(ys.argMax(-1).dataSync())).toEqual([5, 0, 4]);
    expect(ys.sum().dataSync()[0]).toBe(3);
    const ints = mnistBatch(mnist.train, [0, 1, 2], 'int').ys;
    expect(ints.dtype).toBe('int32');
    expect(Array.from(ints.dataSync())).toEqual([5, 0, 4]);
    tf.dispose([xs, ys, ints]);
  });

  test('an index outside the split is a RangeError', () => {
    expect(() => imagesAsFloat(mnist.test, [10000])).toThrow(/index 10000 is outside the test split \(0\.\.9999\)/);
  });
});
