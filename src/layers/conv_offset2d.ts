/**
 * ConvOffset2D: the reference's deformable offset layer (docs/EXPERIMENT.md, "The offset
 * layer"), with aligned offsets. A 3x3 'same' convolution without bias learns, for every
 * pixel and channel, an offset (dy, dx); each channel is then bilinearly resampled at its
 * offset positions (deformSample). The output has the input's shape.
 */
import * as tf from '@tensorflow/tfjs';
import { InvalidInputError } from '../errors';
import { deformSample } from '../ops/deform_sample';
import { Initializer, InitializerSpec, initializerConfig, toInitializer } from './initializers';
import { OffsetCapture } from './offset_capture';

type LayerArgs = NonNullable<ConstructorParameters<typeof tf.layers.Layer>[0]>;
type DisposeResult = ReturnType<tf.layers.Layer['dispose']>;

/** ConvOffset2D's constructor arguments: tf.layers' common ones (name, trainable, ...) and these. */
export interface ConvOffset2DArgs extends LayerArgs {
  /** The number of input channels C (the offset convolution has 2C output channels). */
  filters: number;
  /**
   * Initialiser of the offset convolution's [3, 3, C, 2C] kernel: an instance, its name,
   * or its serialized form { className, config }. Default RandomNormal(mean 0, stddev 0.01):
   * not zeros, so the offsets start off the integer grid as in the reference.
   */
  kernelInitializer?: InitializerSpec;
}

const KERNEL_SIZE = 3;

/**
 * The reference's deformable offset layer: a 3x3 'same' convolution without bias
 * predicts, at every pixel, one (dy, dx) per input channel; each channel is then
 * bilinearly resampled at its shifted positions, clipped to the image (deformSample).
 * Put it in front of an ordinary convolution to deform that convolution's sampling grid.
 *
 * - Input: float32 [B, H, W, C] with C = `filters`. Output: the same shape.
 * - Weights: `kernel` [3, 3, C, 2C], RandomNormal(0, 0.01) by default, the reference's
 *   initialiser (with its floor/ceil corners, zero offsets got no gradient and never moved;
 *   this layer's floor/floor+1 corners give them one, but the start stays the reference's).
 * - `captureOffsets` / `lastOffsets` read out the offsets of a call, for pictures.
 * - Serialises as 'ConvOffset2D' (registered when this module loads).
 *
 * @example
 * import * as tf from '@tensorflow/tfjs';
 * import { ConvOffset2D } from 'deformconv';
 *
 * const layer = new ConvOffset2D({ filters: 32, name: 'conv12_offset' });
 * const y = layer.apply(tf.randomNormal([2, 28, 28, 32])) as tf.Tensor; // [2, 28, 28, 32]
 * layer.getWeights()[0].shape; // [3, 3, 32, 64]
 *
 * // In a model: in front of the convolution whose sampling it deforms.
 * const model = tf.sequential({
 *   layers: [
 *     tf.layers.inputLayer({ inputShape: [28, 28, 32] }),
 *     new ConvOffset2D({ filters: 32 }),
 *     tf.layers.conv2d({ filters: 64, kernelSize: 3, strides: 2, padding: 'same' }),
 *   ],
 * });
 */
export class ConvOffset2D extends tf.layers.Layer {
  /** The name the layer serialises under. */
  static readonly className = 'ConvOffset2D';

  /** The number of input channels C (the offset convolution has 2C outputs). */
  readonly filters: number;
  /** Initialiser of the offset convolution's kernel. */
  readonly kernelInitializer: Initializer;
  private kernel: tf.LayerVariable | null = null;
  private readonly capture = new OffsetCapture();

  /** Throws InvalidInputError when `filters` is not a positive integer or the initialiser is unknown. */
  constructor(args: ConvOffset2DArgs) {
    super(args);
    if (!Number.isInteger(args.filters) || args.filters < 1) {
      throw new InvalidInputError(`ConvOffset2D: filters must be a positive integer (the input channels), got ${args.filters}`);
    }
    this.filters = args.filters;
    this.kernelInitializer = toInitializer(
      args.kernelInitializer,
      () => tf.initializers.randomNormal({ mean: 0, stddev: 0.01 }),
      'ConvOffset2D kernelInitializer',
    );
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    if (shape.length !== 4 || shape[3] !== this.filters) {
      throw new InvalidInputError(
        `ConvOffset2D '${this.name}': expects input [batch, height, width, ${this.filters}], got [${shape.map(String).join(', ')}]`,
      );
    }
    this.kernel = this.addWeight(
      'kernel',
      [KERNEL_SIZE, KERNEL_SIZE, this.filters, 2 * this.filters],
      'float32',
      this.kernelInitializer,
      undefined,
      true,
    );
    this.built = true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape | tf.Shape[] {
    return inputShape;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
      const kernel = (this.kernel as tf.LayerVariable).read() as tf.Tensor4D;
      const offsets = tf.conv2d(x, kernel, 1, 'same');
      this.capture.record(offsets);
      return deformSample(x, offsets);
    });
  }

  /**
   * Opt-in capture of the offsets for visualisation. While true, every call keeps a copy
   * of the [B, H, W, 2C] offsets it used, replacing (and disposing) the previous one;
   * setting it to false drops the copy. Off by default, so training holds no extra memory.
   */
  get captureOffsets(): boolean {
    return this.capture.enabled;
  }

  set captureOffsets(value: boolean) {
    this.capture.enabled = value;
  }

  /**
   * The offsets of the last call made while `captureOffsets` was on, or null. Owned by
   * the layer: valid until the next call or until capture is switched off or the layer is
   * disposed; clone it to keep it longer.
   */
  get lastOffsets(): tf.Tensor4D | null {
    return this.capture.offsets;
  }

  override dispose(): DisposeResult {
    const result = super.dispose();
    if (result.refCountAfterDispose === 0) {
      this.capture.clear();
    }
    return result;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      filters: this.filters,
      kernelInitializer: initializerConfig(this.kernelInitializer),
    };
  }
}

tf.serialization.registerClass(ConvOffset2D);
