/**
 * results/REPORT.md: the extended results table (the reference's two models, the control
 * runs that separate the offsets from BatchNorm re-adapting, and the paper's deformable
 * convolution, DCN and DCNv2, in place of the reference's offset layers), what the control
 * and the DCN rows show, the run configurations, backend and time taken, and the
 * pictures. Pure: it formats a ReportData, which experiment/report.ts measures.
 */

import { Accuracies, formatPercent } from '../evaluation/table';
import { PICTURE_FILES, PictureName } from './figures';

/** The models of the extended table. */
export type ReportVariant = 'regular' | 'bn-only' | 'offsets-only' | 'offsets-bn' | 'dcn' | 'dcnv2';

/** The report's rows, in table order. */
export const REPORT_VARIANTS: readonly ReportVariant[] = ['regular', 'bn-only', 'offsets-only', 'offsets-bn', 'dcn', 'dcnv2'];

/** The rows with the paper's deformable convolution (finetune-deform --deform-type dcn|dcnv2). */
const DCN_VARIANTS = ['dcn', 'dcnv2'] as const;

export const VARIANT_LABELS: Readonly<Record<ReportVariant, string>> = {
  regular: 'Regular CNN (no fine-tune)',
  'bn-only': 'BN-only control: regular CNN, BatchNorm fine-tuned',
  'offsets-only': 'Deformable CNN, offsets only (--freeze-bn)',
  'offsets-bn': "Deformable CNN, offsets + BatchNorm (the reference's recipe)",
  dcn: 'DCN (DeformConv2D, offsets per kernel tap) + BatchNorm',
  dcnv2: 'DCNv2 (modulated: offsets + mask per tap) + BatchNorm',
};

/** The DCN rows' short names in the prose. */
const DCN_NAMES: Readonly<Record<(typeof DCN_VARIANTS)[number], string>> = { dcn: 'DCN', dcnv2: 'DCNv2' };

/** What each variant trains on scaled MNIST. */
export const VARIANT_TRAINS: Readonly<Record<ReportVariant, string>> = {
  regular: 'nothing (trained on plain MNIST only)',
  'bn-only': 'BatchNorm (gamma, beta, moving statistics)',
  'offsets-only': 'the 3 offset layers',
  'offsets-bn': 'the 3 offset layers and BatchNorm',
  dcn: 'the offset convolutions of conv12, conv21, conv22 (DeformConv2D) and BatchNorm',
  dcnv2: 'the offset and mask convolutions of conv12, conv21, conv22 (DeformConv2D) and BatchNorm',
};

/** One trained model, measured. */
export interface RunResult {
  seed: number;
  /** Its checkpoint directory. */
  checkpoint: string;
  accuracy: Accuracies;
  /** Seconds of training (sum over its epochs). */
  trainingSeconds: number;
  /** Seconds its evaluation took (undefined: taken from reproduce's results). */
  evaluationSeconds?: number;
  /** The run's settings (training's config; for the regular CNN its own). */
  config: Record<string, unknown>;
}

/** Everything REPORT.md states: runs, settings, backends, timings, pictures. */
export interface ReportData {
  /** The command that produced the checkpoints, e.g. "deformconv reproduce --preset quick". */
  reproduceCommand: string;
  /** The command that produced this report. */
  reportCommand: string;
  /** The preset's description (PresetSpec.description). */
  presetDescription: string;
  /** What reproduce ran on. */
  backend: Record<string, unknown>;
  /** What the report's own runs ran on (when it ran any). */
  reportBackend?: Record<string, unknown>;
  /** The scaled and plain test sets: the first `count` test images. */
  test: { count: number; scaledSeed: number; interpolation: string };
  /** Each row's runs, one per seed. */
  runs: Record<ReportVariant, RunResult[]>;
  /** The reference's published accuracy for the rows it has. */
  reference: Partial<Record<ReportVariant, Accuracies>>;
  /** Pictures written beside REPORT.md, by name (file names relative to it). */
  pictures: Partial<Record<PictureName, string>>;
  /** The test digit the offset pictures show. */
  pictureIndex: number;
  /** Wall-clock seconds of reproduce's parts and of the report. */
  seconds: { reproduce: Record<string, number | undefined>; report: number };
  /** ISO 8601 time of writing. */
  generatedAt: string;
}

