/**
 * The MNIST loader every command uses. Images stay uint8 (the whole set is ~55 MB) and are
 * turned into float32 [0, 1] NHWC batches only when a batch is asked for.
 */
import * as path from 'node:path';
import { EnvironmentError } from '../errors';
import { checkFile, mnistFile, MnistFile } from './checksums';
import { readIdxImages, readIdxLabels } from './idx_files';
import { MnistData, mnistSplit, MnistSplit, MnistSplitName, NUM_CLASSES } from './mnist_split';

/** The default data directory, relative to the working directory; the IDX files go in its mnist/. */
export const DEFAULT_DATA_DIR = 'data';

/** Where the four raw IDX files live inside a data directory. */
export function mnistDir(dataDir: string = DEFAULT_DATA_DIR): string {
  return path.join(dataDir, 'mnist');
}

/** Where loadMnist looks, and whether it verifies the files. */
export interface LoadOptions {
  /** Directory given to `deformconv download` (default 'data'). */
  dataDir?: string;
  /** Check each file's sha256 first (default true; ~50 ms for the whole set). */
  verify?: boolean;
}

/** Loads both splits. Missing data is an EnvironmentError telling the user to run `deformconv download`. */
export async function loadMnist(options: LoadOptions = {}): Promise<MnistData> {
  const [train, test] = await Promise.all([loadMnistSplit('train', options), loadMnistSplit('test', options)]);
  return { train, test };
}

/**
 * Loads one split from `<dataDir>/mnist/` (checking size and sha256 first unless
 * `verify` is false). Missing or corrupt files are an EnvironmentError naming the
 * download command; a malformed file is a UserError.
 */
export async function loadMnistSplit(split: MnistSplitName, options: LoadOptions = {}): Promise<MnistSplit> {
  const dataDir = options.dataDir ?? DEFAULT_DATA_DIR;
  const imagesFile = mnistFile(split, 'images');
  const labelsFile = mnistFile(split, 'labels');
  const [imagesPath, labelsPath] = await Promise.all(
    [imagesFile, labelsFile].map((file) => checkedPath(dataDir, file, options.verify ?? true)),
  );
  const [images, labels] = await Promise.all([readIdxImages(imagesPath), readIdxLabels(labelsPath, NUM_CLASSES)]);
  return mnistSplit(split, { images, labels, imagesFile: imagesPath, labelsFile: labelsPath });
}

async function checkedPath(dataDir: string, file: MnistFile, verify: boolean): Promise<string> {
  const filePath = path.join(mnistDir(dataDir), file.name);
  const status = verify ? await checkFile(filePath, file) : undefined;
  if (status === 'missing') {
    throw new EnvironmentError(`MNIST not found: ${filePath} is missing; run \`${downloadCommandFor(dataDir)}\``);
  }
  if (status === 'corrupt') {
    throw new EnvironmentError(`${filePath} fails its size or sha256 check; run \`${downloadCommandFor(dataDir)}\` to replace it`);
  }
  return filePath;
}

/** The command that puts the data in `dataDir`, for messages. */
export function downloadCommandFor(dataDir: string): string {
  return path.normalize(dataDir) === DEFAULT_DATA_DIR ? 'deformconv download' : `deformconv download --data-dir ${dataDir}`;
}
