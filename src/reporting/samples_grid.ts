/**
 * A grid of labelled digits: rows of test digits (e.g. plain, then the same digits
 * scaled), each with a line of text under it.
 */

import { CAPTION_SIZE, COLORS, Figure, FIGURE_MARGIN, grayImage, paragraph, svgDocument, text, textBlockHeight, wrapText } from './svg';

/** A digit and the line of text under it. */
export interface LabelledDigit {
  /** height * width values in [0, 1]. */
  image: ArrayLike<number>;
  label: string;
}

/** A row of digits with a title. */
export interface DigitRow {
  /** Shown left of the row. */
  title: string;
  digits: LabelledDigit[];
}

/** samplesGridFigure's content; every digit is height x width. */
export interface SamplesGridOptions {
  height: number;
  width: number;
  rows: DigitRow[];
  caption: string;
}

/** Pixels per image pixel. */
export const SAMPLES_CELL = 3;
const ROW_TITLE_WIDTH = 74;
const COLUMN_GAP = 10;
const LABEL = 18;
const ROW_GAP = 8;

/** The grid of labelled digits as SVG (e.g. plain test digits above the same digits scaled), then the caption. */
export function samplesGridFigure(options: SamplesGridOptions): Figure {
  const { rows } = options;
  const columns = Math.max(...rows.map((r) => r.digits.length));
  const digitWidth = options.width * SAMPLES_CELL;
  const digitHeight = options.height * SAMPLES_CELL;
  const width = 2 * FIGURE_MARGIN + ROW_TITLE_WIDTH + columns * digitWidth + (columns - 1) * COLUMN_GAP;
  const captionLines = wrapText(options.caption, width - 2 * FIGURE_MARGIN, CAPTION_SIZE);
  const body: string[] = [];
  let y = FIGURE_MARGIN;
  for (const row of rows) {
    body.push(text(FIGURE_MARGIN, y + digitHeight / 2 + 5, row.title, { size: 14, weight: 'bold' }));
    row.digits.forEach((digit, i) => {
      const x = FIGURE_MARGIN + ROW_TITLE_WIDTH + i * (digitWidth + COLUMN_GAP);
      body.push(grayImage(digit.image, options.height, options.width, x, y, SAMPLES_CELL));
      body.push(text(x + digitWidth / 2, y + digitHeight + 13, digit.label, { size: 10, anchor: 'middle' }));
    });
    y += digitHeight + LABEL + ROW_GAP;
  }
  body.push(paragraph(FIGURE_MARGIN, y, captionLines, { size: CAPTION_SIZE, fill: COLORS.muted }));
  y += textBlockHeight(captionLines.length, CAPTION_SIZE) + FIGURE_MARGIN;
  return svgDocument(width, y, body);
}