/** Mean and spread of one figure over a row's runs. */
export interface Summary {
  mean: number;
  /** Sample standard deviation (n - 1); undefined for one run. */
  std: number | undefined;
  n: number;
}

/** Mean and sample standard deviation of `values` (one or more). */
export function summarize(values: readonly number[]): Summary {
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const std = n > 1 ? Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1)) : undefined;
  return { mean, std, n };
}

const points = (x: number): string => `${x >= 0 ? '+' : '-'}${Math.abs(x * 100).toFixed(2)}`;

function cell(s: Summary | undefined): string {
  if (s === undefined) return '-';
  return s.std === undefined ? formatPercent(s.mean) : `${formatPercent(s.mean)} ± ${(s.std * 100).toFixed(2)}`;
}

function variantSummary(runs: readonly RunResult[], variant: 'plain' | 'scaled'): Summary | undefined {
  return runs.length === 0 ? undefined : summarize(runs.map((r) => r.accuracy[variant]));
}

function duration(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds)) return '-';
  if (seconds < 90) return `${seconds.toFixed(1)} s`;
  if (seconds < 5400) return `${(seconds / 60).toFixed(1)} min`;
  return `${(seconds / 3600).toFixed(2)} h`;
}

function backendText(backend: Record<string, unknown>): string {
  const details = Object.entries(backend)
    .filter(([key]) => key !== 'name')
    .map(([key, value]) => `${key} ${String(value)}`)
    .join(', ');
  return `${String(backend.name)}${details ? ` (${details})` : ''}`;
}

/** The sampling standard error of an accuracy near `p` measured on `n` images. */
function standardError(p: number, n: number): number {
  return Math.sqrt((p * (1 - p)) / n);
}

/**
 * What "noise" means in the findings: twice the larger of the sampling standard error of
 * an accuracy near `near`'s mean and the seed-to-seed standard deviations of `compared`.
 */
function noiseLevel(near: Summary, compared: readonly Summary[], count: number): number {
  return 2 * Math.max(standardError(near.mean, count), ...compared.map((s) => s.std ?? 0));
}

/** The models of the control, in the order the prose names them. */
const CONTROL_VARIANTS = ['regular', 'bn-only', 'offsets-only', 'offsets-bn'] as const;

/** Which of the recipe's parts did the work, from what each adds on top of the other. */
function whichPartWorks(offsetsAdd: number, bnAdds: number, noise: number): string {
  if (offsetsAdd > noise && bnAdds > noise) {
    return 'Both parts matter here: each alone falls short of the two together by more than the noise.';
  }
  if (offsetsAdd > noise && bnAdds < -noise) {
    return (
      `The offsets do the work here, and letting BatchNorm adapt as well hurts: the offsets alone beat the reference's recipe by ` +
      `${points(-bnAdds)} points.`
    );
  }
  if (offsetsAdd > noise) {
    return 'The offsets do the work here: BatchNorm re-adaptation adds no more than the noise once the offsets learn.';
  }
  if (bnAdds > noise) {
    return (
      "BatchNorm re-adaptation explains the gain here: the offsets add no more than the noise on top of it, so the reference's " +
      'table does not by itself show that the offsets learned to handle scale.'
    );
  }
  return 'Either part alone comes within the noise of the two together.';
}

