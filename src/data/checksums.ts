/**
 * The MNIST files this project accepts, with their checksums (listed in
 * docs/EXPERIMENT.md, "The data"). The sha256 of the raw IDX file is what decides; the md5
 * of the well-known .gz copies only helps explain a mismatch (a mirror may recompress).
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { MnistSplitName } from './mnist_split';

/** One of the four raw MNIST IDX files and what it must hash to. */
export interface MnistFile {
  /** File name of the raw IDX file; mirrors serve it as `<name>.gz`. */
  name: string;
  split: MnistSplitName;
  kind: 'images' | 'labels';
  /** Size of the raw file in bytes. */
  bytes: number;
  /** sha256 of the raw (uncompressed) file, lower-case hex: what decides. */
  sha256: string;
  /** md5 of the well-known gzip copy. */
  gzMd5: string;
}

/** The four raw MNIST files (train images and labels, test images and labels) with their sizes and checksums. */
export const MNIST_FILES: readonly MnistFile[] = [
  {
    name: 'train-images-idx3-ubyte', split: 'train', kind: 'images', bytes: 47_040_016,
    sha256: 'ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db',
    gzMd5: 'f68b3c2dcbeaaa9fbdd348bbdeb94873',
  },
  {
    name: 'train-labels-idx1-ubyte', split: 'train', kind: 'labels', bytes: 60_008,
    sha256: '65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5',
    gzMd5: 'd53e105ee54ea40749a09fcbcd1e9432',
  },
  {
    name: 't10k-images-idx3-ubyte', split: 'test', kind: 'images', bytes: 7_840_016,
    sha256: '0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7',
    gzMd5: '9fb629c4189551a2d022fa330f9573f3',
  },
  {
    name: 't10k-labels-idx1-ubyte', split: 'test', kind: 'labels', bytes: 10_008,
    sha256: 'ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2',
    gzMd5: 'ec29112dd5afa0611ce80d1b7f02629c',
  },
];

/** The entry for one split's images or labels. */
export function mnistFile(split: MnistSplitName, kind: 'images' | 'labels'): MnistFile {
  const file = MNIST_FILES.find((f) => f.split === split && f.kind === kind);
  if (file === undefined) throw new Error(`no MNIST ${split} ${kind} entry`);
  return file;
}

/** 'verified': right size and sha256; 'corrupt': present but wrong size or sha256. */
export type FileStatus = 'missing' | 'corrupt' | 'verified';

/** Checks a file on disk against its table entry (size first, so a wrong file is cheap to reject). */
export async function checkFile(path: string, file: MnistFile): Promise<FileStatus> {
  let size: number;
  try {
    const info = await stat(path);
    if (!info.isFile()) return 'corrupt';
    size = info.size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
    throw err;
  }
  if (size !== file.bytes) return 'corrupt';
  return (await sha256OfFile(path)) === file.sha256 ? 'verified' : 'corrupt';
}

/** The sha256 of a file, lower-case hex, read as a stream. */
export async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
