/**
 * docs/PERFORMANCE.md's tables, rendered from the bench runs kept as data in docs/bench/
 * (each one `npm run -s bench -- --json > docs/bench/NAME.json`, with its date, commit and
 * machine inside). The page's prose is written by hand; each table sits between
 * `<!-- bench:NAME -->` and `<!-- /bench:NAME -->` and is replaced by this script:
 *
 *   npm run docs:performance            rewrites docs/PERFORMANCE.md's tables
 *   npm run docs:performance -- --check exits 1 when the page and docs/bench/ disagree
 *
 * tests/performance_doc.test.ts runs the check. Tables: `runs` (when, where, at which
 * commit), `figures` (the bench's figures against PyTorch and the targets), `epochs` (the
 * time per epoch the step times imply) and `profile` (where a one-thread step's time goes).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The fields of one `bench --json` run that the page shows (scripts/bench/main.ts writes them). */
export interface BenchRun {
  date: string;
  commit: string | null;
  commit_dirty: boolean | null;
  backend: string;
  threads: number;
  batch: number;
  rounds: number;
  burst: number;
  regular_forward_ms: number;
  regular_train_ms: number;
  regular_train_ms_1thread: number;
  deform_forward_ms: number;
  deform_forward_batch1_ms: number;
  deform_finetune_ms: number;
  deform_finetune_ms_1thread: number;
  regular_speedup_threads: number;
  deform_speedup_threads: number;
  regular_train_ms_per_shard_bn: number;
  deform_finetune_ms_per_shard_bn: number;
  regular_speedup_threads_per_shard_bn: number;
  deform_speedup_threads_per_shard_bn: number;
  pytorch: { torch: string; python: string; threads: Record<string, Record<string, number>> } | null;
  pytorch_absent: string | null;
  regular_train_vs_pytorch_1thread?: number;
  regular_train_vs_pytorch?: number;
  deform_finetune_vs_pytorch_1thread?: number;
  deform_finetune_vs_pytorch?: number;
  regular_forward_vs_pytorch?: number;
  deform_forward_vs_pytorch?: number;
  deform_forward_batch1_vs_pytorch?: number;
  regular_epoch_s: number;
  deform_epoch_s: number;
  deform_sample_ms: number;
  deform_sample_conv_ms: number;
  deform_sample_to_conv: number;
  deform_sample_to_conv_target: number;
  dcn_forward_ms: number;
  dcn_conv_forward_ms: number;
  dcn_train_ms: number;
  dcn_conv_train_ms: number;
  dcn_forward_ratio: number;
  dcn_train_ratio: number;
  dcn_ratio_target: number;
  profile: Record<'regular' | 'deform', { stepMs: number; rows: Array<{ label: string; ms: number; calls: number }> }>;
  machine: {
    cpu: string;
    cores: number;
    os: string;
    memory_gib: number;
    node: string;
    tfjs: string;
    backend_details: string;
    load_average_1min: number[];
  };
}

/** A run and the file it came from (relative to the repository root). */
export interface RunFile {
  file: string;
  run: BenchRun;
}

/** The speed targets against PyTorch's CPU build set by the issue that asked for them (ratio of step times, at most). */
export const PYTORCH_TARGETS = { regular: 2.2, deform: 1.6 };

export const ROOT = path.resolve(__dirname, '..').replace(/[\\/]dist$/, '');
export const BENCH_DIR = path.join(ROOT, 'docs', 'bench');
export const PAGE = path.join(ROOT, 'docs', 'PERFORMANCE.md');
/** Training images per epoch, as the bench counts them. */
const EPOCH_IMAGES = 60_000;

/** Every docs/bench/*.json, oldest first (by the date inside, then by name). */
export function loadRuns(dir = BENCH_DIR): RunFile[] {
  if (!fs.existsSync(dir)) return [];
  const runs = fs
    .readdirSync(dir)
    .filter((name) => name.endsWith('.json'))
    .map((name) => ({ file: `docs/bench/${name}`, run: JSON.parse(fs.readFileSync(path.join(dir, name), 'utf8')) as BenchRun }));
  return runs.sort((a, b) => a.run.date.localeCompare(b.run.date) || a.file.localeCompare(b.file));
}