/** The paragraph that says what the control shows, from the scaled-test means. */
export function controlFindings(data: ReportData): string[] {
  const scaled = (v: ReportVariant): Summary | undefined => variantSummary(data.runs[v], 'scaled');
  const [regular, bnOnly, offsetsOnly, both] = CONTROL_VARIANTS.map(scaled);
  if (regular === undefined || bnOnly === undefined || offsetsOnly === undefined || both === undefined) {
    return ['Not every model was measured, so the control cannot be read.'];
  }
  const gain = (s: Summary): number => s.mean - regular.mean;
  const lines = [
    `On scaled test digits the regular CNN scores ${formatPercent(regular.mean)}. Fine-tuning only BatchNorm, without any offsets, ` +
      `reaches ${formatPercent(bnOnly.mean)} (${points(gain(bnOnly))} points); the offsets alone, with BatchNorm frozen, reach ` +
      `${formatPercent(offsetsOnly.mean)} (${points(gain(offsetsOnly))}); offsets and BatchNorm together, the reference's recipe, reach ` +
      `${formatPercent(both.mean)} (${points(gain(both))}).`,
  ];
  const noise = noiseLevel(both, [bnOnly, offsetsOnly, both], data.test.count);
  if (gain(both) <= noise) {
    lines.push(
      `The reference's recipe did not clearly improve on the regular CNN in this run (within ${(noise * 100).toFixed(2)} points), ` +
        'so the control has no gain to apportion; train longer (see the run configuration).',
    );
  } else {
    const share = (s: Summary): string => `${Math.round((100 * gain(s)) / gain(both))}%`;
    lines.push(
      `BatchNorm re-adapting alone recovers ${share(bnOnly)} of the full recipe's gain and the offsets alone ${share(offsetsOnly)}; ` +
        `on top of BatchNorm, the offsets add ${points(both.mean - bnOnly.mean)} points.`,
      whichPartWorks(both.mean - bnOnly.mean, both.mean - offsetsOnly.mean, noise),
    );
  }
  const plain = CONTROL_VARIANTS.map((v) => variantSummary(data.runs[v], 'plain') as Summary);
  lines.push(
    `On plain test digits (what the fine-tunes may forget): regular ${formatPercent(plain[0].mean)}, BN-only ${formatPercent(plain[1].mean)} ` +
      `(${points(plain[1].mean - plain[0].mean)}), offsets only ${formatPercent(plain[2].mean)} (${points(plain[2].mean - plain[0].mean)}), ` +
      `offsets + BatchNorm ${formatPercent(plain[3].mean)} (${points(plain[3].mean - plain[0].mean)}).`,
  );
  const runs = Math.min(...[bnOnly, offsetsOnly, both].map((s) => s.n));
  lines.push(
    `Noise: with ${data.test.count} test images an accuracy near ${formatPercent(both.mean)} has a sampling standard error of ` +
      `${(standardError(both.mean, data.test.count) * 100).toFixed(2)} points; "noise" above is twice the larger of that and the ` +
      `seed-to-seed standard deviation. ` +
      (runs > 1
        ? `Each fine-tune ran with ${runs} seeds (mean ± standard deviation).`
        : 'Each fine-tune ran once (one seed); `deformconv report --runs K` repeats them with K seeds for a spread.'),
  );
  return lines;
}

/**
 * The paragraph on the DCN rows: the paper's deformable convolution against the
 * reference's offset layers (and the BN-only control), from the scaled-test means.
 */
