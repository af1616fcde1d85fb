/**
 * The learned offsets of a deformable CNN, read out for pictures: each offset layer's
 * per-channel offsets combined into one field per image (the mean over channels), and
 * the CNN's geometry for the sampling-location tracer.
 */

import * as tf from '@tensorflow/tfjs';
import { UserError } from '../errors';
import { ConvOffset2D } from '../layers/conv_offset2d';
import { CONV_BLOCKS, forward, INPUT_SHAPE } from '../models/cnn';
import { OffsetField, sameOutputSize, TraceLayer } from './tracer';

/** How the pictures combine the per-channel offsets; their captions quote it. */
export const CHANNEL_COMBINATION = 'the mean offset over channels';

/** Offset fields of one image, by offset layer name ('conv12_offset', ...). */
export type OffsetFields = Record<string, OffsetField>;

export interface OffsetReadout {
  /** One entry per image. */
  fields: OffsetFields[];
  /** The model's class probabilities, one row per image. */
  probabilities: Float32Array[];
}

/**
 * The mean over channels of [B, H, W, 2C] offsets (dy, dx per channel) as one field per
 * batch entry.
 */
export function meanOffsetFields(offsets: tf.Tensor4D): OffsetField[] {
  const [batch, height, width, twoC] = offsets.shape;
  if (twoC % 2 !== 0) throw new UserError(`offsets must have an even last dimension (dy, dx per channel), got [${offsets.shape}]`);
  const mean = tf.tidy(() => tf.mean(tf.reshape(offsets, [batch, height, width, twoC / 2, 2]), 3));
  const data = mean.dataSync() as Float32Array;
  mean.dispose();
  const size = height * width * 2;
  return Array.from({ length: batch }, (_, b) => ({ height, width, data: data.slice(b * size, (b + 1) * size) }));
}

/** The offset layers of a model, in order. */
export function offsetLayers(model: tf.LayersModel): ConvOffset2D[] {
  return model.layers.filter((layer): layer is ConvOffset2D => layer instanceof ConvOffset2D);
}

/**
 * Runs `model` (inference mode) on `images` [N, 28, 28, 1] and returns every offset
 * layer's mean offset field per image, with the predictions.
 */
export function readOffsets(model: tf.LayersModel, images: tf.Tensor4D): OffsetReadout {
  const layers = offsetLayers(model);
  for (const layer of layers) layer.captureOffsets = true;
  try {
    const probs = tf.tidy(() => forward(model, images, false)) as tf.Tensor2D;
    const rows = probs.arraySync().map((row) => Float32Array.from(row));
    probs.dispose();
    const fields: OffsetFields[] = rows.map(() => ({}));
    for (const layer of layers) {
      const captured = layer.lastOffsets;
      if (captured === null) throw new Error(`offset layer '${layer.name}' captured nothing`);
      meanOffsetFields(captured).forEach((field, i) => {
        fields[i][layer.name] = field;
      });
    }
    return { fields, probabilities: rows };
  } finally {
    for (const layer of layers) layer.captureOffsets = false;
  }
}

/**
 * The reference CNN's conv12, conv21, conv22 as tracer layers, top (conv22) first, with
 * the offsets of their offset layers ('<conv>_offset') from `fields`, or rigid where
 * `fields` lacks them (the regular CNN: pass {}).
 */
export function cnnTraceLayers(fields: OffsetFields): TraceLayer[] {
  const layers: TraceLayer[] = [];
  let [height, width] = INPUT_SHAPE;
  for (const block of CONV_BLOCKS) {
    if (block.name !== 'conv11') {
      layers.push({
        name: block.name,
        stride: block.strides,
        inputHeight: height,
        inputWidth: width,
        offsets: fields[`${block.name}_offset`] ?? null,
      });
    }
    height = sameOutputSize(height, block.strides);
    width = sameOutputSize(width, block.strides);
  }
  return layers.reverse();
}

/** The size of the top layer's output (conv22: 7x7), where traced units live. */
export function cnnUnitGrid(): { rows: number; cols: number } {
  const top = cnnTraceLayers({})[0];
  return { rows: sameOutputSize(top.inputHeight, top.stride), cols: sameOutputSize(top.inputWidth, top.stride) };
}
