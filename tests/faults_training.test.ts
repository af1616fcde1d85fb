/**
 * Fault suite, training and checkpoints (issue 7), through the compiled CLI on wasm:
 * Ctrl-C during an epoch and during a checkpoint write, kill -9 at each step of the
 * checkpoint commit and at random moments of a `smoke` run, an unwritable output
 * directory, a full disk, a diverging run, bad `--from` models, `eval` without its
 * checkpoints or data. Each case: the checkpoint directory always holds a loadable
 * checkpoint (or none, if nothing was committed yet), nothing the user had is changed, a
 * resumed run ends exactly where an uninterrupted one does, and errors are one line.
 *
 * Exact moments (a signal in the middle of a checkpoint write) are reached with
 * helpers/fault_inject.js, preloaded into the CLI process.
 */
import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { useBackend } from '../src/backend/select';
import { latestCheckpointName } from '../src/training/checkpoint';
import { loadTrainedModel, TrainingState } from '../src/training/train';
import { CliRun, dataDirWith, expectOneLineError, LiveCli, output, runCli } from './helpers/cli';
import { FaultLedger } from './helpers/fault_ledger';
import { mulberry32 as seededRandom } from './helpers/random';

const ledger = new FaultLedger('training');
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'deformconv-faults-training-'));
const DATA = dataDirWith(path.join(scratch, 'data'));
const INJECT = path.join(__dirname, 'helpers', 'fault_inject.js');
const mounts: string[] = [];

// The CLI processes of this file run one per core at most (more would only slow each one
// down); a test may wait for a slot, and on a machine busy with other work every run is
// slower, so the tests get generous time limits.
vi.setConfig({ testTimeout: 600_000 });
const SLOTS = Math.max(1, os.availableParallelism());
let running = 0;
const queue: Array<() => void> = [];

beforeAll(async () => {
  await useBackend('cpu'); // to load checkpoints in this process
});

afterAll(() => {
  ledger.finish();
  for (const dir of mounts) spawnSync('umount', [dir]);
  fs.rmSync(scratch, { recursive: true, force: true });
});

let dirCount = 0;
/** A path for a new directory of this test file (not created). */
function newPath(label: string): string {
  return path.join(scratch, `${label}-${++dirCount}`);
}

// ---------------------------------------------------------------- running and inspecting

/** A small regular-CNN run: 2 epochs of 3 steps on wasm. */
const TRAIN = ['--epochs', '2', '--limit', '96', '--batch-size', '32', '--val-limit', '32', '--seed', '7'];

/** Starts the CLI on wasm once a slot is free; the slot is freed when it exits. */
async function cli(args: string[], env: Record<string, string> = {}): Promise<LiveCli> {
  if (running >= SLOTS) await new Promise<void>((resolve) => queue.push(resolve));
  running += 1;
  const live = new LiveCli(['--backend', 'wasm', ...args], { env });
  void live.done.then(() => {
    running -= 1;
    queue.shift()?.();
  });
  return live;
}

function trainRegular(out: string, extra: string[] = [], env: Record<string, string> = {}): Promise<CliRun> {
  return cli(['train-regular', ...TRAIN, '--data-dir', DATA, '--out', out, ...extra], env).then((live) => live.done);
}

/** Environment that preloads the fault injector with `spec` (see helpers/fault_inject.js). */
function inject(spec: object): Record<string, string> {
  return { NODE_OPTIONS: `--require ${INJECT}`, DEFORMCONV_FAULT_INJECT: JSON.stringify(spec) };
}

/** Runs the command printed after "resume with: " (paths here have no spaces). */
async function resumeAsPrinted(run: CliRun): Promise<CliRun> {
  const line = /^resume with: deformconv --backend wasm (.*)$/m.exec(run.stderr);
  expect(line, run.stderr).not.toBeNull();
  return (await cli((line as RegExpExecArray)[1].split(' '))).done;
}