export function dcnFindings(data: ReportData): string[] {
  const summary = (v: ReportVariant, test: 'plain' | 'scaled'): Summary | undefined => variantSummary(data.runs[v], test);
  const regular = summary('regular', 'scaled');
  const reference = summary('offsets-bn', 'scaled');
  const bnOnly = summary('bn-only', 'scaled');
  const measured = DCN_VARIANTS.flatMap((v) => {
    const scaled = summary(v, 'scaled');
    return scaled === undefined ? [] : [{ name: DCN_NAMES[v], scaled, plain: summary(v, 'plain') as Summary }];
  });
  if (regular === undefined || reference === undefined || measured.length === 0) {
    return ['Not every model was measured, so the DCN rows cannot be compared.'];
  }
  const noise = noiseLevel(
    reference,
    [reference, ...(bnOnly === undefined ? [] : [bnOnly]), ...measured.map((m) => m.scaled)],
    data.test.count,
  );
  const withinNoise = (difference: number): boolean => Math.abs(difference) <= noise;
  const against = (difference: number, what: string): string =>
    withinNoise(difference)
      ? `comes within the noise of ${what}`
      : `${difference > 0 ? 'beats' : 'falls short of'} ${what} by ${Math.abs(difference * 100).toFixed(2)} points`;
  const scores = measured.map(
    (m) => `${formatPercent(m.scaled.mean)} with ${m.name} (${points(m.scaled.mean - regular.mean)} points over the regular CNN)`,
  );
  const lines = [
    "With the paper's deformable convolution in place of the reference's offset layers, and the same recipe, the scaled " +
      `test digits score ${scores.join(' and ')}, ` +
      `against ${formatPercent(reference.mean)} (${points(reference.mean - regular.mean)}) with the reference's per-channel offsets.`,
  ];
  const notImproved = measured.filter((m) => m.scaled.mean - regular.mean <= noise).map((m) => m.name);
  if (notImproved.length > 0) {
    lines.push(
      `${notImproved.join(' and ')} did not clearly improve on the regular CNN in this run (within ${(noise * 100).toFixed(2)} points); ` +
        'train longer (see the run configuration).',
    );
  }
  lines.push(
    measured
      .map((m) => {
        const overBn = bnOnly === undefined ? undefined : m.scaled.mean - bnOnly.mean;
        return (
          `${m.name} ${against(m.scaled.mean - reference.mean, "the reference's offset layers")}` +
          (overBn === undefined
            ? ''
            : `; on top of BatchNorm alone (the BN-only control) its offsets add ${points(overBn)} points${withinNoise(overBn) ? ', within the noise' : ''}`) +
          '.'
        );
      })
      .join(' '),
  );
  if (measured.length === 2) {
    const maskAdds = measured[1].scaled.mean - measured[0].scaled.mean;
    lines.push(
      `DCNv2 against DCN (what the mask adds): ${points(maskAdds)} points (${withinNoise(maskAdds) ? 'within' : 'beyond'} the noise).`,
    );
  }
  const regularPlain = summary('regular', 'plain') as Summary;
  lines.push(
    `On plain test digits: ${measured.map((m) => `${m.name} ${formatPercent(m.plain.mean)} (${points(m.plain.mean - regularPlain.mean)})`).join(', ')}, ` +
      `against the regular CNN's ${formatPercent(regularPlain.mean)}. "Noise" is as defined above, here ${(noise * 100).toFixed(2)} points.`,
  );
  return lines;
}

function configRow(variant: ReportVariant, runs: readonly RunResult[]): string {
  if (runs.length === 0) return `| ${VARIANT_LABELS[variant]} | - | - | - | - | - | - | - | - |`;
  const c = runs[0].config;
  const value = (key: string): string => String((c[key] as string | number | null | undefined) ?? 'all');
  const seeds = runs.map((r) => r.seed).join(', ');
  const train = summarize(runs.map((r) => r.trainingSeconds)).mean;
  const evals = runs.map((r) => r.evaluationSeconds).filter((s): s is number => s !== undefined);
  return (
    `| ${VARIANT_LABELS[variant]} | ${value('epochs')} | ${value('limit')} | ${value('batchSize')} | ${value('learningRate')} | ` +
    `${variant === 'regular' ? '-' : value('interpolation')} | ${seeds} | ${duration(train)} | ` +
    `${evals.length > 0 ? duration(summarize(evals).mean) : 'with reproduce'} |`
  );
}

const PICTURE_TITLES: Readonly<Record<PictureName, string>> = {
  offsets: 'Sampling locations',
  field: 'Offset fields',
  animation: 'Sampling locations per epoch',
  samples: 'Plain and scaled test digits',
  curves: 'Training curves',
};