const short = (commit: string | null, dirty: boolean | null): string =>
  commit === null ? 'not a git checkout' : `${commit.slice(0, 7)}${dirty ? ' + uncommitted changes' : ''}`;
const day = (iso: string): string => iso.slice(0, 16).replace('T', ' ') + ' UTC';
const cell = (text: string): string => text.replace(/\|/g, '\\|');
const table = (header: string[], rows: string[][]): string =>
  [header, header.map(() => '---'), ...rows].map((r) => `| ${r.map(cell).join(' | ')} |`).join('\n');
/** Column headers: one per run, named by its file. */
const runHeaders = (runs: RunFile[]): string[] => runs.map(({ file }) => `\`${path.basename(file, '.json')}\``);
const met = (value: number, target: number): string => `${value <= target ? 'met' : 'not met'}`;

function runsTable(runs: RunFile[]): string {
  return table(
    ['Run (docs/bench/)', 'Date', 'Commit', 'Machine', 'Software', 'Settings', 'Load (1-min, before / after)'],
    runs.map(({ file, run }) => [
      `\`${path.basename(file)}\``,
      day(run.date),
      short(run.commit, run.commit_dirty),
      `${run.machine.cpu}, ${run.machine.cores} cores, ${run.machine.memory_gib} GiB; ${run.machine.os}`,
      `Node ${run.machine.node.replace(/^v/, '')}, tfjs ${run.machine.tfjs}, ${run.machine.backend_details}; ` +
        (run.pytorch ? `PyTorch ${run.pytorch.torch}` : `no PyTorch (${run.pytorch_absent})`),
      `batch ${run.batch}, ${run.threads} threads, ${run.rounds} rounds of ${run.burst} calls`,
      run.machine.load_average_1min.join(' / '),
    ]),
  );
}

