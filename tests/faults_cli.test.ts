/**
 * Fault suite, command line (issue 7): every numeric flag of every command with 0, a
 * negative, a non-number and a huge value; unknown flags and subcommands; bad choices;
 * a backend that is unknown, not installed or broken. Each: one `error:` line on stderr
 * naming the flag, the right exit code, no stack trace, nothing written.
 * The flags are read from the program itself, so a flag added later is covered too. The
 * whole matrix is parsed in-process by the CLI's own program (as cli/main.ts builds it: the
 * same parsers, messages and exit codes); one value per flag also runs as a real process.
 * Cases already in cli.test.ts are not repeated (download --attempts and --stall-timeout,
 * `info --frobnicate`, `trian-regular`, `--backend gpu`).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { afterAll, describe, expect, test } from 'vitest';
import { buildProgram } from '../src/cli/main';
import { CliRun, expectOneLineError, output, runCli } from './helpers/cli';
import { FaultLedger } from './helpers/fault_ledger';
import { installed } from './helpers/packages';

const ledger = new FaultLedger('cli');
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'deformconv-faults-cli-'));
afterAll(() => {
  ledger.finish();
  fs.rmSync(scratch, { recursive: true, force: true });
});

let cwdCount = 0;
/** Runs the CLI in a fresh empty directory; `intact` when the run left it empty (it wrote nothing). */
async function runInEmptyDir(args: string[], env: Record<string, string> = {}): Promise<{ run: CliRun; intact: boolean }> {
  const cwd = path.join(scratch, `run${++cwdCount}`);
  fs.mkdirSync(cwd);
  const run = await runCli(args, { cwd, env });
  return { run, intact: fs.readdirSync(cwd).length === 0 };
}

/** The error is the only thing printed (a "(Did you mean ...?)" hint line aside). */
function expectOnlyTheError(run: CliRun): void {
  expect(run.stdout).toBe('');
  const lines = run.stderr.split('\n').filter((line) => line !== '');
  expect(
    lines.filter((line) => !/^\(Did you mean .*\?\)$/.test(line)),
    run.stderr,
  ).toHaveLength(1);
}

/**
 * Parses `args` with the CLI's program in this process: what it would print and its exit
 * code. No command runs: every action is replaced by one that notes it was reached.
 */
async function parseInProcess(args: string[]): Promise<{ code: number; stdout: string; stderr: string; reachedAction: boolean }> {
  const program = buildProgram();
  const result = { code: 0, stdout: '', stderr: '', reachedAction: false };
  for (const command of [program, ...program.commands]) {
    command.exitOverride().configureOutput({
      writeOut: (text) => void (result.stdout += text),
      writeErr: (text) => void (result.stderr += text),
    });
    if (command !== program) command.action(() => void (result.reachedAction = true));
  }
  try {
    await program.parseAsync(['node', 'deformconv', ...args]);
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
    result.code = err.exitCode;
  }
  return result;
}

// ---------------------------------------------------------------- numeric flags

const program = buildProgram();
const numberOf = (option: Option, value: string): number | undefined => {
  try {
    const parsed: unknown = option.parseArg?.(value, undefined);
    return typeof parsed === 'number' ? parsed : undefined;
  } catch {
    return undefined;
  }
};
/** Options that take a number: their parser turns "1" into 1. */
const isNumeric = (option: Option): boolean => numberOf(option, '1') === 1;
/** Flags for which 0 is a meaningful value (a seed, an index, a port: any free one). */
const ZERO_ALLOWED = /^--(seed|index|port)$/;
/** Already tried by cli.test.ts. */
const COVERED = new Set(['download --attempts', 'download --stall-timeout']);

const NUMERIC_FLAGS = program.commands.flatMap((command: Command) =>
  command.options
    .filter((option) => isNumeric(option) && !COVERED.has(`${command.name()} ${option.long}`))
    .map((option) => ({ command: command.name(), option })),
);

const NUMERIC_CASES = NUMERIC_FLAGS.flatMap(({ command, option }) => {
  const integer = numberOf(option, '1.5') === undefined;
  const values = ['0', '-1', 'ten', integer ? '99999999999' : '1e400'];
  return values
    .filter((value) => !(value === '0' && ZERO_ALLOWED.test(option.long ?? '')))
    .map((value) => ({ name: `${command} ${option.long} ${value}`, command, option, value }));
});
/** One value of each flag, taking the values in turn, runs as a real process too. */
const SPAWNED_CASES = NUMERIC_FLAGS.map(({ command, option }, i) => {
  const ofFlag = NUMERIC_CASES.filter((c) => c.command === command && c.option === option);
  return ofFlag[i % ofFlag.length];
});

