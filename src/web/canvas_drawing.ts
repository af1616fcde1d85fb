/**
 * Drawing on the page's canvases: a 28x28 image as dark ink on white, the traced
 * sampling points of one unit (as `deformconv visualize` draws them, opacity by weight),
 * the offset field of one layer as arrows, and the probability bars.
 */
import { IMAGE_SIZE } from '../data/mnist_split';
import { arrowFactor } from '../reporting/arrow_field';
import { inputPoints } from '../reporting/sampling_figure';
import { COLORS } from '../reporting/svg';
import { imageScale, offsetAt, SamplingTrace, toImage, TraceLayer } from '../tracing/tracer';

function context(canvas: HTMLCanvasElement): CanvasRenderingContext2D {
  const ctx = canvas.getContext('2d');
  if (ctx === null) throw new Error('this browser has no 2D canvas');
  return ctx;
}

/** Canvas pixels per image pixel. */
function cellOf(canvas: HTMLCanvasElement): number {
  return canvas.width / IMAGE_SIZE;
}

/** The image (values in [0, 1]) filling the canvas; `strength` < 1 draws lighter ink, for points drawn over it. */
export function drawGray(canvas: HTMLCanvasElement, image: ArrayLike<number>, strength = 1): void {
  const ctx = context(canvas);
  const cell = cellOf(canvas);
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  for (let y = 0; y < IMAGE_SIZE; y++) {
    for (let x = 0; x < IMAGE_SIZE; x++) {
      const v = Math.min(Math.max(image[y * IMAGE_SIZE + x], 0), 1);
      if (v <= 0.02) continue;
      const level = Math.round(255 * (1 - strength * v));
      ctx.fillStyle = `rgb(${level},${level},${level})`;
      // A hair larger than a cell, so neighbouring cells leave no seams.
      ctx.fillRect(x * cell, y * cell, cell + 0.5, cell + 0.5);
    }
  }
}

/** The 729 input points of a traced unit (red), its layer's 9 taps (blue rings) and the unit (green square). */
export function drawTrace(canvas: HTMLCanvasElement, trace: SamplingTrace): void {
  const ctx = context(canvas);
  const cell = cellOf(canvas);
  const at = (v: number): number => (v + 0.5) * cell;
  ctx.fillStyle = COLORS.point;
  for (const { point, opacity } of inputPoints(trace)) {
    ctx.globalAlpha = opacity;
    ctx.beginPath();
    ctx.arc(at(point.imageX), at(point.imageY), Math.max(1.5, cell * 0.17), 0, 2 * Math.PI);
    ctx.fill();
  }
  ctx.globalAlpha = 1;
  ctx.strokeStyle = COLORS.top;
  ctx.lineWidth = 1.6;
  for (const p of trace.levels[0].filter((q) => !q.padding)) {
    ctx.beginPath();
    ctx.arc(at(p.imageX), at(p.imageY), cell * 0.38, 0, 2 * Math.PI);
    ctx.stroke();
  }
  const { unit } = trace;
  ctx.fillStyle = COLORS.unit;
  ctx.fillRect(at(unit.imageX) - cell * 0.45, at(unit.imageY) - cell * 0.45, cell * 0.9, cell * 0.9);
}

/**
 * The offsets of `layers[level]` (a layer with an offset field) as arrows from each point
 * of its input grid, lengthened by the same factor `visualize` picks; returns the factor.
 */
export function drawOffsetArrows(canvas: HTMLCanvasElement, layers: readonly TraceLayer[], level: number, color: string): number {
  const field = layers[level].offsets;
  if (field === null) return 0;
  const ctx = context(canvas);
  const cell = cellOf(canvas);
  const scale = imageScale(layers, level);
  const factor = arrowFactor(field, scale);
  ctx.strokeStyle = color;
  ctx.lineWidth = 1.2;
  for (let y = 0; y < field.height; y++) {
    for (let x = 0; x < field.width; x++) {
      const [iy, ix] = toImage(layers, level, y, x);
      const [dy, dx] = offsetAt(field, y, x);
      const [x1, y1] = [(ix + 0.5) * cell, (iy + 0.5) * cell];
      const [x2, y2] = [x1 + dx * scale * factor * cell, y1 + dy * scale * factor * cell];
      if (Math.hypot(x2 - x1, y2 - y1) < 1.5) continue;
      ctx.beginPath();
      ctx.moveTo(x1, y1);
      ctx.lineTo(x2, y2);
      ctx.stroke();
      ctx.beginPath();
      ctx.arc(x2, y2, 1.3, 0, 2 * Math.PI);
      ctx.fillStyle = color;
      ctx.fill();
    }
  }
  return factor;
}

/** Ten bars, one per class, the most probable highlighted. */
export function renderBars(container: HTMLElement, probabilities: ArrayLike<number>): void {
  let best = 0;
  for (let k = 1; k < probabilities.length; k++) if (probabilities[k] > probabilities[best]) best = k;
  const rows = Array.from(probabilities, (p, k) => {
    const percent = (100 * p).toFixed(1);
    const fill = `<span class="track"><span class="fill" style="width:${percent}%; display:block"></span></span>`;
    return `<div class="bar${k === best ? ' top' : ''}" data-class="${k}"><span>${k}</span>${fill}<span>${percent}%</span></div>`;
  });
  container.innerHTML = rows.join('');
}

/** The loss of every step so far as a line, on axes from 0 to the largest loss. */
export function drawLossCurve(canvas: HTMLCanvasElement, losses: readonly number[]): void {
  const ctx = context(canvas);
  const [width, height, pad] = [canvas.width, canvas.height, 28];
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, width, height);
  ctx.strokeStyle = COLORS.axis;
  ctx.strokeRect(pad, 6, width - pad - 6, height - pad - 6);
  const top = Math.max(...losses.filter(Number.isFinite), 1e-6);
  ctx.fillStyle = COLORS.muted;
  ctx.font = '11px sans-serif';
  ctx.fillText(top.toFixed(2), 2, 14);
  ctx.fillText('0', 14, height - pad);
  ctx.fillText(`loss per step (${losses.length} steps)`, pad + 6, height - 8);
  if (losses.length < 2) return;
  ctx.strokeStyle = COLORS.point;
  ctx.lineWidth = 1.8;
  ctx.beginPath();
  losses.forEach((loss, i) => {
    const x = pad + (i / (losses.length - 1)) * (width - pad - 6);
    const y = height - pad - (Math.min(loss, top) / top) * (height - pad - 12);
    if (i === 0) ctx.moveTo(x, y);
    else ctx.lineTo(x, y);
  });
  ctx.stroke();
}
