/**
 * Training curves: loss (top row) and accuracy (bottom row) per epoch for each training
 * stage (one column each), training as solid lines and validation as dashed lines, one
 * colour per run. The records are the `epochs` arrays of the metrics JSON that training
 * writes beside its checkpoints (and that results/metrics.json collects per stage).
 */

import { CAPTION_SIZE, COLORS, el, Figure, FIGURE_MARGIN, num, paragraph, svgDocument, text, textBlockHeight, wrapText } from './svg';

/** One epoch of a metrics file (training's EpochRecord, the fields a curve needs). */
export interface CurvePoint {
  epoch: number;
  loss: number;
  accuracy: number;
  val: Partial<Record<string, { loss: number; accuracy: number }>>;
}

/** One run's curve: a legend label and its epochs. */
export interface CurveSeries {
  label: string;
  epochs: readonly CurvePoint[];
}

/** One training stage (one column of panels) and the runs drawn in it. */
export interface CurveStage {
  title: string;
  series: CurveSeries[];
}

/** curvesFigure's content. */
export interface CurvesOptions {
  stages: CurveStage[];
  caption: string;
}

const PANEL_WIDTH = 380;
const PANEL_HEIGHT = 210;
const AXIS_LEFT = 58;
const AXIS_BOTTOM = 36;
const TITLE = 24;
const STAGE_TITLE = 26;
const GAP = 28;
const LEGEND_ROW = 20;
const VALIDATION_DASH = '6 4';
/** Horizontal pixels between runs drawn at the same epoch. */
const DODGE = 7;
const METRICS = [
  { key: 'loss', title: 'loss (cross-entropy)', percent: false },
  { key: 'accuracy', title: 'accuracy', percent: true },
] as const;

/**
 * Training curves as SVG: loss (top row) and accuracy (bottom row) per epoch, one column
 * per stage, training solid and validation dashed, one colour per run, with a legend.
 */
export function curvesFigure(options: CurvesOptions): Figure {
  const { stages } = options;
  const labels = [...new Set(stages.flatMap((s) => s.series.map((r) => r.label)))];
  const color = (label: string): string => COLORS.series[labels.indexOf(label) % COLORS.series.length];
  const cellWidth = AXIS_LEFT + PANEL_WIDTH;
  const cellHeight = TITLE + PANEL_HEIGHT + AXIS_BOTTOM;
  const width = 2 * FIGURE_MARGIN + stages.length * cellWidth + (stages.length - 1) * GAP;
  const body: string[] = [];
  let y = FIGURE_MARGIN;
  stages.forEach((stage, column) => {
    body.push(text(FIGURE_MARGIN + column * (cellWidth + GAP) + AXIS_LEFT, y + 16, stage.title, { size: 15, weight: 'bold' }));
  });
  y += STAGE_TITLE;
  for (const metric of METRICS) {
    stages.forEach((stage, column) => {
      const x = FIGURE_MARGIN + column * (cellWidth + GAP);
      body.push(text(x + AXIS_LEFT, y + 16, metric.title, { size: 13 }));
      body.push(panel(stage.series, metric.key, metric.percent, x + AXIS_LEFT, y + TITLE, color));
    });
    y += cellHeight + GAP / 2;
  }
  // Legend: one swatch per run, then the line styles.
  const legendItems = [
    ...labels.map((label) => ({ label, color: color(label), dash: undefined as string | undefined, marker: false })),
    { label: 'training', color: COLORS.axis, dash: undefined, marker: true },
    { label: 'validation', color: COLORS.axis, dash: VALIDATION_DASH, marker: true },
  ];
  let lx = FIGURE_MARGIN;
  for (const item of legendItems) {
    const itemWidth = 56 + item.label.length * 7;
    if (lx + itemWidth > width - FIGURE_MARGIN) {
      lx = FIGURE_MARGIN;
      y += LEGEND_ROW;
    }
    body.push(
      el('line', { x1: lx, y1: y + 8, x2: lx + 26, y2: y + 8, stroke: item.color, 'stroke-width': 2.5, 'stroke-dasharray': item.dash }),
    );
    if (item.marker) body.push(marker(lx + 13, y + 8, item.color, item.dash !== undefined));
    body.push(text(lx + 32, y + 12, item.label, { size: 12 }));
    lx += itemWidth;
  }
  y += LEGEND_ROW + 6;
  const captionLines = wrapText(options.caption, width - 2 * FIGURE_MARGIN, CAPTION_SIZE);
  body.push(paragraph(FIGURE_MARGIN, y, captionLines, { size: CAPTION_SIZE, fill: COLORS.muted }));
  y += textBlockHeight(captionLines.length, CAPTION_SIZE) + FIGURE_MARGIN;
  return svgDocument(width, y, body);
}

