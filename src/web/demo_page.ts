/**
 * The demo page (`deformconv demo`): draw or pick a digit, scale it with the experiment's
 * own zoomShift, watch the regular and the deformable CNN predict it live, and click to
 * see where one conv22 unit of each looks (the same tracer as `deformconv visualize`).
 * Every computation runs through the modules the command line runs.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-webgpu';
import { getThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
// The wasm backend, with this package's training kernels (tfjs's wasm has no filter gradient): for the in-page fine-tune.
import '../kernels/wasm/replace_tfjs_kernels';
import { Rng } from '../augment/random';
import { Interpolation, sampleZoomShift, zoomShift, ZoomShiftParams } from '../augment/zoom_shift';
import { imagesAsFloat, IMAGE_SIZE, MnistSplit } from '../data/mnist_split';
import { SCALED_TEST_INTERPOLATION, scaledTestParams } from '../evaluation/evaluate';
import { forward } from '../models/cnn';
import { nearestUnit, Unit } from '../reporting/figures';
import { COLORS } from '../reporting/svg';
import { cnnTraceLayers, readOffsetsAsync } from '../tracing/offsets';
import { SamplingTrace, traceSamplingLocations } from '../tracing/tracer';
import { DemoModel, loadDemoModel, loadTestDigits, ModelRole } from './assets';
import { finetuneInPage } from './finetune';
import { drawGray, drawLossCurve, drawOffsetArrows, drawTrace, renderBars } from './canvas_drawing';
import { SketchPad } from './sketch_pad';

setWasmPaths('./');

const BACKENDS = ['webgl', 'webgpu', 'wasm', 'cpu'] as const;
const NO_SCALING: ZoomShiftParams = { zoomRow: 1, zoomCol: 1, shiftRow: 0, shiftCol: 0 };
const SLIDERS = { 'zoom-row': 'zoomRow', 'zoom-col': 'zoomCol', 'shift-row': 'shiftRow', 'shift-col': 'shiftCol' } as const;
const OFFSET_LAYERS = ['conv12', 'conv21', 'conv22'];
const ARROW_COLORS = [COLORS.series[0], COLORS.series[2], COLORS.series[4]];

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (found === null) throw new Error(`the page lacks #${id}`);
  return found as T;
}

/** What one update of the page computed: the image the models saw and their answers. */
export interface Update {
  seen: Float32Array;
  probabilities: Partial<Record<ModelRole, Float32Array>>;
  milliseconds: Partial<Record<ModelRole, number>>;
  traces: Partial<Record<ModelRole, SamplingTrace>>;
}

class DemoPage {
  private readonly pad: SketchPad;
  private params: ZoomShiftParams = { ...NO_SCALING };
  private interpolation: Interpolation = SCALED_TEST_INTERPOLATION;
  private unit: Unit | null = null;
  private readonly models: Partial<Record<ModelRole, DemoModel>> = {};
  private test: MnistSplit | undefined;
  private pending: Promise<Update> | null = null;
  private dirty = false;
  private stopFinetune = false;
  /** The losses of the in-page fine-tune so far. */
  private losses: number[] = [];
  /** The latest finished update (for the page's tests). */
  latest: Update | null = null;

  constructor() {
    this.pad = new SketchPad(element('pad'), () => this.changed('Your drawing.'));
    element('clear').addEventListener('click', () => this.pad.clear());
    element('undo').addEventListener('click', () => this.pad.undo());
    element('digit-show').addEventListener('click', () =>
      this.showTestDigit(Number(element<HTMLInputElement>('digit-index').value), false),
    );
    element('digit-random').addEventListener('click', () => this.showTestDigit(Math.floor(Math.random() * (this.test?.count ?? 1)), false));
    element('scale-random').addEventListener(
      'click',
      () => void this.setScaling(sampleZoomShift(1, new Rng(Math.floor(Math.random() * 2 ** 31)))[0]),
    );
    element('scale-reset').addEventListener('click', () => void this.setScaling(NO_SCALING));
    element<HTMLSelectElement>('interpolation').addEventListener('change', (e) => {
      this.interpolation = (e.target as HTMLSelectElement).value as Interpolation;
      void this.refresh();
    });
    for (const id of Object.keys(SLIDERS) as (keyof typeof SLIDERS)[]) {
      element<HTMLInputElement>(id).addEventListener('input', () => this.readSliders());
    }
    element('seen').addEventListener('click', (e) => this.pickUnit(e as MouseEvent));
    element<HTMLSelectElement>('backend').addEventListener('change', (e) => void this.useBackend((e.target as HTMLSelectElement).value));
    element('ft-start').addEventListener('click', () => void this.finetune(1));
    element('ft-stop').addEventListener('click', () => (this.stopFinetune = true));
    element('ft-reset').addEventListener('click', () => void this.reloadDeform());
    this.showSliders();
  }