function figuresTable(runs: RunFile[]): string {
  const pt = (run: BenchRun, threads: number, key: string): number | undefined => run.pytorch?.threads[String(threads)]?.[key];
  /** `ours ms vs PyTorch's ms: ratio x (met)`, or ours alone without PyTorch. */
  const vs = (run: BenchRun, ours: number, threads: number, key: string, ratio: number | undefined, target?: number): string => {
    const theirs = pt(run, threads, key);
    if (theirs === undefined || ratio === undefined) return `${ours} ms (no PyTorch)`;
    return `${ratio} x (${ours} vs ${theirs} ms)${target === undefined ? '' : `, ${met(ratio, target)}`}`;
  };
  const n = (run: BenchRun) => run.threads;
  const rows: Array<{ label: string; target: string; value: (run: BenchRun) => string }> = [
    {
      label: 'regular CNN train step, 1 thread, vs PyTorch (1 thread)',
      target: `<= ${PYTORCH_TARGETS.regular} x`,
      value: (r) => vs(r, r.regular_train_ms_1thread, 1, 'regular_train_ms', r.regular_train_vs_pytorch_1thread, PYTORCH_TARGETS.regular),
    },
    {
      label: 'regular CNN train step, all threads, vs PyTorch (as many threads)',
      target: `<= ${PYTORCH_TARGETS.regular} x`,
      value: (r) => vs(r, r.regular_train_ms, n(r), 'regular_train_ms', r.regular_train_vs_pytorch, PYTORCH_TARGETS.regular),
    },
    {
      label: 'deformable fine-tune step, 1 thread, vs PyTorch (1 thread)',
      target: `<= ${PYTORCH_TARGETS.deform} x`,
      value: (r) =>
        vs(r, r.deform_finetune_ms_1thread, 1, 'deform_finetune_ms', r.deform_finetune_vs_pytorch_1thread, PYTORCH_TARGETS.deform),
    },
    {
      label: 'deformable fine-tune step, all threads, vs PyTorch (as many threads)',
      target: `<= ${PYTORCH_TARGETS.deform} x`,
      value: (r) => vs(r, r.deform_finetune_ms, n(r), 'deform_finetune_ms', r.deform_finetune_vs_pytorch, PYTORCH_TARGETS.deform),
    },
    {
      label: 'regular CNN forward (inference) vs PyTorch',
      target: '',
      value: (r) => vs(r, r.regular_forward_ms, 1, 'regular_forward_ms', r.regular_forward_vs_pytorch),
    },
    {
      label: 'deformable CNN forward vs PyTorch',
      target: '',
      value: (r) => vs(r, r.deform_forward_ms, 1, 'deform_forward_ms', r.deform_forward_vs_pytorch),
    },
    {
      label: 'deformable CNN forward, batch 1, vs PyTorch',
      target: '',
      value: (r) => vs(r, r.deform_forward_batch1_ms, 1, 'deform_forward_batch1_ms', r.deform_forward_batch1_vs_pytorch),
    },
    {
      label: 'speedup of all threads, synchronous BatchNorm (the recipe): regular / fine-tune',
      target: '',
      value: (r) => `${r.regular_speedup_threads} / ${r.deform_speedup_threads} (${r.threads} threads)`,
    },
    {
      label: 'speedup of all threads, per-shard BatchNorm (not the recipe): regular / fine-tune',
      target: '',
      value: (r) => `${r.regular_speedup_threads_per_shard_bn} / ${r.deform_speedup_threads_per_shard_bn}`,
    },
    {
      label: '`deformSample` fwd+bwd vs its 3x3 128->256 offset conv (14x14x128)',
      target: `<= ${runs[runs.length - 1]?.run.deform_sample_to_conv_target ?? ''}`,
      value: (r) =>
        `${r.deform_sample_to_conv} (${r.deform_sample_ms} vs ${r.deform_sample_conv_ms} ms), ${met(r.deform_sample_to_conv, r.deform_sample_to_conv_target)}`,
    },
    {
      label: '`DeformConv2D` vs `conv2d` (14x14, 64->128), forward / forward + backward',
      target: `<= ${runs[runs.length - 1]?.run.dcn_ratio_target ?? ''} x`,
      value: (r) =>
        `${r.dcn_forward_ratio} / ${r.dcn_train_ratio} x (${r.dcn_forward_ms} vs ${r.dcn_conv_forward_ms}, ${r.dcn_train_ms} vs ${r.dcn_conv_train_ms} ms), ` +
        `${met(Math.max(r.dcn_forward_ratio, r.dcn_train_ratio), r.dcn_ratio_target)}`,
    },
  ];
  return table(
    [`Figure (${runs[0]?.run.backend ?? 'wasm'}, batch ${runs[0]?.run.batch ?? 32})`, ...runHeaders(runs), 'Target'],
    rows.map(({ label, target, value }) => [label, ...runs.map(({ run }) => value(run)), target]),
  );
}

function epochsTable(runs: RunFile[]): string {
  const epoch = (run: BenchRun, ms: number) => `${Math.round((ms * Math.ceil(EPOCH_IMAGES / run.batch)) / 1000)} s`;
  return table(
    ['Epoch of 60,000 images, from the step time', ...runHeaders(runs)],
    [
      ['regular CNN, all threads (synchronous BatchNorm)', ...runs.map(({ run }) => `${run.regular_epoch_s} s (${run.threads} threads)`)],
      ['regular CNN, 1 thread', ...runs.map(({ run }) => epoch(run, run.regular_train_ms_1thread))],
      [
        'deformable fine-tune, all threads, augmentation not included',
        ...runs.map(({ run }) => `${run.deform_epoch_s} s (${run.threads} threads)`),
      ],
      ['deformable fine-tune, 1 thread, augmentation not included', ...runs.map(({ run }) => epoch(run, run.deform_finetune_ms_1thread))],
    ],
  );
}