function panel(
  series: CurveSeries[],
  key: 'loss' | 'accuracy',
  percent: boolean,
  x0: number,
  y0: number,
  color: (label: string) => string,
): string {
  const lines = series.flatMap((s, index) => [
    { label: s.label, index, dash: undefined as string | undefined, points: s.epochs.map((e) => [e.epoch, e[key]] as const) },
    ...validationVariants(s).map((variant) => ({
      label: s.label,
      index,
      dash: VALIDATION_DASH as string | undefined,
      points: s.epochs
        .filter((e) => e.val[variant] !== undefined)
        .map((e) => [e.epoch, (e.val[variant] as Record<typeof key, number>)[key]] as const),
    })),
  ]);
  const values = lines.flatMap((l) => l.points.map(([, v]) => v)).filter(Number.isFinite);
  const lastEpoch = Math.max(1, ...series.flatMap((s) => s.epochs.map((e) => e.epoch)));
  const [low, high] = percent ? accuracyRange(values) : lossRange(values);
  const epochX = (epoch: number): number => x0 + ((epoch - 0.5) / lastEpoch) * PANEL_WIDTH;
  const sy = (v: number): number => y0 + PANEL_HEIGHT - ((v - low) / (high - low)) * PANEL_HEIGHT;
  const parts: string[] = [];
  for (const tick of niceTicks(low, high, 5)) {
    parts.push(el('line', { x1: x0, y1: sy(tick), x2: x0 + PANEL_WIDTH, y2: sy(tick), stroke: COLORS.grid, 'stroke-width': 1 }));
    const label = percent ? `${num(tick * 100)}%` : num(tick);
    parts.push(text(x0 - 6, sy(tick) + 4, label, { size: 11, anchor: 'end', fill: COLORS.axis }));
  }
  const step = Math.max(1, Math.ceil(lastEpoch / 10));
  for (let epoch = 1; epoch <= lastEpoch; epoch += step) {
    parts.push(el('line', { x1: epochX(epoch), y1: y0 + PANEL_HEIGHT, x2: epochX(epoch), y2: y0 + PANEL_HEIGHT + 4, stroke: COLORS.axis }));
    parts.push(text(epochX(epoch), y0 + PANEL_HEIGHT + 17, String(epoch), { size: 11, anchor: 'middle', fill: COLORS.axis }));
  }
  parts.push(text(x0 + PANEL_WIDTH / 2, y0 + PANEL_HEIGHT + 32, 'epoch', { size: 11, anchor: 'middle', fill: COLORS.axis }));
  parts.push(el('rect', { x: x0, y: y0, width: PANEL_WIDTH, height: PANEL_HEIGHT, fill: 'none', stroke: COLORS.axis, 'stroke-width': 1 }));
  for (const line of lines) {
    const points = line.points.filter(([, v]) => Number.isFinite(v));
    const stroke = color(line.label);
    // Runs side by side at each epoch (a few pixels apart), so equal values do not hide each other.
    const dodge = (line.index - (series.length - 1) / 2) * DODGE;
    const sx = (epoch: number): number => epochX(epoch) + dodge;
    if (points.length > 1) {
      const d = points.map(([e, v], i) => `${i === 0 ? 'M' : 'L'}${num(sx(e))},${num(sy(v))}`).join(' ');
      parts.push(el('path', { d, fill: 'none', stroke, 'stroke-width': 2, 'stroke-dasharray': line.dash }));
    }
    for (const [e, v] of points) parts.push(marker(sx(e), sy(v), stroke, line.dash !== undefined));
  }
  return parts.join('');
}

/** A training point (filled dot) or a validation point (hollow square). */
function marker(x: number, y: number, color: string, validation: boolean): string {
  return validation
    ? el('rect', { x: x - 3.5, y: y - 3.5, width: 7, height: 7, fill: '#ffffff', stroke: color, 'stroke-width': 1.8 })
    : el('circle', { cx: x, cy: y, r: 3.5, fill: color });
}

/** The validation variants a series recorded ('plain', 'scaled'), in first-seen order. */
export function validationVariants(series: CurveSeries): string[] {
  return [...new Set(series.epochs.flatMap((e) => Object.keys(e.val)))];
}

function lossRange(values: number[]): [number, number] {
  const high = values.length > 0 ? Math.max(...values) : 1;
  return [0, niceCeil(high > 0 ? high * 1.08 : 1)];
}

/** From a tenth below the lowest accuracy (at least 0) to 100%. */
function accuracyRange(values: number[]): [number, number] {
  const lowest = values.length > 0 ? Math.min(...values) : 0;
  return [Math.max(0, Math.floor(lowest * 10 - 0.3) / 10), 1];
}

function niceCeil(value: number): number {
  const power = 10 ** Math.floor(Math.log10(value));
  return [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10].map((m) => m * power).find((v) => v >= value) ?? value;
}

/** About `count` round tick values from low to high (inclusive). */
export function niceTicks(low: number, high: number, count: number): number[] {
  const raw = (high - low) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? raw;
  const ticks: number[] = [];
  for (let v = Math.ceil(low / step - 1e-9) * step; v <= high + 1e-9; v += step) ticks.push(Math.round(v / step) * step);
  return ticks;
}
