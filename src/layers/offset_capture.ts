/**
 * The opt-in capture of a deformable layer's offsets (and mask) for pictures, shared by
 * ConvOffset2D and DeformConv2D: off by default, so training holds no extra memory.
 */
import * as tf from '@tensorflow/tfjs';

/** What one call used: the offsets and, for a modulated layer, the mask. */
interface Captured {
  offsets: tf.Tensor4D;
  mask: tf.Tensor4D | null;
}

/** Holds copies of the last captured call's offsets and mask; owns and disposes them. */
export class OffsetCapture {
  private captured: Captured | null = null;
  private capturing = false;

  /** While true, `record` keeps copies; setting it to false drops the copies held. */
  get enabled(): boolean {
    return this.capturing;
  }

  set enabled(value: boolean) {
    this.capturing = value;
    if (!value) this.clear();
  }

  /** The offsets of the last recorded call, or null. */
  get offsets(): tf.Tensor4D | null {
    return this.captured?.offsets ?? null;
  }

  /** The mask of the last recorded call (null when it had none or nothing was recorded). */
  get mask(): tf.Tensor4D | null {
    return this.captured?.mask ?? null;
  }

  /**
   * When enabled, keeps copies of a call's offsets and mask (kept out of the caller's
   * tidy), replacing and disposing the previous ones.
   */
  record(offsets: tf.Tensor4D, mask: tf.Tensor4D | null = null): void {
    if (!this.capturing) return;
    this.replace({ offsets: tf.keep(tf.clone(offsets)), mask: mask === null ? null : tf.keep(tf.clone(mask)) });
  }

  /** Disposes the copies held. */
  clear(): void {
    this.replace(null);
  }

  private replace(captured: Captured | null): void {
    if (this.captured !== null) tf.dispose([this.captured.offsets, this.captured.mask ?? []]);
    this.captured = captured;
  }
}
