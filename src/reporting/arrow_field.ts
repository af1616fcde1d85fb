/**
 * The offset field of each deformable layer as arrows over the digit: at every pixel of
 * the layer's input grid, an arrow from the pixel to where the offset moves its tap
 * (one offset per pixel: the mean over channels). Arrows are lengthened (or shortened) by
 * a stated factor so that they can be seen; the panel says the factor and the largest
 * offset.
 */

import { OffsetField } from '../tracing/tracer';
import {
  arrow,
  arrowMarker,
  CAPTION_SIZE,
  COLORS,
  Figure,
  FIGURE_MARGIN,
  grayImage,
  PANEL_LAYOUT,
  paragraph,
  svgDocument,
  text,
  textBlockHeight,
  wrapText,
} from './svg';

/** One panel: one layer's offset field as arrows over the row's digit. */
export interface FieldPanel {
  heading: string;
  field: OffsetField;
  /** A field position in image pixels (pixel centres at integers). */
  toImage: (y: number, x: number) => [number, number];
  /** Image pixels per field pixel (the product of the strides below the layer). */
  scale: number;
}

/** One row: a digit (height * width values in [0, 1]) and a panel per layer. */
export interface FieldRow {
  title: string;
  image: ArrayLike<number>;
  height: number;
  width: number;
  panels: FieldPanel[];
}

/** arrowFieldFigure's content. */
export interface ArrowFieldOptions {
  rows: FieldRow[];
  caption: string;
}

/** Pixels per image pixel. */
export const FIELD_CELL = 10;
const MARKER = 'offset-arrow-head';
/** Lengthening factors to choose from (1-2-5 steps). */
const FACTORS = [0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000];
/** Arrows shorter than this many picture pixels are left out (a head alone would be a blob). */
const MIN_ARROW = 1.5;

/** Offset lengths of a field in image pixels. */
export function offsetLengths(field: OffsetField, scale: number): Float32Array {
  const lengths = new Float32Array(field.height * field.width);
  for (let i = 0; i < lengths.length; i++) lengths[i] = Math.hypot(field.data[2 * i], field.data[2 * i + 1]) * scale;
  return lengths;
}

/**
 * The factor that draws the field's long arrows (98th percentile) at about 80% of the
 * spacing between arrows: the largest 1-2-5 step not above that.
 */
export function arrowFactor(field: OffsetField, scale: number): number {
  const sorted = Array.from(offsetLengths(field, scale)).sort((a, b) => a - b);
  const long = sorted[Math.min(sorted.length - 1, Math.floor(0.98 * sorted.length))] ?? 0;
  if (!(long > 0)) return 1;
  const target = (0.8 * scale) / long;
  return [...FACTORS].reverse().find((f) => f <= target) ?? FACTORS[0];
}

/**
 * The offset-field picture as SVG: for each row's digit and each layer, an arrow from
 * every grid position to where its offset moves it, lengthened by a factor the panel
 * states (with the largest offset), then the caption.
 */
export function arrowFieldFigure(options: ArrowFieldOptions): Figure {
  const { rows } = options;
  const columns = Math.max(...rows.map((r) => r.panels.length));
  const panelWidth = Math.max(...rows.map((r) => r.width)) * FIELD_CELL;
  const panelHeight = Math.max(...rows.map((r) => r.height)) * FIELD_CELL;
  const width = 2 * FIGURE_MARGIN + columns * panelWidth + (columns - 1) * PANEL_LAYOUT.gap;
  const captionLines = wrapText(options.caption, width - 2 * FIGURE_MARGIN, CAPTION_SIZE);
  const body: string[] = [];
  let y = FIGURE_MARGIN;
  for (const row of rows) {
    body.push(text(FIGURE_MARGIN, y + 15, row.title, { size: 15, weight: 'bold' }));
    y += PANEL_LAYOUT.rowTitle;
    row.panels.forEach((panel, i) => {
      const x = FIGURE_MARGIN + i * (panelWidth + PANEL_LAYOUT.gap);
      const factor = arrowFactor(panel.field, panel.scale);
      const largest = Math.max(0, ...offsetLengths(panel.field, panel.scale));
      body.push(text(x, y + 13, panel.heading, { size: 13 }));
      body.push(
        text(x, y + 28, `arrows x${factor} their length; largest offset ${largest.toPrecision(2)} image px`, {
          size: 11,
          fill: COLORS.muted,
        }),
      );
      body.push(fieldPanel(row, panel, factor, x, y + PANEL_LAYOUT.heading));
    });
    y += PANEL_LAYOUT.heading + panelHeight + PANEL_LAYOUT.rowGap;
  }
  body.push(paragraph(FIGURE_MARGIN, y, captionLines, { size: CAPTION_SIZE, fill: COLORS.muted }));
  y += textBlockHeight(captionLines.length, CAPTION_SIZE) + FIGURE_MARGIN;
  return svgDocument(width, y, body, [arrowMarker(MARKER, COLORS.arrow)]);
}

function fieldPanel(row: FieldRow, panel: FieldPanel, factor: number, x0: number, y0: number): string {
  const cell = FIELD_CELL;
  const parts = [grayImage(row.image, row.height, row.width, x0, y0, cell, 0.45)];
  const { field } = panel;
  for (let fy = 0; fy < field.height; fy++) {
    for (let fx = 0; fx < field.width; fx++) {
      const i = (fy * field.width + fx) * 2;
      const [iy, ix] = panel.toImage(fy, fx);
      const x1 = x0 + (ix + 0.5) * cell;
      const y1 = y0 + (iy + 0.5) * cell;
      const x2 = x1 + field.data[i + 1] * panel.scale * factor * cell;
      const y2 = y1 + field.data[i] * panel.scale * factor * cell;
      if (Math.hypot(x2 - x1, y2 - y1) >= MIN_ARROW) parts.push(arrow(x1, y1, x2, y2, MARKER, COLORS.arrow, 1));
    }
  }
  return parts.join('');
}