const PICTURE_TEXT: Readonly<Record<PictureName, string>> = {
  offsets:
    "Where one conv22 unit looks, traced down to the input (Dai et al. 2017, Fig. 6 style): the regular CNN's rigid grid " +
    "beside the deformable CNN's learned sampling locations, on a plain and a scaled digit. Per-channel offsets are combined " +
    'by their mean over channels.',
  field: 'The mean offset per pixel of each offset layer, as arrows (scaled by the stated factor to be visible).',
  animation: 'The deformable sampling locations after each fine-tune epoch (epoch 0: before fine-tuning).',
  samples: 'Test digits, plain and as the fixed scaled test set shows them.',
  curves: 'Loss and accuracy per epoch, training and validation, of both stages.',
};

/** The title, what produced the report, and the extended results table. */
function resultsSection(data: ReportData): string[] {
  const lines: string[] = [];
  lines.push('# Deformable convolution on scaled MNIST: report', '');
  lines.push(
    `Produced by \`${data.reproduceCommand}\` then \`${data.reportCommand}\` on ${data.generatedAt.slice(0, 10)}. ` +
      `Preset: ${data.presetDescription}.`,
    '',
  );
  lines.push('## Results', '');
  lines.push(
    `Test accuracy on the first ${data.test.count} MNIST test images, plain and scaled (each digit zoomed and shifted once, ` +
      `seed ${data.test.scaledSeed}, ${data.test.interpolation} resampling; the same digits for every model). ` +
      'Fine-tuned rows show the mean ± standard deviation over their seeds when there are several.',
    '',
  );
  lines.push('| Model | Trained on scaled MNIST | Plain MNIST | Scaled MNIST | Runs | Reference plain | Reference scaled |');
  lines.push('|-------|-------------------------|-------------|--------------|------|-----------------|------------------|');
  for (const variant of REPORT_VARIANTS) {
    const runs = data.runs[variant];
    const reference = data.reference[variant];
    const refCells =
      reference === undefined ? ['not run by the reference', '-'] : [formatPercent(reference.plain), formatPercent(reference.scaled)];
    lines.push(
      `| ${VARIANT_LABELS[variant]} | ${VARIANT_TRAINS[variant]} | ${cell(variantSummary(runs, 'plain'))} | ` +
        `${cell(variantSummary(runs, 'scaled'))} | ${runs.length} | ${refCells.join(' | ')} |`,
    );
  }
  lines.push('');
  return lines;
}

/** The findings of the control and of the DCN rows, each with why those rows were run. */
function findingsSections(data: ReportData): string[] {
  const lines: string[] = [];
  lines.push('## What the control shows', '');
  lines.push(...controlFindings(data).flatMap((line) => [line, '']));
  lines.push(
    'Why the control: the reference kept BatchNorm trainable during the fine-tune (its gamma, beta and moving statistics ' +
      'adapt to scaled digits), so its table alone cannot say whether the offsets or BatchNorm did the work. The BN-only row ' +
      'fine-tunes the regular CNN, without offset layers, on the same scaled data with the same recipe, BatchNorm alone ' +
      "trainable; the offsets-only row freezes BatchNorm (it then normalises with the regular CNN's statistics).",
    '',
  );
  lines.push("## The paper's deformable convolution (DCN, DCNv2)", '');
  lines.push(...dcnFindings(data).flatMap((line) => [line, '']));
  lines.push(
    "Why these rows: the reference's offset layer is not the paper's deformable convolution. It gives one (dy, dx) per " +
      'channel and pixel and resamples the feature map in front of an ordinary convolution; Dai et al. give one (dy, dx) ' +
      'per kernel tap at each output position, shared by the channels, and DCNv2 (Zhu et al.) adds a learned mask per tap. ' +
      'The DCN rows (`finetune-deform --deform-type dcn|dcnv2`) make conv12, conv21 and conv22 DeformConv2D layers that ' +
      'keep their trained weights, frozen, with offset (and mask) convolutions that start at zero offsets, so the model ' +
      'starts out computing exactly the regular CNN; those convolutions and BatchNorm then learn with the recipe above.',
    '',
  );
  return lines;
}

