/**
 * DeformConv2D: a deformable convolution layer (DCN, Dai et al. 2017; with `modulated`,
 * DCNv2, Zhu et al. 2019), as DCN implementations build it: the layer owns an ordinary
 * convolution of the same kernel size, strides, padding and dilation that predicts, at
 * every output position, one (dy, dx) per kernel tap and offset group (and, modulated,
 * one mask logit per tap, through a sigmoid), then runs deformConv2d with them.
 * That offset convolution starts at zero, so a new layer samples the regular grid (and
 * its mask starts at sigmoid(0) = 0.5).
 *
 * Weights, by name: kernel [kh, kw, Cin, filters], bias [filters] (with useBias),
 * offset_kernel [kh, kw, Cin, M] and offset_bias [M], where M = 2*G*kh*kw, or 3*G*kh*kw
 * when modulated: channels [0, 2*G*kh*kw) are the offsets in deformConv2d's layout, the
 * rest the mask logits.
 */
import * as tf from '@tensorflow/tfjs';
import { InvalidInputError } from '../errors';
import { positivePair } from '../ops/arguments';
import { deformConv2d } from '../ops/deform_conv2d';
import { Initializer, InitializerSpec, initializerConfig, toInitializer } from './initializers';
import { OffsetCapture } from './offset_capture';

type LayerArgs = NonNullable<ConstructorParameters<typeof tf.layers.Layer>[0]>;
type DisposeResult = ReturnType<tf.layers.Layer['dispose']>;

/** DeformConv2D's constructor arguments: tf.layers' common ones (name, trainable, ...) and these. */
export interface DeformConv2DArgs extends LayerArgs {
  /** Output channels. */
  filters: number;
  /** [kh, kw] or one number for both. */
  kernelSize: number | [number, number];
  /** Default 1. */
  strides?: number | [number, number];
  /** 'valid' (default) or 'same', as tf.layers.conv2d. */
  padding?: 'valid' | 'same';
  /** Default 1. */
  dilationRate?: number | [number, number];
  /** G: the input channels split into G groups, each with its own offsets (and mask). Default 1. */
  offsetGroups?: number;
  /** true for DCNv2: each tap's sample is also weighted by a learned mask in (0, 1). Default false. */
  modulated?: boolean;
  /** Default true. */
  useBias?: boolean;
  /** Of the kernel; default 'glorotUniform'. */
  kernelInitializer?: InitializerSpec;
  /** Of the bias; default 'zeros'. */
  biasInitializer?: InitializerSpec;
  /**
   * Of the offset (and mask) convolution's kernel; default 'zeros' (its bias always starts
   * at zero), so the layer starts as a plain convolution (times 0.5 when modulated).
   */
  offsetInitializer?: InitializerSpec;
  /**
   * false freezes the kernel and bias while the offset (and mask) convolution still learns
   * (fine-tuning offsets on top of trained weights). Default true. See `kernelTrainable`.
   */
  kernelTrainable?: boolean;
  /** Passed to deformConv2d: the largest column buffer before the batch is chunked. */
  maxColumnBytes?: number;
}

type Pair = [number, number];