/** The one error line a bad value of `option` must give. */
function invalidValuePattern(option: Option, value: string): RegExp {
  const quoted = option.flags.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^error: option '${quoted}' argument '${value}' is invalid\\. (Expected|Must be) [^\\n]*\\.$`);
}

describe('numeric flags', () => {
  test('are found in every command that trains or evaluates', () => {
    const found = new Set(NUMERIC_FLAGS.map(({ command, option }) => `${command} ${option.long}`));
    for (const flag of [
      'train-regular --epochs',
      'train-regular --lr',
      'finetune-deform --batch-size',
      'eval --limit',
      'reproduce --seed',
      'download --backoff',
    ]) {
      expect(found).toContain(flag);
    }
    for (const { option } of NUMERIC_FLAGS) {
      if (ZERO_ALLOWED.test(option.long ?? '')) expect(numberOf(option, '0')).toBe(0);
    }
  });

  test.each(NUMERIC_CASES)('$name: one line naming the flag, exit 1 (parsed in-process)', async ({ name, command, option, value }) => {
    const run = await parseInProcess([command, option.long as string, value]);
    expect(run.reachedAction).toBe(false);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(new RegExp(`${invalidValuePattern(option, value).source.slice(0, -1)}\n$`));
    ledger.record(`flag: ${name}`, { intact: true, output: run.stderr });
  });

  test.concurrent.each(SPAWNED_CASES)('$name: the same from a real process', async ({ command, option, value }) => {
    const { run, intact } = await runInEmptyDir([command, option.long as string, value]);
    expectOneLineError(run, 1, invalidValuePattern(option, value));
    expectOnlyTheError(run);
    expect(intact).toBe(true);
    expect(output(run)).not.toMatch(/^ {4}at /m);
  });
});

// ---------------------------------------------------------------- unknown input

const SUBCOMMANDS = program.commands.map((command) => command.name());

describe.concurrent('unknown flags, subcommands and values', () => {
  test.each(SUBCOMMANDS)('%s --no-such-flag', async (command) => {
    const { run, intact } = await runInEmptyDir([command, '--no-such-flag']);
    expectOneLineError(run, 1, /^error: unknown option '--no-such-flag'$/);
    expectOnlyTheError(run);
    ledger.record(`unknown flag on ${command}`, { intact, output: output(run) });
  });

  test.each([
    ['a misspelt flag', ['train-regular', '--epoch', '3'], /^error: unknown option '--epoch' \(Did you mean --epochs\?\)$/],
    ['a misspelt global flag', ['--backnd', 'wasm', 'info'], /^error: unknown option '--backnd' \(Did you mean --backend\?\)$/],
    ['an unknown subcommand', ['frobnicate'], /^error: unknown command 'frobnicate'$/],
    ['a stray argument', ['eval', 'checkpoints/regular'], /^error: too many arguments for 'eval'/],
    ['a flag without its value', ['train-regular', '--lr'], /^error: option '--lr <rate>' argument missing$/],
    [
      'an unknown interpolation',
      ['finetune-deform', '--interpolation', 'cubic'],
      /^error: option '--interpolation <mode>' argument 'cubic' is invalid\. Allowed choices are nearest, bilinear\.$/,
    ],
    [
      'an unknown test interpolation',
      ['eval', '--interpolation', 'cubic'],
      /^error: option '--interpolation <mode>' argument 'cubic' is invalid\. Allowed choices are nearest, bilinear\.$/,
    ],
    [
      'an unknown preset',
      ['reproduce', '--preset', 'huge'],
      /^error: option '--preset <name>' argument 'huge' is invalid\. Allowed choices are /,
    ],
    ['an unknown download source', ['download', '--source', 'ftp'], /^error: option '--source <source>' argument 'ftp' is invalid/],
  ])('%s', async (name, args, pattern) => {
    const { run, intact } = await runInEmptyDir(args);
    expectOneLineError(run, 1, pattern);
    expectOnlyTheError(run);
    ledger.record(`bad input: ${name}`, { intact, output: output(run) });
  });
});

// ---------------------------------------------------------------- backends

describe.concurrent('a backend that cannot run', () => {
  test.skipIf(installed('@tensorflow/tfjs-node-gpu'))('--backend tensorflow-gpu, not installed: exit 2 naming the package', async () => {
    const { run, intact } = await runInEmptyDir(['--backend', 'tensorflow-gpu', 'reproduce', '--preset', 'smoke']);
    expectOneLineError(
      run,
      2,
      /^error: backend 'tensorflow-gpu' needs @tensorflow\/tfjs-node-gpu, which is not installed: run npm install @tensorflow\/tfjs-node-gpu$/,
    );
    expectOnlyTheError(run);
    ledger.record('backend: tensorflow-gpu not installed', { intact, output: output(run) });
  });

  test.skipIf(installed('@tensorflow/tfjs-node'))('DEFORMCONV_BACKEND=tensorflow, not installed: exit 2 naming the package', async () => {
    const { run, intact } = await runInEmptyDir(['finetune-deform', '--epochs', '1'], { DEFORMCONV_BACKEND: 'tensorflow' });
    expectOneLineError(run, 2, /^error: backend 'tensorflow' needs @tensorflow\/tfjs-node, which is not installed/);
    expectOnlyTheError(run);
    ledger.record('backend: tensorflow (from the environment) not installed', { intact, output: output(run) });
  });

  test.skipIf(installed('@tensorflow/tfjs-node'))('--backend tensorflow, installed but broken: exit 2, one line', async () => {
    // A stand-in package with the real name whose native addon "cannot be found", as after a failed install.
    const modules = path.join(scratch, 'broken-tfjs-node', 'node_modules');
    const root = path.join(modules, '@tensorflow', 'tfjs-node');
    fs.mkdirSync(root, { recursive: true });
    fs.writeFileSync(
      path.join(root, 'package.json'),
      JSON.stringify({ name: '@tensorflow/tfjs-node', version: '0.0.0-broken', main: 'index.js' }),
    );
    fs.writeFileSync(
      path.join(root, 'index.js'),
      "throw new Error('The Node.js native addon module (tfjs_binding.node) can not be found\\nat path: /x');",
    );
    const nodePath = [modules, path.resolve(__dirname, '..', 'node_modules')].join(path.delimiter);
    const { run, intact } = await runInEmptyDir(['--backend', 'tensorflow', 'train-regular', '--epochs', '1'], { NODE_PATH: nodePath });
    expectOneLineError(
      run,
      2,
      /^error: backend 'tensorflow': @tensorflow\/tfjs-node is installed but failed to load \(The Node\.js native addon module \(tfjs_binding\.node\) can not be found\); try npm install @tensorflow\/tfjs-node again$/,
    );
    expectOnlyTheError(run);
    ledger.record('backend: tensorflow installed but broken', { intact, output: output(run) });
  });
});
