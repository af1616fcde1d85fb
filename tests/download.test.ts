import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { EnvironmentError, UserError } from '../src/errors';
import { MNIST_FILES, mnistFile } from '../src/data/checksums';
import { downloadMnist, DownloadReporter, fetchFromMirrors, normalizeMirror } from '../src/data/download';
import { PACKAGE_DATA } from './helpers/packages';

const LABELS = mnistFile('test', 'labels'); // 10 KB: the real file, verified for real
const LABELS_GZ = gzipSync(readFileSync(path.join(PACKAGE_DATA, LABELS.name)));
const FAST = { attempts: 2, backoffMs: 10, stallTimeoutMs: 300 };

/** Per-mirror behaviour, selected by the first path segment: http://127.0.0.1:port/<mode>/<file>.gz */
const requests: string[] = [];
let flakyFailuresLeft = 0;
const modes: Record<string, (res: ServerResponse) => void> = {
  ok: (res) => res.writeHead(200, { 'content-length': LABELS_GZ.length }).end(LABELS_GZ),
  missing: (res) => res.writeHead(404).end('not found'),
  broken: (res) => res.writeHead(500).end('oops'),
  flaky: (res) => (flakyFailuresLeft-- > 0 ? modes.broken(res) : modes.ok(res)),
  corrupt: (res) => {
    const wrong = readFileSync(path.join(PACKAGE_DATA, LABELS.name));
    wrong[100] ^= 1;
    res.writeHead(200).end(gzipSync(wrong));
  },
  // Sends half the body, then nothing more while keeping the connection open.
  stall: (res) => {
    res.writeHead(200, { 'content-length': LABELS_GZ.length });
    res.write(LABELS_GZ.subarray(0, LABELS_GZ.length >> 1));
  },
  // Promises the whole body, sends half, and drops the connection.
  cut: (res) => {
    res.writeHead(200, { 'content-length': LABELS_GZ.length });
    res.write(LABELS_GZ.subarray(0, LABELS_GZ.length >> 1), () => res.socket?.destroy());
  },
  // Promises the whole body and drops the connection right after the headers: the transfer fails
  // while the temp file may still be opening.
  cutAtOnce: (res) => {
    res.writeHead(200, { 'content-length': LABELS_GZ.length });
    res.flushHeaders();
    res.socket?.destroy();
  },
  html: (res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html>moved</html>'),
};

let server: Server;
let base: string;
const scratch = mkdtempSync(path.join(tmpdir(), 'deformconv-download-'));
let dir: string;
let target: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    requests.push(req.url ?? '');
    const mode = (req.url ?? '').split('/')[1];
    (modes[mode] ?? modes.missing)(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  rmSync(scratch, { recursive: true, force: true });
});

let testNumber = 0;
beforeEach(() => {
  requests.length = 0;
  dir = path.join(scratch, `t${++testNumber}`);
  mkdirSync(dir, { recursive: true });
  target = path.join(dir, LABELS.name);
});

/** Nothing under the final name, and no temp file left behind. */
function expectNothingKept(): void {
  expect(readdirSync(dir)).toEqual([]);
}

function fetchLabels(...modeNames: string[]): Promise<string> {
  return fetchFromMirrors(
    LABELS,
    target,
    modeNames.map((m) => `${base}/${m}/`),
    FAST,
  );
}

