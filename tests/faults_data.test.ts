/**
 * Fault suite, data (issue 7): bad IDX files and misbehaving mirrors. Each case: the next
 * mirror is tried or there is one clear error; no file under the final name unless it is
 * verified; bad files the user has are reported, never used, never deleted.
 * Cases already in idx.test.ts and download.test.ts are not repeated here.
 */
import * as fs from 'node:fs';
import { createServer, Server, Socket } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { checkFile, MNIST_FILES, mnistFile } from '../src/data/checksums';
import { fetchFromMirrors } from '../src/data/download';
import { IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC, parseIdxImages, parseIdxLabels } from '../src/data/idx';
import { readIdxImages, readIdxLabels } from '../src/data/idx_files';
import { loadMnistSplit } from '../src/data/mnist';
import { DeformconvError, UserError } from '../src/errors';
import { dataDirWith, expectOneLineError, output, runCli } from './helpers/cli';
import { PACKAGE_DATA } from './helpers/packages';
import { FaultLedger } from './helpers/fault_ledger';

const ledger = new FaultLedger('data');
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'deformconv-faults-data-'));
let dirCount = 0;
/** A fresh empty directory for one case. */
function freshDir(): string {
  const dir = path.join(scratch, `case${++dirCount}`);
  fs.mkdirSync(dir);
  return dir;
}

/** The package's data is the source every test links to: it must come out of the suite unchanged. */
async function packageDataIntact(): Promise<boolean> {
  const statuses = await Promise.all(MNIST_FILES.map((file) => checkFile(path.join(PACKAGE_DATA, file.name), file)));
  return statuses.every((status) => status === 'verified');
}

afterAll(async () => {
  expect(await packageDataIntact()).toBe(true);
  ledger.finish();
  fs.rmSync(scratch, { recursive: true, force: true });
});

/** The message of what `run` throws (it must throw). */
async function errorOf(run: () => unknown): Promise<Error> {
  try {
    await run();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected an error');
}

/** A one-line message from one of the project's errors: the CLI would print it as is, with its exit code. */
function expectReportable(error: Error, pattern: RegExp): void {
  expect(error).toBeInstanceOf(DeformconvError);
  expect(error.message).not.toContain('\n');
  expect(error.message).toMatch(pattern);
}

// ---------------------------------------------------------------- IDX files

/** An IDX file: big-endian magic and dims, then `dataBytes` bytes of data. */
function idx(magic: number, dims: number[], dataBytes: number): Uint8Array {
  const bytes = new Uint8Array(4 + 4 * dims.length + dataBytes);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, magic, false);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  return bytes;
}