  /** Fine-tunes the deformable CNN for `epochs` in the page (see finetune.ts) and returns the loss of each step. */
  async finetune(epochs: number): Promise<number[]> {
    const deform = this.models.deform;
    if (deform === undefined || this.test === undefined) {
      this.say('fine-tuning needs the deformable model and the test digits');
      return [];
    }
    await this.settled();
    this.setFinetuning(true);
    try {
      await finetuneInPage(deform.model, this.test, {
        epochs,
        seed: this.losses.length + 1,
        shouldStop: () => this.stopFinetune,
        onStep: (s) => {
          this.losses.push(s.loss);
          drawLossCurve(element('ft-loss'), this.losses);
          element('ft-status').textContent =
            `epoch ${s.epoch}, step ${s.step} of ${s.steps}: loss ${s.loss.toFixed(3)}, ${(s.milliseconds / 1000).toFixed(1)} s a step on ${tf.getBackend()}`;
        },
      });
    } catch (err) {
      this.say(`fine-tuning on ${tf.getBackend()} failed: ${(err as Error).message}`);
    } finally {
      this.setFinetuning(false);
    }
    await this.refresh();
    return this.losses;
  }

  /** Replaces the fine-tuned deformable CNN by the served checkpoint again. */
  async reloadDeform(): Promise<void> {
    this.models.deform?.model.dispose();
    this.models.deform = await loadDemoModel('deform');
    this.losses = [];
    drawLossCurve(element('ft-loss'), this.losses);
    element('ft-status').textContent = 'the trained model again';
    await this.refresh();
  }

  private setFinetuning(running: boolean): void {
    this.stopFinetune = false;
    element<HTMLButtonElement>('ft-start').disabled = running;
    element<HTMLButtonElement>('ft-reset').disabled = running;
    element<HTMLButtonElement>('ft-stop').disabled = !running;
  }

  /** Loads what the server offers; a missing or broken model or data set is said on the page. */
  async load(): Promise<void> {
    await this.offerBackends();
    const problems: string[] = [];
    for (const role of ['regular', 'deform'] as const) {
      try {
        this.models[role] = await loadDemoModel(role);
      } catch (err) {
        problems.push((err as Error).message);
      }
    }
    try {
      this.test = await loadTestDigits();
      if (this.test === undefined) problems.push('no test digits are served (run `deformconv download`); drawing still works');
    } catch (err) {
      problems.push(`the test digits do not load: ${(err as Error).message}`);
    }
    this.describeModels();
    if (problems.length > 0) this.say(problems.join(' '));
    if (this.test !== undefined) this.showTestDigit(0, false);
    else await this.refresh();
  }

  /** Test digit `index`, plain or with its transform from the fixed scaled test set (as `deformconv eval` scales it). */
  showTestDigit(index: number, scaled: boolean): void {
    const test = this.test;
    if (test === undefined || !Number.isInteger(index) || index < 0 || index >= test.count) {
      this.say(test === undefined ? 'no test digits are served' : `test digits are 0..${test.count - 1}`);
      return;
    }
    element<HTMLInputElement>('digit-index').value = String(index);
    this.params = scaled ? scaledTestParams(index + 1)[index] : { ...NO_SCALING };
    if (scaled) this.interpolation = SCALED_TEST_INTERPOLATION;
    this.showSliders();
    this.pad.set(imagesAsFloat(test, [index]));
    this.setCaption(`Test digit #${index} (label ${test.labels[index]})${scaled ? ', scaled as in the scaled test set' : ''}.`);
  }

  /** Sets the sliders (and the transform) and updates. */
  setScaling(params: ZoomShiftParams, interpolation: Interpolation = this.interpolation): Promise<Update> {
    this.params = { ...params };
    this.interpolation = interpolation;
    this.showSliders();
    return this.refresh();
  }

  /** Switches the backend the models run on. */
  async useBackend(name: string): Promise<Update> {
    await this.startBackend(name);
    return this.refresh();
  }

  /** Recomputes everything shown (coalescing requests that arrive while an update runs). */
  refresh(): Promise<Update> {
    if (this.pending !== null) {
      this.dirty = true;
      return this.pending;
    }
    this.pending = this.update().finally(() => {
      this.pending = null;
      if (this.dirty) {
        this.dirty = false;
        void this.refresh();
      }
    });
    return this.pending;
  }

  /** Resolves once the page has caught up with every change. */
  async settled(): Promise<Update> {
    while (this.pending !== null) await this.pending;
    return this.latest as Update;
  }