describe('fetchFromMirrors', () => {
  test('downloads, gunzips and verifies the real file', async () => {
    const url = await fetchLabels('ok');
    expect(url).toBe(`${base}/ok/${LABELS.name}.gz`);
    expect(readFileSync(target).equals(readFileSync(path.join(PACKAGE_DATA, LABELS.name)))).toBe(true);
    expect(readdirSync(dir)).toEqual([LABELS.name]);
  });

  test('a 404 moves on to the next mirror without retrying', async () => {
    await fetchLabels('missing', 'ok');
    expect(requests).toEqual([`/missing/${LABELS.name}.gz`, `/ok/${LABELS.name}.gz`]);
    expect(existsSync(target)).toBe(true);
  });

  test('a 500 is retried with backoff, then succeeds', async () => {
    flakyFailuresLeft = 1;
    await fetchLabels('flaky');
    expect(requests).toHaveLength(2);
    expect(existsSync(target)).toBe(true);
  });

  test('a mirror that keeps failing 500 is given up after its attempts; the error names file and source', async () => {
    const error = await fetchLabels('broken').catch((err: unknown) => err);
    expect(error).toBeInstanceOf(EnvironmentError);
    expect((error as Error).message).toBe(`could not download ${LABELS.name}: ${base}/broken/${LABELS.name}.gz: HTTP 500`);
    expect(requests).toHaveLength(FAST.attempts);
    expectNothingKept();
  });

  test('a stalled server times out', async () => {
    const started = Date.now();
    const error = await fetchLabels('stall').catch((err: unknown) => err);
    expect((error as Error).message).toMatch(/stall\/t10k-labels-idx1-ubyte\.gz: stalled: no data for 0\.30 s after \d+ bytes$/);
    expect(Date.now() - started).toBeLessThan(5000);
    expectNothingKept();
  });

  test('a checksum mismatch is an error naming file and source, and the bad file is not kept', async () => {
    const error = await fetchLabels('corrupt').catch((err: unknown) => err);
    expect(error).toBeInstanceOf(EnvironmentError);
    expect((error as Error).message).toMatch(
      new RegExp(
        `^could not download ${LABELS.name}: ${base}/corrupt/${LABELS.name}\\.gz: checksum mismatch \\(sha256 [0-9a-f]{64}, expected ${LABELS.sha256};`,
      ),
    );
    expect(requests).toHaveLength(1); // not retried
    expectNothingKept();
  });

  test('a connection cut mid-body is retried, then reported', async () => {
    const error = await fetchLabels('cut').catch((err: unknown) => err);
    expect((error as Error).message).toMatch(/cut\/t10k-labels-idx1-ubyte\.gz: connection lost after \d+ bytes/);
    expect(requests).toHaveLength(FAST.attempts);
    expectNothingKept();
  });

  test('a connection cut right after the headers leaves no temp file, however late the file opens', async () => {
    for (let attempt = 0; attempt < 20; attempt++) {
      await expect(fetchLabels('cutAtOnce')).rejects.toThrow(/cutAtOnce\/t10k-labels-idx1-ubyte\.gz: /);
      expectNothingKept();
    }
  });

  test('a body that is not gzip is rejected', async () => {
    await expect(fetchLabels('html')).rejects.toThrow(/html\/t10k-labels-idx1-ubyte\.gz: not a valid gzip stream/);
    expectNothingKept();
  });

  test('a refused connection is reported', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    await expect(fetchFromMirrors(LABELS, target, [`http://127.0.0.1:${port}/`], FAST)).rejects.toThrow(
      /connection failed \(.*ECONNREFUSED/,
    );
    expectNothingKept();
  });

  test('a bad file already under the final name stays until a verified one replaces it', async () => {
    writeFileSync(target, 'junk');
    await expect(fetchLabels('corrupt')).rejects.toThrow(/checksum mismatch/);
    expect(readFileSync(target, 'utf8')).toBe('junk');
    await fetchLabels('ok');
    expect(readFileSync(target).length).toBe(LABELS.bytes);
  });

  test('the reporter sees the transfer', async () => {
    const events: string[] = [];
    const reporter: DownloadReporter = {
      note: (line) => events.push(`note ${line}`),
      transferStart: (label, _url, total) => events.push(`start ${label} ${total}`),
      transferProgress: () => undefined,
      transferEnd: (ok) => events.push(`end ${ok}`),
    };
    await fetchFromMirrors(LABELS, target, [`${base}/missing/`, `${base}/ok/`], FAST, reporter);
    expect(events).toEqual([`note ${base}/missing/${LABELS.name}.gz: HTTP 404`, `start ${LABELS.name}.gz ${LABELS_GZ.length}`, 'end true']);
  });
});

describe('downloadMnist', () => {
  test('mirror source fetches only what is missing', async () => {
    mkdirSync(path.join(dir, 'mnist'));
    for (const file of MNIST_FILES.filter((f) => f !== LABELS)) {
      symlinkSync(path.join(PACKAGE_DATA, file.name), path.join(dir, 'mnist', file.name));
    }
    const result = await downloadMnist({ dataDir: dir, source: 'mirror', mirrors: [`${base}/ok`], ...FAST });
    expect(result.files.map((f) => f.action)).toEqual(['present', 'present', 'present', 'downloaded']);
    expect(requests).toEqual([`/ok/${LABELS.name}.gz`]);
  });

  test('package source copies all four, verified; a second run finds them present', async () => {
    const first = await downloadMnist({ dataDir: dir, source: 'package' });
    expect(first.files.map((f) => f.action)).toEqual(['copied', 'copied', 'copied', 'copied']);
    expect(readdirSync(path.join(dir, 'mnist')).sort()).toEqual(MNIST_FILES.map((f) => f.name).sort());
    writeFileSync(path.join(dir, 'mnist', LABELS.name), 'junk');
    const second = await downloadMnist({ dataDir: dir, source: 'auto', mirrors: [`${base}/missing/`] });
    expect(second.files.map((f) => f.action)).toEqual(['present', 'present', 'present', 'copied']);
    expect(requests).toEqual([]);
  });

  test('temp files of a killed download are removed; others are left alone', async () => {
    const mnist = path.join(dir, 'mnist');
    mkdirSync(mnist);
    for (const file of MNIST_FILES) symlinkSync(path.join(PACKAGE_DATA, file.name), path.join(mnist, file.name));
    const stale = `${LABELS.name}.999999999.tmp`; // no such process
    const live = `${LABELS.name}.${process.pid}.tmp`;
    for (const name of [stale, live, 'notes.tmp']) writeFileSync(path.join(mnist, name), 'partial');
    await downloadMnist({ dataDir: dir });
    expect(readdirSync(mnist)).not.toContain(stale);
    expect(readdirSync(mnist)).toEqual(expect.arrayContaining([live, 'notes.tmp']));
  });

  test('mirror URLs must be http(s)', async () => {
    expect(() => normalizeMirror('ftp://example.org/mnist')).toThrow(UserError);
    expect(normalizeMirror('http://example.org/mnist')).toBe('http://example.org/mnist/');
    await expect(downloadMnist({ dataDir: dir, mirrors: ['not a url'] })).rejects.toThrow(/mirror 'not a url' is not a URL/);
  });
});