describe('bad IDX files', () => {
  test('a zero-length file, as images and as labels', async () => {
    const file = path.join(freshDir(), 'empty');
    fs.writeFileSync(file, '');
    const images = await errorOf(() => readIdxImages(file));
    const labels = await errorOf(() => readIdxLabels(file));
    expectReportable(images, /empty: truncated: 0 bytes, shorter than the 16-byte header of an IDX images file$/);
    expectReportable(labels, /empty: truncated: 0 bytes, shorter than the 8-byte header of an IDX labels file$/);
    ledger.record('IDX: zero-length file', { intact: fs.statSync(file).size === 0, output: `${images.message}\n${labels.message}` });
  });

  test.each([
    [
      'labels with two dimensions (magic 2050)',
      () => parseIdxLabels(idx(0x0802, [3, 1], 3), 'f'),
      /^f: wrong magic number 2050, expected 2049 \(IDX labels\)$/,
    ],
    [
      'images with four dimensions (magic 2052)',
      () => parseIdxImages(idx(0x0804, [1, 28, 28, 1], 784), 'f'),
      /^f: wrong magic number 2052, expected 2051 \(IDX images\)$/,
    ],
    [
      'images of float32 data (magic 3331)',
      () => parseIdxImages(idx(0x0d03, [1, 28, 28], 4 * 784), 'f'),
      /^f: wrong magic number 3331, expected 2051/,
    ],
  ])('wrong dimensions or data type: %s', async (name, parse, pattern) => {
    const error = await errorOf(parse);
    expectReportable(error, pattern);
    ledger.record(`IDX: ${name}`, { intact: true, output: error.message });
  });

  test.each([
    [
      'header declares one image more than the data holds',
      3,
      2,
      /^f: truncated: 1584 bytes, but its header declares 3x28x28 images \(2368 bytes\)$/,
    ],
    [
      'header declares one image fewer than the data holds',
      1,
      2,
      /^f: 784 bytes of trailing data after the 1x28x28 images its header declares$/,
    ],
    ['header declares 4294967295 images', 0xffffffff, 2, /^f: truncated: 1584 bytes, but its header declares 4294967295x28x28 images/],
  ])('count mismatch: %s', async (name, declared, held, pattern) => {
    const bytes = idx(IDX_IMAGES_MAGIC, [declared, 28, 28], held * 784);
    const error = await errorOf(() => parseIdxImages(bytes, 'f'));
    expectReportable(error, pattern);
    ledger.record(`IDX: ${name}`, { intact: true, output: error.message });
  });

  test('images of the wrong size (28x27), loaded without verification', async () => {
    const dir = freshDir();
    const mnist = path.join(dir, 'mnist');
    fs.mkdirSync(mnist);
    fs.writeFileSync(path.join(mnist, 't10k-images-idx3-ubyte'), idx(IDX_IMAGES_MAGIC, [2, 28, 27], 2 * 28 * 27));
    const labels = idx(IDX_LABELS_MAGIC, [2], 2);
    fs.writeFileSync(path.join(mnist, 't10k-labels-idx1-ubyte'), labels);
    const error = await errorOf(() => loadMnistSplit('test', { dataDir: dir, verify: false }));
    expect(error).toBeInstanceOf(UserError);
    expectReportable(error, /t10k-images-idx3-ubyte holds 28x27 images; MNIST images are 28x28$/);
    ledger.record('IDX: images of the wrong size', { intact: fs.readdirSync(mnist).length === 2, output: error.message });
  });
});

// ---------------------------------------------------------------- mirrors

const LABELS = mnistFile('test', 'labels');
const LABELS_RAW = fs.readFileSync(path.join(PACKAGE_DATA, LABELS.name));
const LABELS_GZ = gzipSync(LABELS_RAW);
const WRONG_GZ = gzipSync(Buffer.from(LABELS_RAW.map((byte, i) => (i === 500 ? (byte + 1) % 10 : byte))));
/** Transfer settings scaled down so that each fault shows within a second. */
const FAST = { attempts: 2, backoffMs: 10, stallTimeoutMs: 300 };
/** For mirrors whose fault is not about time: a stall timeout that a loaded machine cannot reach by accident. */
const PATIENT = { ...FAST, stallTimeoutMs: 5000 };

/**
 * Each mirror's behaviour is the first segment of the request path:
 * http://127.0.0.1:port/<mode>/<file>.gz. Written on raw sockets, so that a response can
 * lie about its length or end in ways an HTTP library would not allow.
 */
const MIRROR_MODES: Record<string, (socket: Socket, url: string) => void> = {
  ok: (socket) => respond(socket, 200, LABELS_GZ),
  missing: (socket) => respond(socket, 404, Buffer.from('not found')),
  broken: (socket) => respond(socket, 500, Buffer.from('oops')),
  loop: (socket, url) => respond(socket, 302, Buffer.alloc(0), { location: url }),
  // Half the body, then silence with the connection open.
  stall: (socket) => {
    socket.write(head(200, { 'content-length': LABELS_GZ.length }));
    socket.write(LABELS_GZ.subarray(0, LABELS_GZ.length >> 1));
  },
  // 16 bytes every 40 ms: never silent for long, but it would take seconds for this 5 kB file.
  drip: (socket) => {
    socket.write(head(200, { 'content-length': LABELS_GZ.length }));
    let sent = 0;
    const timer = setInterval(() => {
      if (socket.destroyed || sent >= LABELS_GZ.length) return clearInterval(timer);
      socket.write(LABELS_GZ.subarray(sent, (sent += 16)));
    }, 40);
    socket.on('close', () => clearInterval(timer));
  },
  // No Content-Length: the body ends when the connection closes, which it does half way.
  early: (socket) => {
    socket.write(head(200, { connection: 'close' }));
    socket.end(LABELS_GZ.subarray(0, LABELS_GZ.length >> 1));
  },
  'long-length': (socket) => respond(socket, 200, LABELS_GZ, { 'content-length': LABELS_GZ.length + 1000 }),
  'short-length': (socket) => respond(socket, 200, LABELS_GZ, { 'content-length': LABELS_GZ.length >> 1 }),
  'not-gzip': (socket) => respond(socket, 200, LABELS_RAW),
  'wrong-checksum': (socket) => respond(socket, 200, WRONG_GZ),
};