function sha256(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** What a checkpoint directory's latest checkpoint holds: its name, weight files' digests and learning history. */
interface Snapshot {
  name: string;
  files: Record<string, string>;
  history: unknown;
}

function snapshot(out: string): Snapshot {
  const name = latestCheckpointName(out) as string;
  const dir = path.join(out, name);
  const files = Object.fromEntries(['model.json', 'weights.bin', 'optimizer.bin'].map((f) => [f, sha256(path.join(dir, f))]));
  const state = JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8')).state as TrainingState;
  const history = state.metrics.map(({ epoch, loss, accuracy, val }) => ({ epoch, loss, accuracy, val }));
  return { name, files, history };
}

/** Every file under `dir` with its digest: to show that a run changed nothing there. */
function treeDigest(dir: string, relative = ''): Record<string, string> {
  const digests: Record<string, string> = {};
  for (const entry of fs.readdirSync(path.join(dir, relative), { withFileTypes: true })) {
    const name = path.join(relative, entry.name);
    if (entry.isDirectory()) Object.assign(digests, treeDigest(dir, name));
    else if (entry.isFile()) digests[name] = sha256(path.join(dir, name));
  }
  return digests;
}

/**
 * True when `out` holds a checkpoint that loads into its model, or holds none at all
 * (nothing committed yet); false for a pointer to a broken or missing checkpoint.
 */
function loadableOrNone(out: string): boolean {
  if (!fs.existsSync(path.join(out, 'checkpoint.json'))) return true;
  return loadable(out);
}

function loadable(out: string): boolean {
  try {
    // Decodes the weights, the optimizer state and state.json, and puts every weight into its model.
    loadTrainedModel(out).model.dispose();
    return true;
  } catch {
    return false;
  }
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Computed once, shared by the tests that need them. */
function once<T>(make: () => Promise<T>): () => Promise<T> {
  let value: Promise<T> | undefined;
  return () => (value ??= make());
}

/** The uninterrupted regular run every interrupted one must end up equal to. */
const baseline = once(async () => {
  const out = newPath('baseline');
  const run = await trainRegular(out);
  expect(run.code, output(run)).toBe(0);
  return { out, snapshot: snapshot(out) };
});

/** A copy of the finished baseline run, to damage or continue. */
async function copyOfBaseline(label: string): Promise<string> {
  const copy = newPath(label);
  fs.cpSync((await baseline()).out, copy, { recursive: true });
  return copy;
}

// ---------------------------------------------------------------- Ctrl-C

describe.concurrent('Ctrl-C (SIGINT)', () => {
  test('during an epoch: exit 130 with a mid-epoch checkpoint; the printed resume command ends where an uninterrupted run does', async () => {
    const out = newPath('sigint-epoch');
    // The signal arrives as training starts; the loop stops after its first or second step.
    const run = await trainRegular(out, [], inject({ sigintAfterListen: 0 }));
    expect(run.code, output(run)).toBe(130);
    expect(run.stderr).toContain('SIGINT: stopping after the current step and saving a checkpoint');
    expect(run.stderr).toMatch(new RegExp(`^interrupted at epoch 1, step ([12]) of 3; checkpoint: ${out}/epoch-0000-step-00000\\1$`, 'm'));
    const kept = loadable(out);
    const resumed = await resumeAsPrinted(run);
    expect(resumed.code, output(resumed)).toBe(0);
    const equal = same(snapshot(out), (await baseline()).snapshot);
    ledger.record('SIGINT during an epoch', { intact: kept && equal, output: output(run) + output(resumed) });
  });

  test('during a checkpoint write: the write completes, exit 130, resume ends where an uninterrupted run does', async () => {
    const out = newPath('sigint-write');
    const run = await trainRegular(out, [], inject({ call: 'openSync', path: '/\\.tmp-epoch-0001-[^/]*/weights\\.bin$', do: 'SIGINT' }));
    expect(run.code, output(run)).toBe(130);
    // The handler runs once the (synchronous) write is done: at the epoch's end, or after the next step.
    expect(run.stderr).toMatch(
      new RegExp(`^interrupted at (the end of epoch 1|epoch 2, step 1 of 3); checkpoint: ${out}/epoch-0001(-step-000001)?$`, 'm'),
    );
    const kept = loadable(out);
    const resumed = await resumeAsPrinted(run);
    expect(resumed.code, output(resumed)).toBe(0);
    const equal = same(snapshot(out), (await baseline()).snapshot);
    ledger.record('SIGINT during a checkpoint write', { intact: kept && equal, output: output(run) + output(resumed) });
  });

  test('twice during a checkpoint write: quits at once with 130, the checkpoint directory still loads, resume ends the same', async () => {
    const out = newPath('sigint2-write');
    const run = await trainRegular(out, [], inject({ call: 'openSync', path: '/\\.tmp-epoch-0001-[^/]*/weights\\.bin$', do: 'SIGINT2' }));
    expect(run.code, output(run)).toBe(130);
    expect(run.stderr).toContain('SIGINT again: quitting now (the last checkpoint is intact)');
    const kept = loadableOrNone(out);
    const resumed = await trainRegular(out, ['--resume']);
    expect(resumed.code, output(resumed)).toBe(0);
    const equal = same(snapshot(out), (await baseline()).snapshot);
    ledger.record('SIGINT twice during a checkpoint write', { intact: kept && equal, output: output(run) + output(resumed) });
  });
});

// ---------------------------------------------------------------- kill -9 inside the checkpoint commit

/** Each step of writing the epoch-2 checkpoint (epoch-0001 is committed), and where the pointer must be after a kill there. */
const COMMIT_STEPS: Array<[moment: string, spec: object, latest: string]> = [
  [
    'while the new checkpoint is half written in its temp directory',
    { call: 'writeFileSync', path: '/\\.tmp-epoch-0002-[^/]*/optimizer\\.bin$' },
    'epoch-0001',
  ],
  [
    'just before the temp directory is renamed into place',
    { call: 'renameSync', path: '\\.tmp-epoch-0002-\\S* -> \\S*/epoch-0002$' },
    'epoch-0001',
  ],
  ['just before checkpoint.json is switched', { call: 'renameSync', path: '-> \\S*/checkpoint\\.json$', nth: 2 }, 'epoch-0001'],
  [
    'just after checkpoint.json is switched, before the old checkpoint is removed',
    { call: 'renameSync', path: '-> \\S*/checkpoint\\.json$', nth: 2, when: 'after' },
    'epoch-0002',
  ],
];

describe.concurrent('kill -9 during a checkpoint write', () => {
  test.each(COMMIT_STEPS)('%s: a loadable checkpoint remains; resume ends the same', async (moment, spec, latest) => {
    const out = newPath('kill-commit');
    const run = await trainRegular(out, [], inject({ ...spec, do: 'SIGKILL' }));
    expect(run.signal, output(run)).toBe('SIGKILL');
    const kept = loadable(out) && latestCheckpointName(out) === latest;
    const resumed = await trainRegular(out, ['--resume']);
    expect(resumed.code, output(resumed)).toBe(0);
    const equal = same(snapshot(out), (await baseline()).snapshot);
    ledger.record(`SIGKILL ${moment}`, { intact: kept && equal, output: output(run) + output(resumed) });
  });
});

// ---------------------------------------------------------------- kill -9 at random moments of `reproduce --preset smoke`

const SMOKE_PHASES = [/^backend: /m, /^== regular CNN/m, /^== deformable fine-tune/m, /^== evaluation/m];
const KILL_SEEDS = [1, 2, 3, 4];

/**
 * The smoke preset on fewer images (64 a stage, 20 to validate and test): every phase still
 * runs, checkpoints and all, in less than half the time.
 */
const SMOKE_SIZES = ['--limit', '64', '--val-limit', '20', '--test-limit', '20'];

function smoke(out: string, extra: string[] = []): Promise<LiveCli> {
  return cli(['reproduce', '--preset', 'smoke', ...SMOKE_SIZES, '--out', out, '--data-dir', DATA, ...extra]);
}

/** What the finished experiment must come to: the accuracies and both stages' checkpoints and histories. */
function smokeOutcome(out: string): unknown {
  const metrics = JSON.parse(fs.readFileSync(path.join(out, 'results', 'metrics.json'), 'utf8'));
  return {
    results: metrics.results,
    regular: snapshot(path.join(out, 'checkpoints', 'regular')),
    deform: snapshot(path.join(out, 'checkpoints', 'deform')),
  };
}

/** The uninterrupted smoke run, and when each of its phases began (ms after its start). */
const smokeBaseline = once(async () => {
  const out = newPath('smoke-baseline');
  const live = await smoke(out);
  const started = Date.now();
  const phaseStarts: number[] = [];
  for (const phase of SMOKE_PHASES) {
    await live.waitFor(phase);
    phaseStarts.push(Date.now() - started);
  }
  const run = await live.done;
  expect(run.code, output(run)).toBe(0);
  return { out, phaseStarts, duration: Date.now() - started, outcome: smokeOutcome(out) };
});

describe.concurrent('kill -9 at random moments of a smoke run', () => {
  // Seed i kills during phase i (start, regular training, fine-tune, evaluation), at a
  // random point of it, so that the kills cover the whole run.
  test.each(KILL_SEEDS)('seed %i: every checkpoint directory loads; --resume ends with the uninterrupted metrics', async (seed) => {
    const { phaseStarts, duration, outcome } = await smokeBaseline();
    const phase = (seed - 1) % SMOKE_PHASES.length;
    const phaseLength = (phaseStarts[phase + 1] ?? duration) - phaseStarts[phase];
    const delay = Math.round(0.9 * seededRandom(seed)() * phaseLength);

    const out = newPath(`smoke-kill-${seed}`);
    const live = await smoke(out);
    await live.waitFor(SMOKE_PHASES[phase]);
    await new Promise((resolve) => setTimeout(resolve, delay));
    live.child.kill('SIGKILL');
    const killed = await live.done;
    const stages = ['regular', 'deform'].map((stage) => path.join(out, 'checkpoints', stage));
    const kept = stages.every(loadableOrNone);
    const committed = stages.filter((dir) => fs.existsSync(path.join(dir, 'checkpoint.json'))).map((dir) => path.basename(dir));

    const resumed = await (await smoke(out, ['--resume'])).done;
    expect(resumed.code, output(resumed)).toBe(0);
    const equal = same(smokeOutcome(out), outcome);
    const when =
      killed.signal === 'SIGKILL' ? `killed in phase ${phase} at +${delay} ms` : `finished before the kill (exit ${killed.code})`;
    ledger.record(`SIGKILL in a smoke run, seed ${seed}: ${when}; committed: ${committed.join(', ') || 'none'}`, {
      intact: kept && equal,
      output: output(killed) + output(resumed),
    });
  });
});

// ---------------------------------------------------------------- unwritable and full disks

/** Mounts a tmpfs with `options` on a new directory (root only); undefined if this machine does not allow it. */
function mountTmpfs(label: string, options: string): string | undefined {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return undefined;
  const dir = newPath(label);
  fs.mkdirSync(dir);
  if (spawnSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir]).status !== 0) return undefined;
  mounts.push(dir);
  return dir;
}