/** The runs' settings, backends, times taken and checkpoints. */
function configurationSection(data: ReportData): string[] {
  const lines: string[] = [];
  lines.push('## Run configuration', '');
  lines.push(
    'All fine-tunes start from the same regular-CNN checkpoint, freeze conv11, conv12, conv21, conv22 and fc1 (in the DCN ' +
      'rows, the kernels and biases of the DeformConv2D layers), use Adam and draw fresh random zoom/shift transforms every ' +
      'epoch. The regular CNN is trained once; `--runs` repeats only the fine-tunes.',
    '',
  );
  lines.push(
    '| Model | Epochs | Training images | Batch | Learning rate | Augmentation resampling | Seeds | Training time per run | Evaluation time per run |',
  );
  lines.push(
    '|-------|--------|-----------------|-------|---------------|-------------------------|-------|-----------------------|-------------------------|',
  );
  for (const variant of REPORT_VARIANTS) lines.push(configRow(variant, data.runs[variant]));
  lines.push('');
  lines.push(`Backend: ${backendText(data.backend)}.`);
  if (data.reportBackend !== undefined && data.reportBackend.name !== data.backend.name) {
    lines.push(`The report's own runs (controls, DCN rows and extra seeds) ran on ${backendText(data.reportBackend)}.`);
  }
  lines.push('');
  const r = data.seconds.reproduce;
  lines.push(
    `Time taken: \`reproduce\` ${duration(r.total)} (regular CNN ${duration(r.regular)}, fine-tune ${duration(r.deform)}, ` +
      `evaluation ${duration(r.evaluation)}); \`report\` ${duration(data.seconds.report)} (the control runs, DCN runs, extra seeds, ` +
      'their evaluation and the pictures; runs already trained are reused).',
    '',
  );
  lines.push('Checkpoints:', '');
  for (const variant of REPORT_VARIANTS) {
    for (const run of data.runs[variant]) lines.push(`- ${VARIANT_LABELS[variant]}, seed ${run.seed}: \`${run.checkpoint}\``);
  }
  lines.push('');
  return lines;
}

/** The pictures drawn, each with its title and caption, and where the reference's numbers come from. */
function picturesAndReferenceSections(data: ReportData): string[] {
  const lines: string[] = [];
  lines.push('## Pictures', '');
  lines.push(
    `The offset pictures show test digit ${data.pictureIndex} and the deformable CNN of the reference's recipe (first seed). ` +
      '`deformconv visualize --deform <a DCN checkpoint above>` draws the sampling locations of a DCN row the same way, ' +
      'with each tap moved by its own offset.',
    '',
  );
  for (const name of Object.keys(PICTURE_FILES) as PictureName[]) {
    const file = data.pictures[name];
    if (file === undefined) continue;
    lines.push(`### ${PICTURE_TITLES[name]} (${file})`, '', PICTURE_TEXT[name], '', `![${PICTURE_TITLES[name]}](${file})`, '');
  }
  if (data.pictures.animation === undefined) {
    lines.push('(No per-epoch animation: the deformable checkpoint has no offset snapshots of two or more epochs.)', '');
  }
  lines.push('## Reference', '');
  lines.push(
    "The reference's numbers are from the Keras/TensorFlow project described in docs/EXPERIMENT.md (a 2017 GPU run; its scaled test set " +
      "was redrawn at every evaluation). It did not run either control, nor the paper's deformable convolution (DCN).",
    '',
  );
  return lines;
}

/** results/REPORT.md's text: the extended table, the findings, the settings and the pictures. */
export function reportMarkdown(data: ReportData): string {
  return [...resultsSection(data), ...findingsSections(data), ...configurationSection(data), ...picturesAndReferenceSections(data)].join(
    '\n',
  );
}
