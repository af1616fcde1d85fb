/**
 * Reader for the IDX format MNIST ships in: a big-endian uint32 magic number (2051 for
 * images, 2049 for labels: 0x08 = uint8 data, then the number of dimensions), one
 * big-endian uint32 per dimension, then the uint8 data, row-major.
 * A file that does not match its header exactly is rejected with a UserError that names
 * the file and what is wrong; nothing is guessed. Parsing only (browser-safe):
 * idx_files.ts reads the files from disk.
 */
import { UserError } from '../errors';

/** Magic number of an IDX file of uint8 images: 0x00000803 (uint8 data, 3 dimensions). */
export const IDX_IMAGES_MAGIC = 2051;
/** Magic number of an IDX file of uint8 labels: 0x00000801 (uint8 data, 1 dimension). */
export const IDX_LABELS_MAGIC = 2049;

/** A parsed IDX images file. */
export interface IdxImages {
  count: number;
  rows: number;
  cols: number;
  /** count * rows * cols pixels, row-major, 0..255. A view into the file's bytes. */
  pixels: Uint8Array;
}

/** A parsed IDX labels file. */
export interface IdxLabels {
  count: number;
  /** One class index per item. A view into the file's bytes. */
  labels: Uint8Array;
}

/** Parses an IDX images file (magic 2051, dims count x rows x cols). `file` names it in errors. */
export function parseIdxImages(bytes: Uint8Array, file: string): IdxImages {
  const [count, rows, cols] = parseHeader(bytes, file, IDX_IMAGES_MAGIC, 'images');
  const pixels = dataAfterHeader(bytes, file, [count, rows, cols], 'images');
  return { count, rows, cols, pixels };
}

/**
 * Parses an IDX labels file (magic 2049, one dim). Every label must be below `numClasses`.
 */
export function parseIdxLabels(bytes: Uint8Array, file: string, numClasses = 10): IdxLabels {
  const [count] = parseHeader(bytes, file, IDX_LABELS_MAGIC, 'labels');
  const labels = dataAfterHeader(bytes, file, [count], 'labels');
  const bad = labels.findIndex((label) => label >= numClasses);
  if (bad >= 0) {
    throw new UserError(`${file}: label ${labels[bad]} at index ${bad} is outside 0..${numClasses - 1}`);
  }
  return { count, labels };
}

const MAGIC_KINDS: Record<number, string> = { [IDX_IMAGES_MAGIC]: 'images', [IDX_LABELS_MAGIC]: 'labels' };

function parseHeader(bytes: Uint8Array, file: string, magic: number, kind: string): number[] {
  const ndims = magic & 0xff;
  const headerBytes = 4 + 4 * ndims;
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    throw new UserError(`${file}: is gzip-compressed; decompress it first (gunzip)`);
  }
  if (bytes.length < headerBytes) {
    throw new UserError(`${file}: truncated: ${bytes.length} bytes, shorter than the ${headerBytes}-byte header of an IDX ${kind} file`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const found = view.getUint32(0, false);
  if (found !== magic) {
    const what = MAGIC_KINDS[found] !== undefined ? ` (an IDX ${MAGIC_KINDS[found]} file)` : '';
    throw new UserError(`${file}: wrong magic number ${found}${what}, expected ${magic} (IDX ${kind})`);
  }
  const dims: number[] = [];
  for (let i = 0; i < ndims; i++) dims.push(view.getUint32(4 + 4 * i, false));
  if (dims.some((d) => d === 0)) throw new UserError(`${file}: header declares an empty shape [${dims.join(', ')}]`);
  return dims;
}

function dataAfterHeader(bytes: Uint8Array, file: string, dims: number[], kind: string): Uint8Array {
  const headerBytes = 4 + 4 * dims.length;
  const dataBytes = dims.reduce((a, b) => a * b, 1);
  const expected = headerBytes + dataBytes;
  const shape = dims.join('x');
  if (bytes.length < expected) {
    throw new UserError(`${file}: truncated: ${bytes.length} bytes, but its header declares ${shape} ${kind} (${expected} bytes)`);
  }
  if (bytes.length > expected) {
    throw new UserError(`${file}: ${bytes.length - expected} bytes of trailing data after the ${shape} ${kind} its header declares`);
  }
  return bytes.subarray(headerBytes, expected);
}
