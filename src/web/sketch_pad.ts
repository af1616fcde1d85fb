/**
 * The drawing pad: a 28x28 image drawn with a mouse, pen or finger on a large canvas,
 * with soft round strokes about as wide as MNIST's, clear and undo.
 */
import { IMAGE_SIZE } from '../data/mnist_split';
import { drawGray } from './canvas_drawing';

/** Stroke radius in image pixels: with the soft edge, strokes come out 2 to 3 pixels wide, as in MNIST. */
const BRUSH_RADIUS = 1.1;
/** Undo steps kept. */
const HISTORY = 50;

export class SketchPad {
  /** The image, row-major, values in [0, 1]. */
  image: Float32Array = new Float32Array(IMAGE_SIZE * IMAGE_SIZE);
  private readonly history: Float32Array[] = [];
  private last: [number, number] | null = null;

  constructor(
    private readonly canvas: HTMLCanvasElement,
    /** Called after every change of the image. */
    private readonly onChange: () => void,
  ) {
    canvas.addEventListener('pointerdown', (e) => this.start(e));
    canvas.addEventListener('pointermove', (e) => this.move(e));
    for (const type of ['pointerup', 'pointercancel'] as const) canvas.addEventListener(type, () => (this.last = null));
    this.show();
  }

  /** Replaces the image (a test digit), keeping the old one for undo. */
  set(image: Float32Array): void {
    this.remember();
    this.image = Float32Array.from(image);
    this.changed();
  }

  clear(): void {
    this.set(new Float32Array(IMAGE_SIZE * IMAGE_SIZE));
  }

  undo(): void {
    const previous = this.history.pop();
    if (previous === undefined) return;
    this.image = previous;
    this.changed();
  }

  private remember(): void {
    this.history.push(Float32Array.from(this.image));
    if (this.history.length > HISTORY) this.history.shift();
  }

  private changed(): void {
    this.show();
    this.onChange();
  }

  private show(): void {
    drawGray(this.canvas, this.image);
  }

  /** The pointer's position in image pixels (pixel centres at integers). */
  private position(e: PointerEvent): [number, number] {
    const box = this.canvas.getBoundingClientRect();
    return [((e.clientY - box.top) / box.height) * IMAGE_SIZE - 0.5, ((e.clientX - box.left) / box.width) * IMAGE_SIZE - 0.5];
  }

  private start(e: PointerEvent): void {
    this.canvas.setPointerCapture(e.pointerId);
    this.remember();
    this.last = this.position(e);
    this.stroke(this.last, this.last);
  }

  private move(e: PointerEvent): void {
    if (this.last === null) return;
    const next = this.position(e);
    this.stroke(this.last, next);
    this.last = next;
  }

  /** Paints the segment from a to b: each pixel takes the brush's value at its distance from the segment, if brighter. */
  private stroke(a: [number, number], b: [number, number]): void {
    const [top, bottom] = [Math.min(a[0], b[0]), Math.max(a[0], b[0])];
    const [left, right] = [Math.min(a[1], b[1]), Math.max(a[1], b[1])];
    const reach = BRUSH_RADIUS + 1;
    for (let y = Math.max(0, Math.floor(top - reach)); y <= Math.min(IMAGE_SIZE - 1, Math.ceil(bottom + reach)); y++) {
      for (let x = Math.max(0, Math.floor(left - reach)); x <= Math.min(IMAGE_SIZE - 1, Math.ceil(right + reach)); x++) {
        const value = Math.min(1, Math.max(0, BRUSH_RADIUS + 0.5 - distanceToSegment(y, x, a, b)));
        const i = y * IMAGE_SIZE + x;
        if (value > this.image[i]) this.image[i] = value;
      }
    }
    this.changed();
  }
}

function distanceToSegment(y: number, x: number, a: [number, number], b: [number, number]): number {
  const [dy, dx] = [b[0] - a[0], b[1] - a[1]];
  const length2 = dy * dy + dx * dx;
  const t = length2 === 0 ? 0 : Math.min(1, Math.max(0, ((y - a[0]) * dy + (x - a[1]) * dx) / length2));
  return Math.hypot(y - (a[0] + t * dy), x - (a[1] + t * dx));
}