function positiveInteger(where: string, name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new InvalidInputError(`${where}: ${name} must be a positive integer, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** tf.layers.conv2d's output length along one axis (null stays null). */
function outputLength(size: number | null, kernel: number, stride: number, dilation: number, padding: 'valid' | 'same'): number | null {
  if (size === null) return null;
  const span = (kernel - 1) * dilation + 1;
  return padding === 'same' ? Math.ceil(size / stride) : Math.ceil((size - span + 1) / stride);
}

function firstShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
  return (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
}

/**
 * Starting kernel and bias of layers made by deformConv2DFromConv2D, written when the
 * layer is built: weights must be created inside the layer's first apply, which gives
 * them their "<layer>/<weight>" names.
 */
const pendingConvWeights = new WeakMap<tf.layers.Layer, { kernel: tf.Tensor; bias: tf.Tensor | null }>();

/**
 * A deformable convolution layer, DCN (Dai et al. 2017) or, with `modulated: true`,
 * DCNv2 (Zhu et al. 2019), NHWC, with torchvision.ops.deform_conv2d's semantics.
 *
 * The layer owns an ordinary convolution (same kernel size, strides, padding and
 * dilation) that predicts, at every output position, a (dy, dx) per kernel tap and offset
 * group and, modulated, a mask logit per tap (through a sigmoid); then it runs
 * deformConv2d: each tap samples the input bilinearly at its offset point (zeros outside),
 * times its mask. The offset convolution starts at zero, so a new layer is a plain
 * convolution (times 0.5 when modulated).
 *
 * - Input: float32 [B, H, W, Cin] (Cin divisible by `offsetGroups`).
 * - Output: [B, Ho, Wo, filters], Ho and Wo as tf.layers.conv2d's.
 * - Weights: `kernel` [kh, kw, Cin, filters], `bias` [filters] (with useBias),
 *   `offset_kernel` [kh, kw, Cin, M] and `offset_bias` [M], M = 2*G*kh*kw, or 3*G*kh*kw
 *   when modulated (the offsets first, then the mask logits).
 * - `kernelTrainable: false` freezes kernel and bias while the offsets learn.
 * - `captureOffsets` / `lastOffsets` / `lastMask` read out a call's offsets, for pictures.
 * - Serialises as 'DeformConv2D' (registered when this module loads).
 * To turn a trained tf.layers.conv2d into one, see deformConv2DFromConv2D.
 *
 * @example
 * import * as tf from '@tensorflow/tfjs';
 * import { DeformConv2D } from 'deformconv';
 *
 * // DCNv2: 3x3, stride 2, 32 -> 64 channels.
 * const layer = new DeformConv2D({ filters: 64, kernelSize: 3, strides: 2, padding: 'same', modulated: true });
 * const y = layer.apply(tf.randomNormal([2, 28, 28, 32])) as tf.Tensor; // [2, 14, 14, 64]
 * layer.getWeights().map((w) => w.shape);
 * // kernel [3, 3, 32, 64], bias [64], offset_kernel [3, 3, 32, 27], offset_bias [27]
 */
export class DeformConv2D extends tf.layers.Layer {
  /** The name the layer serialises under. */
  static readonly className = 'DeformConv2D';

  readonly filters: number;
  readonly kernelSize: Pair;
  readonly strides: Pair;
  readonly padding: 'valid' | 'same';
  readonly dilationRate: Pair;
  readonly offsetGroups: number;
  readonly modulated: boolean;
  readonly useBias: boolean;
  readonly kernelInitializer: Initializer;
  readonly biasInitializer: Initializer;
  readonly offsetInitializer: Initializer;
  readonly maxColumnBytes: number | undefined;
  private trainKernel: boolean;
  private kernel: tf.LayerVariable | null = null;
  private bias: tf.LayerVariable | null = null;
  private offsetKernel: tf.LayerVariable | null = null;
  private offsetBias: tf.LayerVariable | null = null;
  private readonly capture = new OffsetCapture();

  /** Throws InvalidInputError for a non-positive or non-integer size, an unknown padding or initialiser. */
  constructor(args: DeformConv2DArgs) {
    super(args);
    const name = this.name;
    const where = `DeformConv2D '${name}'`;
    this.filters = positiveInteger(where, 'filters', args.filters);
    this.kernelSize = positivePair(where, 'kernelSize', args.kernelSize);
    this.strides = positivePair(where, 'strides', args.strides);
    this.dilationRate = positivePair(where, 'dilationRate', args.dilationRate);
    this.padding = args.padding ?? 'valid';
    if (this.padding !== 'valid' && this.padding !== 'same') {
      throw new InvalidInputError(`${where}: padding must be 'valid' or 'same', got ${JSON.stringify(args.padding)}`);
    }
    this.offsetGroups = positiveInteger(where, 'offsetGroups', args.offsetGroups ?? 1);
    this.modulated = args.modulated ?? false;
    this.useBias = args.useBias ?? true;
    this.kernelInitializer = toInitializer(
      args.kernelInitializer,
      () => tf.initializers.glorotUniform({}),
      `DeformConv2D '${name}' kernelInitializer`,
    );
    this.biasInitializer = toInitializer(args.biasInitializer, () => tf.initializers.zeros(), `DeformConv2D '${name}' biasInitializer`);
    this.offsetInitializer = toInitializer(
      args.offsetInitializer,
      () => tf.initializers.zeros(),
      `DeformConv2D '${name}' offsetInitializer`,
    );
    this.trainKernel = args.kernelTrainable ?? true;
    this.maxColumnBytes = args.maxColumnBytes;
  }

  /** Taps per offset group: kh * kw. */
  private get taps(): number {
    return this.kernelSize[0] * this.kernelSize[1];
  }

  /** Channels of the offset convolution: 2*G*kh*kw offsets, then G*kh*kw mask logits when modulated. */
  private get offsetChannels(): number {
    return (this.modulated ? 3 : 2) * this.offsetGroups * this.taps;
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = firstShape(inputShape);
    const channels = shape[3];
    if (shape.length !== 4 || channels == null || channels % this.offsetGroups !== 0) {
      throw new InvalidInputError(
        `DeformConv2D '${this.name}': expects input [batch, height, width, channels] with channels known and divisible by ` +
          `offsetGroups = ${this.offsetGroups}, got [${shape.map(String).join(', ')}]`,
      );
    }
    const [kh, kw] = this.kernelSize;
    this.kernel = this.addWeight('kernel', [kh, kw, channels, this.filters], 'float32', this.kernelInitializer, undefined, true);
    if (this.useBias) {
      this.bias = this.addWeight('bias', [this.filters], 'float32', this.biasInitializer, undefined, true);
    }
    this.offsetKernel = this.addWeight(
      'offset_kernel',
      [kh, kw, channels, this.offsetChannels],
      'float32',
      this.offsetInitializer,
      undefined,
      true,
    );
    this.offsetBias = this.addWeight('offset_bias', [this.offsetChannels], 'float32', tf.initializers.zeros(), undefined, true);
    this.built = true;
    this.kernelTrainable = this.trainKernel;
    const pending = pendingConvWeights.get(this);
    if (pending !== undefined) {
      pendingConvWeights.delete(this);
      this.kernel.write(pending.kernel);
      if (this.bias !== null && pending.bias !== null) this.bias.write(pending.bias);
      tf.dispose([pending.kernel, pending.bias ?? []]);
    }
  }

  /**
   * Whether the kernel and bias learn (the offset and mask convolution always does while
   * the layer is trainable). As with `trainable`, a model compiled before a change needs
   * compiling again for `fit` to see it.
   */
  get kernelTrainable(): boolean {
    return this.trainKernel;
  }

  set kernelTrainable(value: boolean) {
    this.trainKernel = value;
    const own = [this.kernel, this.bias].filter((w): w is tf.LayerVariable => w !== null);
    for (const weight of own) weight.trainable = value;
    // A frozen weight must sit in the non-trainable list, not just carry a false flag:
    // setting any layer's or model's `trainable` (Sequential's build does) resets the flag
    // of every weight in the trainable list. This layer has no other non-trainable weight.
    const offsetWeights = this._trainableWeights.filter((w) => !own.includes(w));
    this._trainableWeights = value ? [...own, ...offsetWeights] : offsetWeights;
    this.nonTrainableWeights = value ? [] : own;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const [batch, height, width] = firstShape(inputShape);
    const [kh, kw] = this.kernelSize;
    return [
      batch,
      outputLength(height, kh, this.strides[0], this.dilationRate[0], this.padding),
      outputLength(width, kw, this.strides[1], this.dilationRate[1], this.padding),
      this.filters,
    ];
  }

  /**
   * The offset convolution. tfjs has no gradient for a dilated tf.conv2d (and allows no
   * stride with dilation), so a dilated one runs as deformConv2d with zero offsets.
   */
  private predictOffsets(x: tf.Tensor4D, kernel: tf.Tensor4D): tf.Tensor4D {
    const [dh, dw] = this.dilationRate;
    if (dh === 1 && dw === 1) return tf.conv2d(x, kernel, this.strides, this.padding);
    const [batch, height, width] = this.computeOutputShape(x.shape) as number[];
    const zeroOffsets = tf.zeros([batch, height, width, 2 * this.taps]) as tf.Tensor4D;
    return deformConv2d(x, zeroOffsets, kernel, { strides: this.strides, padding: this.padding, dilations: this.dilationRate });
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
      const read = (v: tf.LayerVariable | null) => (v as tf.LayerVariable).read();
      const predicted = tf.add(this.predictOffsets(x, read(this.offsetKernel) as tf.Tensor4D), read(this.offsetBias)) as tf.Tensor4D;
      const offsetCount = 2 * this.offsetGroups * this.taps;
      const [offsets, maskLogits] = this.modulated
        ? (tf.split(predicted, [offsetCount, this.offsetGroups * this.taps], 3) as tf.Tensor4D[])
        : [predicted, null];
      const mask = maskLogits === null ? null : tf.sigmoid(maskLogits);
      this.capture.record(offsets, mask);
      return deformConv2d(x, offsets, read(this.kernel) as tf.Tensor4D, {
        strides: this.strides,
        padding: this.padding,
        dilations: this.dilationRate,
        offsetGroups: this.offsetGroups,
        mask,
        bias: this.useBias ? (read(this.bias) as tf.Tensor1D) : null,
        maxColumnBytes: this.maxColumnBytes,
      });
    });
  }

  /**
   * Opt-in capture for visualisation, as ConvOffset2D's: while true, every call keeps a
   * copy of the offsets [B, Ho, Wo, 2*G*kh*kw] (and, modulated, the mask [B, Ho, Wo,
   * G*kh*kw], after the sigmoid) it used, replacing the previous copy; false drops it.
   */
  get captureOffsets(): boolean {
    return this.capture.enabled;
  }

  set captureOffsets(value: boolean) {
    this.capture.enabled = value;
  }

  /** The offsets of the last call made while capturing, or null. Owned by the layer, as ConvOffset2D's `lastOffsets`. */
  get lastOffsets(): tf.Tensor4D | null {
    return this.capture.offsets;
  }

  /** The mask of the last call made while capturing (null when not modulated or nothing captured). */
  get lastMask(): tf.Tensor4D | null {
    return this.capture.mask;
  }

  override dispose(): DisposeResult {
    const result = super.dispose();
    if (result.refCountAfterDispose === 0) this.capture.clear();
    return result;
  }

  override getConfig(): tf.serialization.ConfigDict {
    const config: tf.serialization.ConfigDict = {
      ...super.getConfig(),
      filters: this.filters,
      kernelSize: this.kernelSize,
      strides: this.strides,
      padding: this.padding,
      dilationRate: this.dilationRate,
      offsetGroups: this.offsetGroups,
      modulated: this.modulated,
      useBias: this.useBias,
      kernelInitializer: initializerConfig(this.kernelInitializer),
      biasInitializer: initializerConfig(this.biasInitializer),
      offsetInitializer: initializerConfig(this.offsetInitializer),
      kernelTrainable: this.trainKernel,
    };
    if (this.maxColumnBytes !== undefined) config.maxColumnBytes = this.maxColumnBytes;
    return config;
  }
}

tf.serialization.registerClass(DeformConv2D);

/** How deformConv2DFromConv2D makes the layer. */
export interface FromConv2DOptions {
  /** Name of the new layer; default the convolution's, so weight names stay "<name>/kernel" etc. */
  name?: string;
  /** DCNv2 (with a mask). Default false. */
  modulated?: boolean;
  /** Default 1. */
  offsetGroups?: number;
  /** Whether the copied kernel and bias keep learning. Default false: only the offsets (and mask) learn. */
  kernelTrainable?: boolean;
  /**
   * For a modulated layer, store 2x the convolution's kernel so that with the initial
   * mask of 0.5 the new layer computes exactly the convolution. Default true.
   */
  compensateMask?: boolean;
}

/**
 * A DeformConv2D that starts as exactly the trained tf.layers.conv2d `conv` (zero
 * offsets; see `compensateMask`): same filters, kernel size, strides, padding, dilation
 * and bias, the kernel and bias copied from it, the offset (and mask) convolution at zero.
 * Use it in place of `conv` in a new model: it takes the copied weights when the model
 * builds it (until then it holds a copy of them), and keeps no reference to `conv`.
 *
 * @param conv a built Conv2D layer (tfjs's or this package's), channelsLast, no activation.
 * @param options the new layer's name (default conv's), `modulated`, `offsetGroups`,
 *   `kernelTrainable` (default false: only the offsets learn), `compensateMask`.
 * @returns a DeformConv2D, not built yet.
 *
 * @example
 * import * as tf from '@tensorflow/tfjs';
 * import { deformConv2DFromConv2D } from 'deformconv';
 *
 * const conv = tf.layers.conv2d({ filters: 64, kernelSize: 3, padding: 'same', name: 'conv21' });
 * conv.apply(tf.input({ shape: [14, 14, 32] })); // built (trained, in practice)
 * const dcn = deformConv2DFromConv2D(conv, { modulated: true }); // named 'conv21' too
 * const x = tf.randomNormal([1, 14, 14, 32]);
 * // Until its offsets learn, it computes what conv computes:
 * tf.sub(dcn.apply(x) as tf.Tensor, conv.apply(x) as tf.Tensor).abs().max().print(); // ~0
 */
export function deformConv2DFromConv2D(conv: tf.layers.Layer, options: FromConv2DOptions = {}): DeformConv2D {
  const config = conv.getConfig();
  const where = `deformConv2DFromConv2D('${conv.name}')`;
  if (conv.getClassName() !== 'Conv2D' || !conv.built) {
    throw new InvalidInputError(`${where}: expects a built Conv2D layer, got a ${conv.built ? '' : 'not built '}${conv.getClassName()}`);
  }
  if ((config.dataFormat ?? 'channelsLast') !== 'channelsLast' || (config.activation ?? 'linear') !== 'linear') {
    throw new InvalidInputError(
      `${where}: only channelsLast convolutions without activation convert, ` +
        `got dataFormat ${config.dataFormat as string}, activation ${config.activation as string}`,
    );
  }
  const [kernel, bias] = conv.getWeights();
  const modulated = options.modulated ?? false;
  const layer = new DeformConv2D({
    name: options.name ?? conv.name,
    filters: config.filters as number,
    kernelSize: config.kernelSize as Pair,
    strides: config.strides as Pair,
    padding: config.padding as 'valid' | 'same',
    dilationRate: config.dilationRate as number | Pair,
    useBias: config.useBias as boolean,
    offsetGroups: options.offsetGroups,
    modulated,
    kernelTrainable: options.kernelTrainable ?? false,
  });
  const scale = modulated && (options.compensateMask ?? true) ? 2 : 1;
  // Kept copies: the convolution's variables may change or be disposed, and a caller's
  // tidy may end, before the build.
  pendingConvWeights.set(layer, {
    kernel: tf.keep(tf.tidy(() => tf.mul(kernel, scale))),
    bias: bias === undefined ? null : tf.keep(tf.clone(bias)),
  });
  return layer;
}