function remount(dir: string, options: string): void {
  expect(spawnSync('mount', ['-o', `remount,${options}`, dir]).status).toBe(0);
}

describe.concurrent('disks', () => {
  test('an unwritable output directory: one line (exit 1), the previous checkpoint untouched', async () => {
    // Really read-only where possible: a read-only tmpfs (root), or a directory without write
    // permission (other users); else (root without mount) the writes are made to fail.
    let out: string;
    let env: Record<string, string> = {};
    let how: string;
    const mounted = mountTmpfs('readonly', 'size=16m');
    if (mounted !== undefined) {
      fs.cpSync((await baseline()).out, mounted, { recursive: true });
      remount(mounted, 'ro');
      [out, how] = [mounted, 'read-only tmpfs'];
    } else if (process.getuid?.() !== 0) {
      out = await copyOfBaseline('readonly');
      fs.chmodSync(out, 0o555);
      how = 'chmod 555';
    } else {
      out = await copyOfBaseline('readonly');
      env = inject({ call: 'writeFileSync', path: `^${out}/`, do: 'EACCES' });
      how = 'simulated EACCES';
    }
    const before = treeDigest(out);
    const run = await trainRegular(out, ['--resume', '--epochs', '3'], env);
    expectOneLineError(run, 1, new RegExp(`^error: cannot write checkpoints to ${out}: permission denied$`));
    ledger.record(`unwritable output directory (${how})`, { intact: same(treeDigest(out), before) && loadable(out), output: output(run) });
  });

  test('--out below a file: one line (exit 1), nothing written', async () => {
    const file = path.join(await copyOfBaseline('file-parent'), 'metrics.json');
    const before = sha256(file);
    const run = await trainRegular(path.join(file, 'out'));
    expectOneLineError(run, 1, /^error: cannot write checkpoints to .*metrics\.json\/out: a path component is not a directory$/);
    ledger.record('--out below a regular file', { intact: sha256(file) === before, output: output(run) });
  });

  /** Expects the second epoch's checkpoint to fail for lack of space, the first one intact, and a resume with space to end the same. */
  async function fullDisk(out: string, env: Record<string, string>, makeRoom: () => void, label: string): Promise<void> {
    const run = await trainRegular(out, [], env);
    expectOneLineError(
      run,
      2,
      new RegExp(
        `^error: cannot write checkpoint ${out}/epoch-0002 \\(the previous checkpoint ${out}/epoch-0001 is intact\\): no space left on device$`,
      ),
    );
    const kept = loadable(out) && latestCheckpointName(out) === 'epoch-0001';
    const noLeftovers = fs.readdirSync(out).every((entry) => !entry.startsWith('.tmp-'));
    makeRoom();
    const resumed = await trainRegular(out, ['--resume']);
    expect(resumed.code, output(resumed)).toBe(0);
    const equal = same(snapshot(out), (await baseline()).snapshot);
    ledger.record(label, { intact: kept && noLeftovers && equal, output: output(run) + output(resumed) });
  }

  test('a disk that fills up (simulated ENOSPC): one line (exit 2), the previous checkpoint kept; resume ends the same', async () => {
    const out = newPath('enospc');
    await fullDisk(
      out,
      inject({ call: 'writeFileSync', path: '/\\.tmp-epoch-0002-', do: 'ENOSPC' }),
      () => undefined,
      'disk full (simulated ENOSPC)',
    );
  });

  // One checkpoint is about 3 MB; 4 MB holds the first but not the second beside it.
  const tmpfs = mountTmpfs('enospc-tmpfs', 'size=4m');
  test.skipIf(tmpfs === undefined)(
    'a disk that fills up (a 4 MB tmpfs): one line (exit 2), the previous checkpoint kept; resume ends the same',
    async () => {
      const out = tmpfs as string;
      await fullDisk(out, {}, () => remount(out, 'size=16m'), 'disk full (4 MB tmpfs)');
    },
  );
});

