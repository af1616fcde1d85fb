/**
 * The sampling-location picture (Dai et al. 2017, Fig. 6 style): a digit with the
 * traced unit (green), its 9 sampling points in the top layer (blue rings) and the 9^3
 * points they reach at the input (red dots), one panel per model. A dot's opacity is
 * proportional to its weight (DCNv2's masks; all equal otherwise).
 */

import { SamplePoint, SamplingTrace } from '../tracing/tracer';
import {
  CAPTION_SIZE,
  COLORS,
  el,
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

/** One panel: a digit with one model's traced sampling points over it. */
export interface TracePanel {
  /** The panel's title, e.g. the model's name. */
  heading: string;
  /** A smaller second line under the heading. */
  subheading?: string;
  /** The digit under the points: height * width values in [0, 1]. */
  image: ArrayLike<number>;
  height: number;
  width: number;
  /** The points to draw, in the image's pixel coordinates. */
  trace: SamplingTrace;
}

/** One row of panels (one digit, several models). */
export interface TraceRow {
  /** Shown above the row, e.g. "scaled test digit 0 (label 7)". */
  title: string;
  panels: TracePanel[];
}

/** samplingFigure's content. */
export interface SamplingFigureOptions {
  /** A title line at the top (the GIF's frames say their epoch there). */
  title?: string;
  rows: TraceRow[];
  /** Wrapped text under the picture (samplingLegend gives the standard legend). */
  caption: string;
}

/** Pixels per image pixel. */
export const SAMPLING_CELL = 10;
const TITLE = 28;
/** Opacity of the heaviest red dot: points stay visible where few coincide, darker where many do. */
const POINT_OPACITY = 0.45;

/** The standard legend of the picture, for captions. */
export function samplingLegend(topName: string, levels: number): string {
  return (
    `Green square: the traced ${topName} unit; blue rings: its 9 sampling points in ${topName}'s input; ` +
    `red dots: the ${9 ** levels} sampling points they lead to at the input (semi-transparent: darker where points coincide).`
  );
}

/**
 * The sampling-location picture as SVG: rows of panels, each a digit with the traced unit
 * (green square), its 9 points in the top layer (blue rings) and the points they lead to
 * at the input (red dots, opacity by weight), then the caption.
 */
export function samplingFigure(options: SamplingFigureOptions): Figure {
  const { rows } = options;
  const columns = Math.max(...rows.map((r) => r.panels.length));
  const panels = rows.flatMap((r) => r.panels);
  const panelWidth = Math.max(...panels.map((p) => p.width)) * SAMPLING_CELL;
  const panelHeight = Math.max(...panels.map((p) => p.height)) * SAMPLING_CELL;
  const width = 2 * FIGURE_MARGIN + columns * panelWidth + (columns - 1) * PANEL_LAYOUT.gap;
  const captionLines = wrapText(options.caption, width - 2 * FIGURE_MARGIN, CAPTION_SIZE);
  const body: string[] = [];
  let y = FIGURE_MARGIN;
  if (options.title !== undefined) {
    body.push(text(FIGURE_MARGIN, y + 16, options.title, { size: 17, weight: 'bold' }));
    y += TITLE;
  }
  for (const row of rows) {
    body.push(text(FIGURE_MARGIN, y + 15, row.title, { size: 15, weight: 'bold' }));
    y += PANEL_LAYOUT.rowTitle;
    row.panels.forEach((panel, i) => {
      const x = FIGURE_MARGIN + i * (panelWidth + PANEL_LAYOUT.gap);
      body.push(text(x, y + 13, panel.heading, { size: 13 }));
      if (panel.subheading !== undefined) body.push(text(x, y + 28, panel.subheading, { size: 11, fill: COLORS.muted }));
      body.push(tracePanel(panel, x, y + PANEL_LAYOUT.heading));
    });
    y += PANEL_LAYOUT.heading + panelHeight + PANEL_LAYOUT.rowGap;
  }
  body.push(paragraph(FIGURE_MARGIN, y, captionLines, { size: CAPTION_SIZE, fill: COLORS.muted }));
  y += textBlockHeight(captionLines.length, CAPTION_SIZE) + FIGURE_MARGIN;
  return svgDocument(width, y, body);
}

/**
 * The points a trace shows at the input: the bottom level's, except those in zero padding,
 * each with its dot's opacity (proportional to its weight, the heaviest at full strength).
 */
export function inputPoints(trace: SamplingTrace): { point: SamplePoint; opacity: number }[] {
  const bottom = trace.levels[trace.levels.length - 1].filter((p) => !p.padding);
  const heaviest = Math.max(0, ...bottom.map((p) => p.weight));
  return bottom.map((point) => ({ point, opacity: heaviest > 0 ? (POINT_OPACITY * point.weight) / heaviest : POINT_OPACITY }));
}

function tracePanel(panel: TracePanel, x0: number, y0: number): string {
  const { trace } = panel;
  const cell = SAMPLING_CELL;
  const sx = (imageX: number): number => x0 + (imageX + 0.5) * cell;
  const sy = (imageY: number): number => y0 + (imageY + 0.5) * cell;
  // Light ink (strength 0.45), so the points over it stay visible.
  const parts = [grayImage(panel.image, panel.height, panel.width, x0, y0, cell, 0.45)];
  for (const { point: p, opacity } of inputPoints(trace)) {
    parts.push(el('circle', { cx: sx(p.imageX), cy: sy(p.imageY), r: 1.9, fill: COLORS.point, 'fill-opacity': opacity }));
  }
  if (trace.levels.length > 1) {
    for (const p of trace.levels[0]) {
      if (!p.padding) {
        parts.push(el('circle', { cx: sx(p.imageX), cy: sy(p.imageY), r: 4, fill: 'none', stroke: COLORS.top, 'stroke-width': 1.6 }));
      }
    }
  }
  const u = trace.unit;
  parts.push(
    el('rect', {
      x: sx(u.imageX) - 5,
      y: sy(u.imageY) - 5,
      width: 10,
      height: 10,
      fill: COLORS.unit,
      stroke: '#0b4d1c',
      'stroke-width': 1.2,
    }),
  );
  return parts.join('');
}
