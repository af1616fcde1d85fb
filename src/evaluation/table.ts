/**
 * The reference's results table, with this project's measurements beside it.
 */

import type { DeformType } from '../models/cnn';
import type { TestVariant } from './evaluate';

/** The two models of the reference's table: the regular CNN and the deformable CNN. */
export type ModelName = 'regular' | 'deform';

/** Accuracy (a fraction) per test variant. */
export type Accuracies = Record<TestVariant, number>;

/**
 * What `eval --json` prints: each model that was evaluated, and `deformType` when the
 * deformable model is not the reference's kind ('seed').
 */
export type AccuracyReport = Partial<Record<ModelName, Accuracies>> & { deformType?: DeformType };

/** The reference's published table (docs/EXPERIMENT.md, "The claim"), as fractions. */
export const REFERENCE_ACCURACY: Record<ModelName, Accuracies> = {
  regular: { plain: 0.9874, scaled: 0.5701 },
  deform: { plain: 0.9727, scaled: 0.9255 },
};

/** An accuracy (a fraction) as the tables and logs print it: "98.74%". */
export function formatPercent(fraction: number): string {
  return `${(fraction * 100).toFixed(2)}%`;
}

const ROWS: ReadonlyArray<[TestVariant, string]> = [
  ['plain', 'Regular MNIST'],
  ['scaled', 'Scaled MNIST'],
];

/** The Markdown table: measured columns for each model, then the reference's. Missing models show '-'. */
export function accuracyTable(report: AccuracyReport): string {
  const percent = (value: number | undefined): string => (value === undefined ? '-' : formatPercent(value));
  const lines = [
    `| Test accuracy | Regular CNN | Deformable CNN${report.deformType ? ` (${report.deformType})` : ''} | Reference regular | Reference deformable |`,
    '|---------------|-------------|----------------|-------------------|----------------------|',
  ];
  for (const [variant, label] of ROWS) {
    const cells = [
      percent(report.regular?.[variant]),
      percent(report.deform?.[variant]),
      percent(REFERENCE_ACCURACY.regular[variant]),
      percent(REFERENCE_ACCURACY.deform[variant]),
    ];
    lines.push(`| ${label} | ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}