// ---------------------------------------------------------------- divergence

describe.concurrent('a loss that becomes NaN (absurd --lr)', () => {
  // With BatchNorm after every convolution the training loss of a diverged model can stay
  // finite (each batch is normalised by its own statistics); validation, which uses the
  // moving statistics, is then where the NaN shows.
  const NAN_STOP = (epoch: number) =>
    `(loss became NaN at epoch ${epoch}, step \\d of 3|validation loss is NaN after epoch ${epoch} \\(step 3 of 3\\))`;

  test('continuing a finished run with --lr 1e9: stops naming the epoch and step; the last good checkpoint is kept', async () => {
    const out = await copyOfBaseline('nan-resume');
    const before = treeDigest(out);
    const run = await trainRegular(out, ['--resume', '--epochs', '3', '--lr', '1e9']);
    expectOneLineError(
      run,
      1,
      new RegExp(`^error: ${NAN_STOP(3)}; training stopped\\. The last good checkpoint \\(${out}/epoch-0002\\) is kept; try a lower --lr$`),
    );
    ledger.record('NaN loss on resume with --lr 1e9', { intact: same(treeDigest(out), before) && loadable(out), output: output(run) });
  });

  test('a new run with --lr 1e9: stops naming the epoch and step; no checkpoint of NaNs is written', async () => {
    const out = newPath('nan-new');
    const run = await trainRegular(out, ['--lr', '1e9']);
    expectOneLineError(
      run,
      1,
      new RegExp(`^error: ${NAN_STOP(1)}; training stopped\\. The last good checkpoint \\(none yet\\) is kept; try a lower --lr$`),
    );
    ledger.record('NaN loss in a new run with --lr 1e9', { intact: latestCheckpointName(out) === undefined, output: output(run) });
  });
});