/** One table per model: each kernel's ms a step in every run, ordered by the newest run. */
function profileTable(runs: RunFile[]): string {
  const parts: string[] = [];
  const titles = { regular: 'Regular CNN train step, 1 thread', deform: 'Deformable fine-tune step, 1 thread' } as const;
  for (const model of ['regular', 'deform'] as const) {
    const newest = runs[runs.length - 1].run.profile[model];
    const labels = [...newest.rows.map((r) => r.label)];
    for (const { run } of runs) for (const row of run.profile[model].rows) if (!labels.includes(row.label)) labels.push(row.label);
    const rest = labels.filter((l) => l.startsWith('the rest'));
    const ordered = [...labels.filter((l) => !l.startsWith('the rest')), ...rest];
    const ms = (run: BenchRun, label: string): string => {
      const row = run.profile[model].rows.find((r) => r.label === label);
      if (row === undefined) return '-';
      const share = ((100 * row.ms) / run.profile[model].stepMs).toFixed(1);
      return `${row.ms.toFixed(1)} (${share}%)`;
    };
    const calls = (label: string) => {
      const row = newest.rows.find((r) => r.label === label);
      return row && row.calls > 0 ? String(Math.round(row.calls * 10) / 10) : '';
    };
    parts.push(
      `**${titles[model]}** (ms a step, share of the step; calls a step in the newest run)\n\n` +
        table(
          ['Kernel', ...runHeaders(runs), 'Calls'],
          [
            ...ordered.map((label) => [label, ...runs.map(({ run }) => ms(run, label)), calls(label)]),
            ['step', ...runs.map(({ run }) => run.profile[model].stepMs.toFixed(1)), ''],
          ],
        ),
    );
  }
  return parts.join('\n\n');
}

/** The tables by block name. */
export function renderTables(runs: RunFile[]): Record<string, string> {
  if (runs.length === 0) {
    const none = '_No bench runs in docs/bench/._';
    return { runs: none, figures: none, epochs: none, profile: none };
  }
  return { runs: runsTable(runs), figures: figuresTable(runs), epochs: epochsTable(runs), profile: profileTable(runs) };
}

/** `page` with every `<!-- bench:NAME -->...<!-- /bench:NAME -->` block replaced by its table; throws on an unknown or unclosed block. */
export function renderPage(page: string, runs: RunFile[]): string {
  const tables = renderTables(runs);
  const opened = [...page.matchAll(/<!-- bench:(\w+) -->/g)].map((m) => m[1]);
  for (const name of opened) {
    if (!(name in tables))
      throw new Error(`docs/PERFORMANCE.md: unknown table <!-- bench:${name} --> (known: ${Object.keys(tables).join(', ')})`);
    if (!page.includes(`<!-- /bench:${name} -->`))
      throw new Error(`docs/PERFORMANCE.md: <!-- bench:${name} --> is not closed by <!-- /bench:${name} -->`);
  }
  return page.replace(/<!-- bench:(\w+) -->[\s\S]*?<!-- \/bench:\1 -->/g, (_, name: string) => {
    const notice = '<!-- rendered from docs/bench/*.json by npm run docs:performance; do not edit -->';
    return `<!-- bench:${name} -->\n${notice}\n\n${tables[name]}\n\n<!-- /bench:${name} -->`;
  });
}

function main(): void {
  const check = process.argv.includes('--check');
  const page = fs.readFileSync(PAGE, 'utf8');
  const rendered = renderPage(page, loadRuns());
  if (rendered === page) {
    process.stdout.write('docs/PERFORMANCE.md agrees with docs/bench/\n');
    return;
  }
  if (check) {
    process.stderr.write('docs/PERFORMANCE.md differs from what docs/bench/ renders: run npm run docs:performance\n');
    process.exit(1);
  }
  fs.writeFileSync(PAGE, rendered);
  process.stdout.write('docs/PERFORMANCE.md: tables rendered from docs/bench/\n');
}

if (require.main === module) main();