function head(status: number, headers: Record<string, string | number>): string {
  const lines = [`HTTP/1.1 ${status} X`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/** A whole response on a connection that then closes (Content-Length the body's unless given). */
function respond(socket: Socket, status: number, body: Buffer, headers: Record<string, string | number> = {}): void {
  socket.write(head(status, { 'content-length': body.length, connection: 'close', ...headers }));
  socket.end(body);
}

let server: Server;
let base: string;
const sockets = new Set<Socket>();

beforeAll(async () => {
  server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let request = '';
    socket.on('data', (chunk) => {
      if (request.includes('\r\n\r\n')) return;
      request += chunk.toString('latin1');
      if (!request.includes('\r\n\r\n')) return;
      const url = request.split(' ')[1] ?? '/';
      (MIRROR_MODES[url.split('/')[1]] ?? MIRROR_MODES.missing)(socket, url);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise((resolve) => server.close(resolve));
});

/** What each bad mirror must be reported as (after the URL that failed). */
const BAD_MIRRORS: Array<[mode: string, fault: string, message: RegExp, options?: typeof FAST]> = [
  ['missing', 'HTTP 404', /: HTTP 404$/],
  ['broken', 'HTTP 500', /: HTTP 500$/],
  ['loop', 'a redirect loop', /: connection failed \(redirect count exceeded\)$/, PATIENT],
  ['stall', 'a server that stalls mid-body', /: stalled: no data for 0\.30 s after \d+ bytes$/],
  ['drip', 'a server that drips bytes slowly', /: too slow: under 1 kB in 0\.30 s after \d+ bytes$/],
  ['early', 'a server that closes early', /: not a valid gzip stream after \d+ bytes \(unexpected end of file\)$/],
  ['long-length', 'a Content-Length longer than the body', /: connection lost after \d+ bytes \(.*\)$/],
  ['short-length', 'a Content-Length shorter than the body', /: not a valid gzip stream after \d+ bytes \(unexpected end of file\)$/],
  ['not-gzip', 'a .gz that is not gzip', /: not a valid gzip stream after \d+ bytes \(incorrect header check\)$/],
  [
    'wrong-checksum',
    'a .gz that decompresses to the wrong checksum',
    /: checksum mismatch \(sha256 [0-9a-f]{64}, expected [0-9a-f]{64}; the \.gz md5 differs from the well-known copy\)$/,
  ],
];

/** Nothing but a verified file under the final name, and no temp file beside it. */
async function onlyVerified(dir: string): Promise<boolean> {
  const entries = fs.readdirSync(dir);
  if (entries.length === 0) return true;
  return entries.length === 1 && entries[0] === LABELS.name && (await checkFile(path.join(dir, LABELS.name), LABELS)) === 'verified';
}

describe.concurrent('a bad mirror', () => {
  test.each(BAD_MIRRORS)(
    '%s alone (%s): one clear error naming the file and the URL; nothing kept',
    async (mode, fault, message, options = FAST) => {
      const dir = freshDir();
      const error = await errorOf(() => fetchFromMirrors(LABELS, path.join(dir, LABELS.name), [`${base}/${mode}/`], options));
      const url = `${base}/${mode}/${LABELS.name}.gz`;
      expectReportable(error, new RegExp(`^could not download ${LABELS.name}: ${url}${message.source}`));
      expect(fs.readdirSync(dir)).toEqual([]);
      ledger.record(`mirror: ${fault}, no other mirror`, { intact: await onlyVerified(dir), output: error.message });
    },
  );

  test.each(BAD_MIRRORS)('%s (%s) then a good mirror: the good one is used, verified', async (mode, fault, _message, options = FAST) => {
    const dir = freshDir();
    const used = await fetchFromMirrors(LABELS, path.join(dir, LABELS.name), [`${base}/${mode}/`, `${base}/ok/`], options);
    expect(used).toBe(`${base}/ok/${LABELS.name}.gz`);
    expect(fs.readdirSync(dir)).toEqual([LABELS.name]);
    ledger.record(`mirror: ${fault}, then a good mirror`, { intact: await onlyVerified(dir), output: '' });
  });
});

describe.concurrent('download through the CLI', () => {
  /** A data dir holding the three other files, verified; the test labels are to be fetched. */
  function dataDirMissingLabels(): string {
    const dir = dataDirWith(freshDir());
    fs.rmSync(path.join(dir, 'mnist', LABELS.name));
    return dir;
  }
  const fast = ['--attempts', '1', '--backoff', '0.01', '--stall-timeout', '0.3'];

  test('a redirect loop, then a good mirror: exit 0, all four verified', async () => {
    const dir = dataDirMissingLabels();
    const run = await runCli([
      'download',
      '--source',
      'mirror',
      '--data-dir',
      dir,
      '--mirror',
      `${base}/loop/`,
      '--mirror',
      `${base}/ok/`,
      '--attempts',
      '1',
      '--stall-timeout',
      '5',
    ]);
    expect(run.code, output(run)).toBe(0);
    expect(run.stderr).toContain(`${base}/loop/${LABELS.name}.gz: connection failed (redirect count exceeded)`);
    expect(run.stdout).toBe(`MNIST ready in ${path.join(dir, 'mnist')}: 1 file fetched, all 4 verified\n`);
    const statuses = await Promise.all(MNIST_FILES.map((file) => checkFile(path.join(dir, 'mnist', file.name), file)));
    ledger.record('CLI download: redirect loop, then a good mirror', {
      intact: statuses.every((s) => s === 'verified') && (await packageDataIntact()),
      output: output(run),
    });
  });

  test('only bad mirrors (a drip, an early close): exit 2, one line naming both, nothing under the final name', async () => {
    const dir = dataDirMissingLabels();
    const run = await runCli([
      'download',
      '--source',
      'mirror',
      '--data-dir',
      dir,
      '--mirror',
      `${base}/drip/`,
      '--mirror',
      `${base}/early/`,
      ...fast,
    ]);
    expectOneLineError(
      run,
      2,
      new RegExp(`^error: could not download ${LABELS.name}: ${base}/drip/.*too slow.*; ${base}/early/.*not a valid gzip stream`),
    );
    const left = fs.readdirSync(path.join(dir, 'mnist')).sort();
    ledger.record('CLI download: only bad mirrors', {
      intact:
        JSON.stringify(left) ===
        JSON.stringify(
          MNIST_FILES.filter((f) => f !== LABELS)
            .map((f) => f.name)
            .sort(),
        ),
      output: output(run),
    });
  });

  test('a zero-length data file: training refuses it with one line (exit 2) and leaves it where it is', async () => {
    const dir = dataDirWith(freshDir(), { [LABELS.name]: new Uint8Array(0) });
    const out = path.join(dir, 'checkpoints');
    const run = await runCli(['--backend', 'cpu', 'train-regular', '--data-dir', dir, '--out', out, '--epochs', '1', '--limit', '32']);
    const file = path.join(dir, 'mnist', LABELS.name);
    expectOneLineError(
      run,
      2,
      new RegExp(`^error: ${file} fails its size or sha256 check; run \`deformconv download --data-dir ${dir}\` to replace it$`),
    );
    ledger.record('CLI: a zero-length data file', {
      intact: fs.statSync(file).size === 0 && !fs.existsSync(out),
      output: output(run),
    });
  });
});
