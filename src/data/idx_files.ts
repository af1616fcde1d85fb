/** IDX files read from disk and parsed (idx.ts). Node only. */
import { readFile } from 'node:fs/promises';
import { UserError } from '../errors';
import { IdxImages, IdxLabels, parseIdxImages, parseIdxLabels } from './idx';

/** Reads and parses an IDX images file; an unreadable or malformed file is a UserError. */
export async function readIdxImages(path: string): Promise<IdxImages> {
  return parseIdxImages(await readBytes(path), path);
}

/** Reads and parses an IDX labels file; an unreadable or malformed file, or a label >= numClasses, is a UserError. */
export async function readIdxLabels(path: string, numClasses = 10): Promise<IdxLabels> {
  return parseIdxLabels(await readBytes(path), path, numClasses);
}

async function readBytes(path: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserError(`${path}: cannot read (${code ?? (err as Error).message})`);
  }
}
