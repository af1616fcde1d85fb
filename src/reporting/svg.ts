/**
 * Small SVG building blocks for the pictures. Every picture is a Figure: an SVG document
 * with its pixel size, rendered to PNG or GIF by render_images.ts. Coordinates are SVG pixels.
 */

/** An SVG picture and its size in pixels. */
export interface Figure {
  svg: string;
  width: number;
  height: number;
}

export const FONT = 'DejaVu Sans, Liberation Sans, Arial, sans-serif';
/** Width of an average character relative to the font size, for wrapping captions. */
const CHAR_WIDTH = 0.56;
const LINE_HEIGHT = 1.35;

export const COLORS = {
  text: '#222222',
  muted: '#666666',
  axis: '#444444',
  grid: '#e3e3e3',
  point: '#d62728',
  top: '#1f5fbf',
  unit: '#1a9e3f',
  arrow: '#1f5fbf',
  series: ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b'],
} as const;

/** Space around every figure, in pixels. */
export const FIGURE_MARGIN = 16;
/** Font size of every figure's caption. */
export const CAPTION_SIZE = 12;

/** The layout shared by the figures made of rows of image panels (sampling locations, offset fields). */
export const PANEL_LAYOUT = {
  /** Between panels of a row. */
  gap: 24,
  /** Height of a row's title. */
  rowTitle: 24,
  /** Height of a panel's heading (two lines). */
  heading: 34,
  /** Between rows. */
  rowGap: 14,
} as const;

export function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c] as string);
}

/** A number for an SVG attribute: at most two decimals. */
export function num(value: number): string {
  return String(Math.round(value * 100) / 100);
}

type Attributes = Record<string, string | number | undefined>;

function attributes(attrs: Attributes): string {
  return Object.entries(attrs)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => ` ${k}="${typeof v === 'number' ? num(v) : escapeXml(v as string)}"`)
    .join('');
}

/** An element without children. */
export function el(name: string, attrs: Attributes): string {
  return `<${name}${attributes(attrs)}/>`;
}

/** A complete SVG document on a white background. */
export function svgDocument(width: number, height: number, body: string[], defs: string[] = []): Figure {
  const w = Math.ceil(width);
  const h = Math.ceil(height);
  const svg = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}">`,
    defs.length > 0 ? `<defs>${defs.join('')}</defs>` : '',
    el('rect', { x: 0, y: 0, width: w, height: h, fill: '#ffffff' }),
    ...body,
    '</svg>',
  ].join('\n');
  return { svg, width: w, height: h };
}

export interface TextOptions {
  size?: number;
  anchor?: 'start' | 'middle' | 'end';
  weight?: 'normal' | 'bold';
  fill?: string;
  /** Rotation in degrees about (x, y). */
  rotate?: number;
}

/** One line of text with its baseline at y. */
export function text(x: number, y: number, content: string, options: TextOptions = {}): string {
  const { size = 13, anchor = 'start', weight = 'normal', fill = COLORS.text, rotate } = options;
  const attrs: Attributes = {
    x,
    y,
    'font-family': FONT,
    'font-size': size,
    'text-anchor': anchor,
    'font-weight': weight === 'bold' ? 'bold' : undefined,
    fill,
    transform: rotate === undefined ? undefined : `rotate(${num(rotate)} ${num(x)} ${num(y)})`,
  };
  return `<text${attributes(attrs)}>${escapeXml(content)}</text>`;
}

/** Splits `content` into lines that fit `width` pixels at font `size` (an estimate from the average glyph width). */
export function wrapText(content: string, width: number, size: number): string[] {
  const perLine = Math.max(10, Math.floor(width / (size * CHAR_WIDTH)));
  const lines: string[] = [];
  for (const paragraph of content.split('\n')) {
    let line = '';
    for (const word of paragraph.split(/\s+/).filter((w) => w.length > 0)) {
      if (line.length > 0 && line.length + 1 + word.length > perLine) {
        lines.push(line);
        line = word;
      } else {
        line = line.length > 0 ? `${line} ${word}` : word;
      }
    }
    lines.push(line);
  }
  return lines;
}

/** Height in pixels of `lines` lines of text at font `size`. */
export function textBlockHeight(lines: number, size: number): number {
  return lines * size * LINE_HEIGHT;
}

/** Wrapped lines of text, the first baseline one font size below `y`. */
export function paragraph(x: number, y: number, lines: readonly string[], options: TextOptions = {}): string {
  const size = options.size ?? 13;
  return lines.map((line, i) => text(x, y + size + i * size * LINE_HEIGHT, line, options)).join('\n');
}

/**
 * A grayscale image ([height * width] values in [0, 1], row-major) as `cell`-pixel squares
 * with its top-left corner at (x, y): ink (1) dark, background (0) white, lightened by
 * `strength` (1: black ink) so that marks drawn over it stay visible. Background pixels
 * are left to the frame's own rectangle.
 */
export function grayImage(
  pixels: ArrayLike<number>,
  height: number,
  width: number,
  x: number,
  y: number,
  cell: number,
  strength = 1,
): string {
  const parts = [el('rect', { x, y, width: width * cell, height: height * cell, fill: '#ffffff', stroke: COLORS.axis, 'stroke-width': 1 })];
  for (let r = 0; r < height; r++) {
    for (let c = 0; c < width; c++) {
      const v = Math.min(Math.max(pixels[r * width + c], 0), 1);
      if (v <= 0.02) continue;
      const level = Math.round(255 * (1 - strength * v));
      const hex = level.toString(16).padStart(2, '0');
      // Slightly larger than a cell, so neighbouring squares leave no hairline gaps.
      parts.push(el('rect', { x: x + c * cell, y: y + r * cell, width: cell + 0.3, height: cell + 0.3, fill: `#${hex}${hex}${hex}` }));
    }
  }
  return parts.join('');
}

/** An arrow from (x1, y1) to (x2, y2), its head drawn by the marker `arrowMarker` defines. */
export function arrow(x1: number, y1: number, x2: number, y2: number, markerId: string, color: string, width = 1): string {
  return el('line', { x1, y1, x2, y2, stroke: color, 'stroke-width': width, 'marker-end': `url(#${markerId})` });
}

/** The definition of an arrow head for `arrow`. */
export function arrowMarker(id: string, color: string, size = 4): string {
  return (
    `<marker id="${id}" viewBox="0 0 10 10" refX="8" refY="5" markerWidth="${size}" markerHeight="${size}" orient="auto-start-reverse">` +
    `<path d="M0,0 L10,5 L0,10 z" fill="${color}"/></marker>`
  );
}
