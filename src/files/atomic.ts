/**
 * Files that a kill at any moment leaves either old or new, never half-written: each is
 * written to a temporary sibling, flushed, and renamed over the old one.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EnvironmentError, UserError } from '../errors';

/** The prefix of every temporary file or directory a writer leaves if it is killed. */
export const TMP_PREFIX = '.tmp-';

/** Writes `file` and flushes it to disk (not atomic: for files inside a temporary directory). */
export function writeDurable(file: string, data: string | Uint8Array): void {
  const fd = fs.openSync(file, 'w');
  try {
    fs.writeFileSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Writes `file` by writing a temporary sibling and renaming it over the old one. */
export function replaceFileAtomically(file: string, data: string | Uint8Array): void {
  const tmp = path.join(path.dirname(file), `${TMP_PREFIX}${path.basename(file)}-${process.pid}`);
  try {
    writeDurable(tmp, data);
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  syncDir(path.dirname(file));
}

/** Flushes a directory's entries (a rename) to disk. */
export function syncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** A file-system failure as a one-line error: a full disk is the environment, a bad path the user. */
export function fileError(err: unknown, what: string): Error {
  const e = err as NodeJS.ErrnoException;
  if (e instanceof UserError || e instanceof EnvironmentError) return e;
  switch (e.code) {
    case 'ENOSPC':
    case 'EDQUOT':
      return new EnvironmentError(`${what}: no space left on device`);
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return new UserError(`${what}: permission denied`);
    case 'ENOENT':
      return new UserError(`${what}: no such file or directory`);
    case 'ENOTDIR':
    case 'EEXIST':
      return new UserError(`${what}: a path component is not a directory`);
    default:
      return e.code ? new EnvironmentError(`${what}: ${e.code} ${e.message}`) : e;
  }
}

/** Writes `value` as indented JSON (and a final newline) with replaceFileAtomically. */
export function writeJsonAtomically(file: string, value: unknown): void {
  replaceFileAtomically(file, jsonText(value));
}

/**
 * Writes `file` atomically, creating its directory first; a failure becomes a one-line
 * error starting "cannot write <what>" (default: the file's path).
 */
export function writeFileSafely(file: string, data: string | Uint8Array, what = file): void {
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    replaceFileAtomically(file, data);
  } catch (err) {
    throw fileError(err, `cannot write ${what}`);
  }
}

/** writeFileSafely of `value` as indented JSON. */
export function writeJsonFile(file: string, value: unknown): void {
  writeFileSafely(file, jsonText(value));
}

function jsonText(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/**
 * Fails early, before any long work, if `dir` cannot hold files: creates it and writes
 * and removes a probe file. `what` starts the error message.
 */
export function ensureWritableDir(dir: string, what: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true });
    const probe = path.join(dir, `${TMP_PREFIX}probe-${process.pid}`);
    fs.writeFileSync(probe, '');
    fs.rmSync(probe, { force: true });
  } catch (err) {
    throw fileError(err, what);
  }
}