  private changed(caption: string): void {
    this.setCaption(caption);
    void this.refresh();
  }

  private async update(): Promise<Update> {
    await new Promise((resolve) => requestAnimationFrame(resolve));
    const seen = await this.seenImage();
    drawGray(element('seen'), seen);
    const result: Update = { seen, probabilities: {}, milliseconds: {}, traces: {} };
    try {
      await this.predictAll(seen, result);
      await this.drawLooks(seen, result);
    } catch (err) {
      this.say(`the ${tf.getBackend()} backend failed (${(err as Error).message}); pick another backend below`);
    }
    this.latest = result;
    return result;
  }

  private async predictAll(seen: Float32Array, result: Update): Promise<void> {
    for (const role of ['regular', 'deform'] as const) {
      const loaded = this.models[role];
      if (loaded === undefined) continue;
      const start = performance.now();
      const probabilities = await predict(loaded.model, seen);
      result.milliseconds[role] = performance.now() - start;
      result.probabilities[role] = probabilities;
      renderBars(element(`bars-${role}`), probabilities);
      element(`verdict-${role}`).textContent = verdict(probabilities, result.milliseconds[role] as number);
    }
  }

  /** The pad's image under the current transform, as the models see it (read asynchronously: GPU backends stall on synchronous reads). */
  private async seenImage(): Promise<Float32Array> {
    const seen = tf.tidy(() =>
      zoomShift(tf.tensor4d(this.pad.image, [1, IMAGE_SIZE, IMAGE_SIZE, 1]), [this.params], { interpolation: this.interpolation }),
    );
    const values = (await seen.data()) as Float32Array;
    seen.dispose();
    return values;
  }

  /** Both models' sampling points for the chosen unit, with the chosen offset fields. */
  private async drawLooks(seen: Float32Array, result: Update): Promise<void> {
    for (const role of ['regular', 'deform'] as const) {
      const canvas = element<HTMLCanvasElement>(`looks-${role}`);
      drawGray(canvas, seen, 0.45);
      const loaded = this.models[role];
      if (loaded === undefined || this.unit === null) continue;
      const input = tf.tensor4d(seen, [1, IMAGE_SIZE, IMAGE_SIZE, 1]);
      const readout = await readOffsetsAsync(loaded.model, input);
      input.dispose();
      const layers = cnnTraceLayers(readout.fields[0], readout.tapFields[0]);
      const trace = traceSamplingLocations(layers, this.unit);
      result.traces[role] = trace;
      drawTrace(canvas, trace);
      if (role === 'deform') this.drawFields(canvas, layers);
    }
  }

  private drawFields(canvas: HTMLCanvasElement, layers: ReturnType<typeof cnnTraceLayers>): void {
    OFFSET_LAYERS.forEach((name, i) => {
      const box = document.getElementById(`field-${name}`) as HTMLInputElement | null;
      const level = layers.findIndex((l) => l.name === name);
      if (box?.checked && level >= 0) drawOffsetArrows(canvas, layers, level, ARROW_COLORS[i]);
    });
  }

  /** The conv22 unit nearest the click (in image pixels). */
  private pickUnit(e: MouseEvent): void {
    const canvas = element<HTMLCanvasElement>('seen');
    const box = canvas.getBoundingClientRect();
    const y = ((e.clientY - box.top) / box.height) * IMAGE_SIZE - 0.5;
    const x = ((e.clientX - box.left) / box.width) * IMAGE_SIZE - 0.5;
    this.unit = nearestUnit(y, x);
    element('looks-caption').textContent =
      `Unit (${this.unit.row}, ${this.unit.col}) of conv22's 7x7 output (green), its 3x3 taps (blue rings), and the 729 input ` +
      'pixels they read through conv21 and conv12 (red dots). Click elsewhere on the scaled image to move it.';
    void this.refresh();
  }

  private readSliders(): void {
    for (const [id, key] of Object.entries(SLIDERS) as [keyof typeof SLIDERS, keyof ZoomShiftParams][]) {
      const value = Number(element<HTMLInputElement>(id).value);
      this.params[key] = key.startsWith('shift') ? value * IMAGE_SIZE : value;
    }
    this.showSliders();
    void this.refresh();
  }

  /** Sliders and their read-outs from the transform (shifts shown as a fraction of the image). */
  private showSliders(): void {
    for (const [id, key] of Object.entries(SLIDERS) as [keyof typeof SLIDERS, keyof ZoomShiftParams][]) {
      const value = key.startsWith('shift') ? this.params[key] / IMAGE_SIZE : this.params[key];
      element<HTMLInputElement>(id).value = String(value);
      (document.querySelector(`output[for="${id}"]`) as HTMLOutputElement).textContent = key.startsWith('shift')
        ? `${(value * 100).toFixed(1)}%`
        : `${value.toFixed(2)}x`;
    }
    element<HTMLSelectElement>('interpolation').value = this.interpolation;
  }