// ---------------------------------------------------------------- bad models for finetune-deform --from

/** A copy of the baseline's checkpoint with its weights rewritten by `edit` (manifest entries and their bytes). */
async function editedCheckpoint(
  label: string,
  edit: (weights: Array<{ name: string; shape: number[]; dtype: string; bytes: Buffer }>) => typeof weights,
): Promise<string> {
  const out = await copyOfBaseline(label);
  const dir = path.join(out, latestCheckpointName(out) as string);
  const modelJson = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
  const data = fs.readFileSync(path.join(dir, 'weights.bin'));
  let offset = 0;
  const weights = (modelJson.weightsManifest[0].weights as Array<{ name: string; shape: number[]; dtype: string }>).map((w) => {
    const size = 4 * w.shape.reduce((a, b) => a * b, 1);
    const bytes = data.subarray(offset, (offset += size));
    return { ...w, bytes };
  });
  const edited = edit(weights);
  modelJson.weightsManifest[0].weights = edited.map(({ name, shape, dtype }) => ({ name, shape, dtype }));
  fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(modelJson));
  fs.writeFileSync(path.join(dir, 'weights.bin'), Buffer.concat(edited.map((w) => w.bytes)));
  return out;
}

/** A Keras-style model that is not ours: one dense layer, in tfjs format, without a checkpoint's state. */
function foreignModel(): string {
  const dir = newPath('foreign');
  fs.mkdirSync(dir);
  const weights = [
    { name: 'dense_1/kernel', shape: [784, 10], dtype: 'float32' },
    { name: 'dense_1/bias', shape: [10], dtype: 'float32' },
  ];
  fs.writeFileSync(
    path.join(dir, 'model.json'),
    JSON.stringify({
      format: 'layers-model',
      modelTopology: { class_name: 'Sequential', config: { name: 'mlp', layers: [] } },
      weightsManifest: [{ paths: ['weights.bin'], weights }],
    }),
  );
  fs.writeFileSync(path.join(dir, 'weights.bin'), Buffer.alloc(4 * (7840 + 10)));
  return dir;
}

