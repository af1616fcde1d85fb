/**
 * REPORT.md: the formatting of the extended table and the control's reading (in process),
 * and `reproduce --preset smoke` + `report` + `visualize` end to end through the compiled CLI.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../src/training/config';
import { buildStageModel } from '../src/training/train';
import {
  controlFindings,
  dcnFindings,
  REPORT_VARIANTS,
  ReportData,
  reportMarkdown,
  RunResult,
  summarize,
  VARIANT_LABELS,
} from '../src/reporting/report_markdown';

const CLI = path.join(__dirname, '..', 'dist', 'src', 'cli', 'main.js');
const env = { ...process.env, DEFORMCONV_BACKEND: '' };
let tmp: string;

function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, '--backend', 'wasm', ...args], { encoding: 'utf8', env });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function run(seed: number, plain: number, scaled: number): RunResult {
  return {
    seed,
    checkpoint: `checkpoints/x-${seed}`,
    accuracy: { plain, scaled },
    trainingSeconds: 100,
    evaluationSeconds: 5,
    config: { epochs: 1, limit: 20000, batchSize: 32, learningRate: 5e-4, interpolation: 'nearest' },
  };
}

function data(runs: ReportData['runs']): ReportData {
  return {
    reproduceCommand: 'deformconv reproduce --preset quick',
    reportCommand: 'deformconv report --runs 2',
    presetDescription: 'quick (test)',
    backend: { name: 'wasm', simd: true, threads: 1 },
    test: { count: 10000, scaledSeed: 20170306, interpolation: 'nearest' },
    runs,
    reference: { regular: { plain: 0.9874, scaled: 0.5701 }, 'offsets-bn': { plain: 0.9727, scaled: 0.9255 } },
    pictures: { offsets: 'offsets.png', curves: 'curves.png' },
    pictureIndex: 0,
    seconds: { reproduce: { regular: 600, deform: 900, evaluation: 60, total: 1600 }, report: 1200 },
    generatedAt: '2025-01-01T00:00:00.000Z',
  };
}

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'deformconv-report-'));
});

afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('reportMarkdown', () => {
  const runs = {
    regular: [run(1, 0.985, 0.55)],
    'bn-only': [run(1, 0.97, 0.7), run(2, 0.96, 0.72)],
    'offsets-only': [run(1, 0.98, 0.8), run(2, 0.98, 0.82)],
    'offsets-bn': [run(1, 0.975, 0.9), run(2, 0.97, 0.92)],
    dcn: [run(1, 0.98, 0.95), run(2, 0.98, 0.95)],
    dcnv2: [run(1, 0.981, 0.905), run(2, 0.979, 0.915)],
  };

  it('has a row for every model, with mean ± std over seeds and the reference numbers', () => {
    const md = reportMarkdown(data(runs));
    for (const variant of REPORT_VARIANTS) expect(md).toContain(`| ${VARIANT_LABELS[variant]} |`);
    expect(md).toMatch(/\| Regular CNN \(no fine-tune\) \| [^|]+ \| 98\.50% \| 55\.00% \| 1 \| 98\.74% \| 57\.01% \|/);
    expect(md).toMatch(/\| BN-only control[^|]+\| [^|]+ \| 96\.50% ± 0\.71 \| 71\.00% ± 1\.41 \| 2 \| not run by the reference \| - \|/);
    expect(md).toMatch(
      /offsets \+ BatchNorm \(the reference's recipe\) \| [^|]+ \| 97\.25% ± 0\.35 \| 91\.00% ± 1\.41 \| 2 \| 97\.27% \| 92\.55% \|/,
    );
    expect(md).toContain(
      '| DCN (DeformConv2D, offsets per kernel tap) + BatchNorm | the offset convolutions of conv12, conv21, conv22 (DeformConv2D) and BatchNorm | 98.00% ± 0.00 | 95.00% ± 0.00 | 2 | not run by the reference | - |',
    );
    expect(md).toMatch(
      /\| DCNv2 \(modulated: offsets \+ mask per tap\) \+ BatchNorm \| the offset and mask convolutions [^|]+ \| 98\.00% ± 0\.14 \| 91\.00% ± 0\.71 \| 2 \|/,
    );
    // Rows in order: regular, the controls, the reference's recipe, then DCN and DCNv2.
    const rowAt = (variant: (typeof REPORT_VARIANTS)[number]): number => md.indexOf(`| ${VARIANT_LABELS[variant]} |`);
    expect(REPORT_VARIANTS.map(rowAt)).toEqual(REPORT_VARIANTS.map(rowAt).sort((a, b) => a - b));
    expect(md).toContain("## The paper's deformable convolution (DCN, DCNv2)");
    expect(md).toContain('![Sampling locations](offsets.png)');
    expect(md).toContain('![Training curves](curves.png)');
    expect(md).toContain('Backend: wasm (simd true, threads 1)');
    expect(md).toContain('## What the control shows');
  });

  it('says what the control shows', () => {
    const text = controlFindings(data(runs)).join(' ');
    expect(text).toContain('reaches 71.00% (+16.00 points)');
    // Offsets add 20 points on top of BN; BN adds 10 on top of offsets: both matter.
    expect(text).toContain('on top of BatchNorm, the offsets add +20.00 points');
    expect(text).toContain('Both parts matter');
    const bnExplains = controlFindings(
      data({ ...runs, 'bn-only': [run(1, 0.97, 0.905)], 'offsets-only': [run(1, 0.9, 0.6)], 'offsets-bn': [run(1, 0.97, 0.91)] }),
    );
    expect(bnExplains.join(' ')).toContain('BatchNorm re-adaptation explains the gain');
    const bnHurts = controlFindings(
      data({ ...runs, 'offsets-only': [run(1, 0.97, 0.96)], 'offsets-bn': [run(1, 0.94, 0.93)], 'bn-only': [run(1, 0.97, 0.8)] }),
    );
    expect(bnHurts.join(' ')).toContain("the offsets alone beat the reference's recipe by +3.00 points");
    expect(bnHurts.join(' ')).toContain('offsets + BatchNorm 94.00% (-4.50)');
    const noGain = controlFindings(data({ ...runs, 'offsets-bn': [run(1, 0.98, 0.552)] }));
    expect(noGain.join(' ')).toContain('did not clearly improve');
  });

  it("compares DCN and DCNv2 with the reference's offset layers and the BN-only control", () => {
    const text = dcnFindings(data(runs)).join(' ');
    expect(text).toContain(
      'score 95.00% with DCN (+40.00 points over the regular CNN) and 91.00% with DCNv2 (+36.00 points over the regular CNN), against 91.00% (+36.00)',
    );
    // Noise: twice the largest of the standard error near 91% on 10000 images (0.29 points) and the seed spreads (1.41 points).
    expect(text).toContain(
      "DCN beats the reference's offset layers by 4.00 points; on top of BatchNorm alone (the BN-only control) its offsets add +24.00 points.",
    );
    expect(text).toContain("DCNv2 comes within the noise of the reference's offset layers");
    expect(text).toContain('DCNv2 against DCN (what the mask adds): -4.00 points (beyond the noise).');
    expect(text).toContain("On plain test digits: DCN 98.00% (-0.50), DCNv2 98.00% (-0.50), against the regular CNN's 98.50%.");
    expect(text).toContain('here 2.83 points');
    expect(text).not.toContain('did not clearly improve');
    const dcnOnly = dcnFindings(data({ ...runs, dcnv2: [], dcn: [run(1, 0.98, 0.56)] })).join(' ');
    expect(dcnOnly).toContain('DCN did not clearly improve on the regular CNN');
    expect(dcnOnly).not.toContain('DCNv2');
    expect(dcnFindings(data({ ...runs, dcn: [], dcnv2: [] }))).toEqual([
      'Not every model was measured, so the DCN rows cannot be compared.',
    ]);
  });

  it('summarizes with the sample standard deviation', () => {
    expect(summarize([1])).toEqual({ mean: 1, std: undefined, n: 1 });
    const s = summarize([1, 3]);
    expect(s.mean).toBe(2);
    expect(s.std).toBeCloseTo(Math.SQRT2, 12);
  });
});

describe('finetune-deform --control bn-only', () => {
  it('builds the regular CNN with only BatchNorm trainable, and refuses settings that make no sense with it', async () => {
    await tf.setBackend('cpu');
    const model = buildStageModel(resolveConfig('deform', { control: 'bn-only', from: 'x' }));
    expect(model.layers.some((layer) => layer.name.endsWith('_offset'))).toBe(false);
    const trainable = model.trainableWeights.map((w) => w.originalName);
    expect(trainable.length).toBeGreaterThan(0);
    expect(trainable.every((name) => /^conv\d\d_bn\//.test(name))).toBe(true);
    model.dispose();
    expect(() => resolveConfig('deform', { control: 'bn-only', freezeBn: true, from: 'x' })).toThrow(
      /--control bn-only trains only BatchNorm; with --freeze-bn nothing would learn/,
    );
    expect(() => resolveConfig('regular', { control: 'bn-only' })).toThrow(/--control is a setting of finetune-deform/);
  });
});

describe('reproduce --preset smoke, then report and visualize (CLI)', () => {
  it('writes REPORT.md with every row and its pictures, each a valid image', async () => {
    const dataDir = path.join(tmp, 'data');
    // Validation and the test set on 20 images: the report's figures only need to exist.
    const reproduce = cli([
      'reproduce',
      '--preset',
      'smoke',
      '--val-limit',
      '20',
      '--test-limit',
      '20',
      '--out',
      tmp,
      '--data-dir',
      dataDir,
    ]);
    expect(reproduce.status, reproduce.stderr).toBe(0);
    expect(fs.readdirSync(path.join(tmp, 'checkpoints', 'deform', 'offset-history')).sort()).toEqual(['epoch-0000.bin', 'epoch-0001.bin']);

    const report = cli(['report', '--out', tmp, '--data-dir', dataDir]);
    expect(report.status, report.stderr).toBe(0);
    const reportFile = path.join(tmp, 'results', 'REPORT.md');
    expect(report.stdout.trim()).toBe(reportFile);
    const md = fs.readFileSync(reportFile, 'utf8');
    for (const variant of REPORT_VARIANTS)
      expect(md).toMatch(
        new RegExp(`\\| ${VARIANT_LABELS[variant].replace(/[()+]/g, '\\$&')} \\|.*\\d+\\.\\d\\d% \\| \\d+\\.\\d\\d% \\| 1 \\|`),
      );
    expect(md).toContain('## What the control shows');
    const json = JSON.parse(fs.readFileSync(path.join(tmp, 'results', 'report.json'), 'utf8')) as ReportData;
    expect(json.runs['bn-only'][0].config).toMatchObject({ control: 'bn-only', freezeBn: false, limit: 64 });
    expect(json.runs['offsets-only'][0].config).toMatchObject({ control: null, freezeBn: true, limit: 64 });
    expect(json.runs.dcn[0].config).toMatchObject({ deformType: 'dcn', control: null, freezeBn: false, limit: 64 });
    expect(json.runs.dcnv2[0].config).toMatchObject({ deformType: 'dcnv2', control: null, freezeBn: false, limit: 64 });
    expect(json.runs.dcnv2[0].checkpoint).toBe(path.join(tmp, 'checkpoints', 'report', 'dcnv2-seed-1'));
    expect(md).toContain("## The paper's deformable convolution (DCN, DCNv2)");

    const expected: Record<string, [number, number, number]> = {
      'offsets.png': [616, 0, 1],
      'offset-field.png': [920, 0, 1],
      'offsets-epochs.gif': [616, 0, 2],
      'scaled-samples.png': [1224, 0, 1],
      'curves.png': [936, 0, 1],
    };
    for (const [file, [width, , pages]] of Object.entries(expected)) {
      expect(md).toContain(`](${file})`);
      const meta = await sharp(path.join(tmp, 'results', file), { animated: true }).metadata();
      expect(meta.width, file).toBe(width);
      expect(meta.pages ?? 1, file).toBe(pages);
      expect(meta.pageHeight ?? meta.height, file).toBeGreaterThan(200);
    }

    // A second report reuses the trained runs and their evaluations.
    const again = cli(['report', '--out', tmp, '--data-dir', dataDir]);
    expect(again.status, again.stderr).toBe(0);
    expect(again.stderr).not.toMatch(/epoch 1\/1: loss/);

    const pictures = path.join(tmp, 'pictures');
    const visualize = cli([
      'visualize',
      '--deform',
      path.join(tmp, 'checkpoints', 'report', 'offsets-only-seed-1'),
      '--regular',
      path.join(tmp, 'checkpoints', 'regular'),
      '--index',
      '7',
      '--unit',
      '2,4',
      '--out',
      pictures,
      '--data-dir',
      dataDir,
    ]);
    expect(visualize.status, visualize.stderr).toBe(0);
    expect(fs.readdirSync(pictures).sort()).toEqual([
      'curves.png',
      'offset-field.png',
      'offsets-epochs.gif',
      'offsets.png',
      'scaled-samples.png',
    ]);

    // A DCN checkpoint: the sampling locations of its per-tap offsets and the per-epoch GIF, no arrow field.
    const dcnPictures = path.join(tmp, 'dcn-pictures');
    const dcn = cli([
      'visualize',
      '--deform',
      path.join(tmp, 'checkpoints', 'report', 'dcnv2-seed-1'),
      '--out',
      dcnPictures,
      '--data-dir',
      dataDir,
    ]);
    expect(dcn.status, dcn.stderr).toBe(0);
    expect(dcn.stderr).toMatch(/--deform-type dcnv2 checkpoint: offset-field\.png not drawn/);
    expect(fs.readdirSync(dcnPictures).sort()).toEqual(['curves.png', 'offsets-epochs.gif', 'offsets.png', 'scaled-samples.png']);
    for (const [file, pages] of [
      ['offsets.png', 1],
      ['offsets-epochs.gif', 2],
    ] as const) {
      const meta = await sharp(path.join(dcnPictures, file), { animated: true }).metadata();
      expect([meta.width, meta.pages ?? 1], file).toEqual([616, pages]);
    }

    const bad = cli([
      'visualize',
      '--deform',
      path.join(tmp, 'checkpoints', 'report', 'bn-only-seed-1'),
      '--out',
      pictures,
      '--data-dir',
      dataDir,
    ]);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/no offset layers/);
    expect(cli(['visualize', '--unit', '9,9']).status).toBe(1);
    const noRun = cli(['report', '--out', path.join(tmp, 'nothing'), '--data-dir', dataDir]);
    expect(noRun.status).toBe(1);
    expect(noRun.stderr).toMatch(/run 'deformconv reproduce'/);
  });
});