  private async offerBackends(): Promise<void> {
    const select = element<HTMLSelectElement>('backend');
    const offered = BACKENDS.filter((name) => tf.findBackendFactory(name) !== null && (name !== 'webgpu' || 'gpu' in navigator));
    select.innerHTML = offered.map((name) => `<option value="${name}">${name}</option>`).join('');
    await this.startBackend(offered[0]);
  }

  private async startBackend(name: string): Promise<void> {
    element('backend-status').textContent = `starting ${name}...`;
    const ok = await tf.setBackend(name).catch(() => false);
    await tf.ready();
    element<HTMLSelectElement>('backend').value = tf.getBackend();
    const running = `running on ${tf.getBackend()}${tf.getBackend() === 'wasm' ? ` (${threads(getThreadsCount())})` : ''}`;
    element('backend-status').textContent = ok ? running : `${name} did not start; ${running}`;
  }

  private describeModels(): void {
    const parts = (['regular', 'deform'] as const).map((role) => {
      const m = this.models[role];
      if (m === undefined) return `${role}: none`;
      const trained = `${role}: ${m.deformType ?? 'regular CNN'}, ${m.epochs} epoch${m.epochs === 1 ? '' : 's'} (${m.stage} stage)`;
      if (m.shipped === undefined) return trained;
      const { trainedBy, accuracy } = m.shipped;
      const percent = (fraction: number) => `${(fraction * 100).toFixed(2)}%`;
      return `${trained}, shipped with the package (trained by \`${trainedBy}\`; ${percent(accuracy.plain)} plain, ${percent(accuracy.scaled)} scaled test accuracy)`;
    });
    const yours = Object.values(this.models).some((m) => m?.shipped !== undefined)
      ? ' To show your own: `deformconv demo --regular <dir> --deform <dir>` (checkpoints/ is used when it exists).'
      : '';
    element('models-info').textContent =
      `Models: ${parts.join('; ')}. Nothing leaves this page: the models and digits come from the demo's server.${yours}`;
    const deform = this.models.deform;
    if (deform?.deformType === 'dcn' || deform?.deformType === 'dcnv2') {
      element('deform-title').textContent = `Deformable CNN (${deform.deformType.toUpperCase()})`;
      element('looks-deform-caption').textContent =
        deform.deformType === 'dcnv2'
          ? 'DCNv2: each tap moved by its own offset; a dot fades with the product of its masks.'
          : 'DCN: each tap moved by its own offset.';
    } else if (deform !== undefined) {
      element('field-toggles').innerHTML =
        'Offset fields: ' +
        OFFSET_LAYERS.map(
          (name, i) => `<label style="color:${ARROW_COLORS[i]}"><input type="checkbox" id="field-${name}"> ${name}_offset</label>`,
        ).join(' ') +
        ' <span class="caption">(arrows lengthened to be visible, as in <code>visualize</code>; the mean offset over channels)</span>';
      for (const name of OFFSET_LAYERS) element(`field-${name}`).addEventListener('change', () => void this.refresh());
    }
  }

  private setCaption(text: string): void {
    element('digit-caption').textContent = text;
  }

  private say(text: string): void {
    const box = element('message');
    box.textContent = text;
    box.classList.add('shown');
  }
}

/** Class probabilities of one image, computed as `deformconv eval` runs the model (inference mode). */
async function predict(model: tf.LayersModel, image: Float32Array): Promise<Float32Array> {
  const probabilities = tf.tidy(() => forward(model, tf.tensor4d(image, [1, IMAGE_SIZE, IMAGE_SIZE, 1]), false));
  const values = (await probabilities.data()) as Float32Array;
  probabilities.dispose();
  return values;
}

/** wasm's threads: one unless the page is cross-origin isolated (SharedArrayBuffer). */
function threads(count: number): string {
  return `${count} thread${count === 1 ? '' : 's'}`;
}

function verdict(probabilities: Float32Array, milliseconds: number): string {
  let best = 0;
  for (let k = 1; k < probabilities.length; k++) if (probabilities[k] > probabilities[best]) best = k;
  return `Says ${best} (${(probabilities[best] * 100).toFixed(1)}%), in ${milliseconds.toFixed(1)} ms`;
}

const page = new DemoPage();
/** The page's state and controls, for its tests (and the curious, from the console). */
Object.assign(window, { deformDemo: { page, ready: page.load() } });