const BAD_SOURCES: Array<[what: string, make: () => Promise<string>, message: RegExp]> = [
  [
    'a deformable model',
    async () => path.join((await smokeBaseline()).out, 'checkpoints', 'deform'),
    /^error: --from \S+ holds a deform checkpoint; expected a regular CNN \(train-regular\)$/,
  ],
  [
    'a foreign model (tfjs files without a checkpoint)',
    async () => foreignModel(),
    /^error: no checkpoint in \S+ \(no checkpoint\.json\); train one with train-regular/,
  ],
  [
    'a model with a missing layer (conv21)',
    () => editedCheckpoint('missing-layer', (weights) => weights.filter((w) => !w.name.startsWith('conv21/'))),
    /^error: checkpoint \S+ has no layer 'conv21' \(the \S+ model needs it\)$/,
  ],
  [
    'weights.bin shorter than model.json says',
    async () => {
      const out = await copyOfBaseline('short-weights');
      const file = path.join(out, latestCheckpointName(out) as string, 'weights.bin');
      fs.truncateSync(file, fs.statSync(file).size - 100);
      return out;
    },
    /^error: \S+weights\.bin holds \d+ bytes but its manifest describes \d+$/,
  ],
  [
    'a weight whose shape does not match the model (fc1 kernel transposed)',
    () =>
      editedCheckpoint('wrong-shape', (weights) =>
        weights.map((w) => (w.name === 'fc1/kernel' ? { ...w, shape: [...w.shape].reverse() } : w)),
      ),
    /^error: weight 'fc1\/kernel' has shape \[10,128\] in checkpoint \S+ but \[128,10\] in the \S+ model$/,
  ],
];

describe.concurrent('finetune-deform --from a model it cannot use', () => {
  test.each(BAD_SOURCES)('%s: one line (exit 1); the source untouched, nothing written', async (what, make, message) => {
    const from = await make();
    const before = treeDigest(from);
    const out = newPath('finetune-out');
    const run = await (
      await cli(['finetune-deform', '--from', from, '--out', out, '--epochs', '1', '--limit', '32', '--data-dir', DATA])
    ).done;
    expectOneLineError(run, 1, message);
    const nothingWritten = !fs.existsSync(out) || latestCheckpointName(out) === undefined;
    ledger.record(`finetune-deform --from ${what}`, { intact: same(treeDigest(from), before) && nothingWritten, output: output(run) });
  });
});

// ---------------------------------------------------------------- eval without what it needs

describe.concurrent('eval without its checkpoints or data', () => {
  const cases: Array<[what: string, args: () => Promise<string[]>, code: number, message: RegExp]> = [
    [
      'a checkpoint directory that does not exist',
      async () => ['--regular', newPath('nowhere')],
      1,
      /^error: checkpoint directory \S+ does not exist$/,
    ],
    [
      'a pointer to a checkpoint that is gone',
      async () => {
        const out = await copyOfBaseline('gone');
        fs.rmSync(path.join(out, latestCheckpointName(out) as string), { recursive: true });
        return ['--regular', out];
      },
      1,
      /^error: cannot read \S+\/epoch-0002\/model\.json: no such file or directory$/,
    ],
    [
      'a pointer that is not JSON',
      async () => {
        const out = await copyOfBaseline('bad-pointer');
        fs.writeFileSync(path.join(out, 'checkpoint.json'), '{"latest": "epoch-00');
        return ['--regular', out];
      },
      1,
      /^error: \S+checkpoint\.json is not a checkpoint pointer \(/,
    ],
    [
      'a regular checkpoint given as --deform',
      async () => ['--deform', (await baseline()).out],
      1,
      /^error: --deform \S+ holds a regular checkpoint, not a deform one$/,
    ],
    [
      'missing data',
      async () => ['--regular', (await baseline()).out, '--data-dir', newPath('no-data')],
      2,
      /^error: MNIST not found: \S+ is missing; run `deformconv download --data-dir \S+`$/,
    ],
  ];
  test.each(cases)('%s: one line', async (what, args, code, message) => {
    const given = await args();
    const checkpoint = given[1];
    const before = fs.existsSync(checkpoint) ? treeDigest(checkpoint) : {};
    // The shared data dir first: a case that means to miss the data passes its own, which wins.
    const run = await (await cli(['eval', '--limit', '20', '--data-dir', DATA, ...given])).done;
    expectOneLineError(run, code, message);
    const after = fs.existsSync(checkpoint) ? treeDigest(checkpoint) : {};
    ledger.record(`eval with ${what}`, { intact: same(after, before), output: output(run) });
  });

  test('no checkpoint anywhere: one line naming the flags to pass', async () => {
    const cwd = newPath('empty-cwd');
    fs.mkdirSync(cwd);
    const run = await runCli(['eval'], { cwd });
    expectOneLineError(
      run,
      1,
      /^error: no checkpoints to evaluate: neither checkpoints\/regular nor checkpoints\/deform exists; pass --regular and\/or --deform$/,
    );
    ledger.record('eval with no checkpoint anywhere', { intact: fs.readdirSync(cwd).length === 0, output: output(run) });
  });
});
