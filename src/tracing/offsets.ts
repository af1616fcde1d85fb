/**
 * The learned offsets of a deformable CNN, read out for pictures: each offset layer's
 * per-channel offsets combined into one field per image (the mean over channels), or
 * each DeformConv2D layer's per-tap offsets (and mask) as they are, and the CNN's
 * geometry for the sampling-location tracer.
 */

import * as tf from '@tensorflow/tfjs';
import { InvalidInputError } from '../errors';
import { ConvOffset2D } from '../layers/conv_offset2d';
import { DeformConv2D } from '../layers/deform_conv2d_layer';
import { CONV_BLOCKS, DeformType, forward, INPUT_SHAPE } from '../models/cnn';
import { OffsetField, sameOutputSize, TapOffsetField, TraceLayer } from './tracer';

/** How the pictures combine the per-channel offsets; their captions quote it. */
export const CHANNEL_COMBINATION = 'the mean offset over channels';

/** Offset fields of one image, by offset layer name ('conv12_offset', ...). */
export type OffsetFields = Record<string, OffsetField>;

/** Per-tap offsets of one image, by DeformConv2D layer name ('conv12', ...). */
export type TapOffsetFields = Record<string, TapOffsetField>;

/** What readOffsets reads out of a deformable CNN for a batch of images. */
export interface OffsetReadout {
  /** One entry per image: the offset layers' fields (a 'seed' deformable CNN; else empty). */
  fields: OffsetFields[];
  /** One entry per image: the DeformConv2D layers' offsets (a dcn or dcnv2 CNN; else empty). */
  tapFields: TapOffsetFields[];
  /** The model's class probabilities, one row per image. */
  probabilities: Float32Array[];
}

/**
 * The mean over channels of [B, H, W, 2C] offsets (dy, dx per channel) as one field per
 * batch entry.
 */
export function meanOffsetFields(offsets: tf.Tensor4D): OffsetField[] {
  const mean = channelMean(offsets);
  const fields = fieldsFrom(mean.dataSync() as Float32Array, mean.shape);
  mean.dispose();
  return fields;
}

/** [B, H, W, 2C] offsets averaged over the C channels: [B, H, W, 2]. */
function channelMean(offsets: tf.Tensor4D): tf.Tensor4D {
  const [batch, height, width, twoC] = offsets.shape;
  if (twoC % 2 !== 0) throw new InvalidInputError(`offsets must have an even last dimension (dy, dx per channel), got [${offsets.shape}]`);
  return tf.tidy(() => tf.mean(tf.reshape(offsets, [batch, height, width, twoC / 2, 2]), 3) as tf.Tensor4D);
}

/** [B, H, W, 2] values as one field per batch entry. */
function fieldsFrom(data: Float32Array, [batch, height, width]: number[]): OffsetField[] {
  const size = height * width * 2;
  return Array.from({ length: batch }, (_, b) => ({ height, width, data: data.slice(b * size, (b + 1) * size) }));
}

/**
 * [B, Ho, Wo, 18] per-tap offsets of a 3x3 DeformConv2D (and its [B, Ho, Wo, 9] mask, or
 * null) as one TapOffsetField per batch entry.
 */
export function tapOffsetFields(offsets: tf.Tensor4D, mask: tf.Tensor4D | null): TapOffsetField[] {
  checkTapShapes(offsets, mask);
  return tapFieldsFrom(offsets.dataSync() as Float32Array, mask === null ? null : (mask.dataSync() as Float32Array), offsets.shape);
}

function checkTapShapes(offsets: tf.Tensor4D, mask: tf.Tensor4D | null): void {
  const [batch, height, width, channels] = offsets.shape;
  if (channels !== 18 || (mask !== null && !tf.util.arraysEqual(mask.shape, [batch, height, width, 9]))) {
    throw new InvalidInputError(
      `per-tap offsets must be [B, Ho, Wo, 18] with mask [B, Ho, Wo, 9] (a 3x3 DeformConv2D, one offset group), ` +
        `got [${offsets.shape}]${mask === null ? '' : ` and [${mask.shape}]`}`,
    );
  }
}

function tapFieldsFrom(data: Float32Array, masks: Float32Array | null, [batch, height, width]: number[]): TapOffsetField[] {
  const size = height * width;
  return Array.from({ length: batch }, (_, b) => ({
    height,
    width,
    data: data.slice(b * size * 18, (b + 1) * size * 18),
    ...(masks === null ? {} : { mask: masks.slice(b * size * 9, (b + 1) * size * 9) }),
  }));
}

/** The offset layers of a model, in order. */
export function offsetLayers(model: tf.LayersModel): ConvOffset2D[] {
  return model.layers.filter((layer): layer is ConvOffset2D => layer instanceof ConvOffset2D);
}

/** The DeformConv2D layers of a model, in order. */
export function deformConvLayers(model: tf.LayersModel): DeformConv2D[] {
  return model.layers.filter((layer): layer is DeformConv2D => layer instanceof DeformConv2D);
}

/** How a model deforms its convolutions (as buildDeformCnn's deformType), or null: no offsets at all. */
export function modelDeformType(model: tf.LayersModel): DeformType | null {
  const deformConvs = deformConvLayers(model);
  if (deformConvs.length > 0) return deformConvs.some((layer) => layer.modulated) ? 'dcnv2' : 'dcn';
  return offsetLayers(model).length > 0 ? 'seed' : null;
}

/** What a readout reads from the model: the predictions and each deforming layer's offsets, as tensors. */
interface CapturedOffsets {
  probabilities: tf.Tensor2D;
  /** An offset layer's channel-mean offsets [B, H, W, 2], or a DeformConv2D's per-tap offsets [B, Ho, Wo, 18] and mask. */
  layers: { name: string; perTap: boolean; offsets: tf.Tensor4D; mask: tf.Tensor4D | null }[];
}

/**
 * Runs `model` (inference mode) on `images` [N, 28, 28, 1] and returns every offset
 * layer's mean offset field and every DeformConv2D layer's per-tap offsets, per image,
 * with the predictions. Reads synchronously: readOffsetsAsync is for GPU backends.
 */
export function readOffsets(model: tf.LayersModel, images: tf.Tensor4D): OffsetReadout {
  const captured = captureOffsets(model, images);
  try {
    return assembleReadout(
      captured,
      capturedTensors(captured).map((t) => t.dataSync() as Float32Array),
    );
  } finally {
    disposeCaptured(captured);
  }
}

/** readOffsets, reading the values asynchronously (webgl and webgpu stall, or fail, on synchronous reads). */
export async function readOffsetsAsync(model: tf.LayersModel, images: tf.Tensor4D): Promise<OffsetReadout> {
  const captured = captureOffsets(model, images);
  try {
    return assembleReadout(captured, (await Promise.all(capturedTensors(captured).map((t) => t.data()))) as Float32Array[]);
  } finally {
    disposeCaptured(captured);
  }
}

function captureOffsets(model: tf.LayersModel, images: tf.Tensor4D): CapturedOffsets {
  const layers = [...offsetLayers(model), ...deformConvLayers(model)];
  for (const layer of layers) layer.captureOffsets = true;
  try {
    const probabilities = tf.tidy(() => forward(model, images, false)) as tf.Tensor2D;
    return {
      probabilities,
      layers: layers.map((layer) => {
        const captured = layer.lastOffsets;
        if (captured === null) throw new Error(`offset layer '${layer.name}' captured nothing`);
        if (!(layer instanceof DeformConv2D)) return { name: layer.name, perTap: false, offsets: channelMean(captured), mask: null };
        checkTapShapes(captured, layer.lastMask);
        return { name: layer.name, perTap: true, offsets: tf.clone(captured), mask: layer.lastMask && tf.clone(layer.lastMask) };
      }),
    };
  } finally {
    for (const layer of layers) layer.captureOffsets = false;
  }
}

/** The tensors to read, in the order assembleReadout takes their values. */
function capturedTensors(captured: CapturedOffsets): tf.Tensor[] {
  return [captured.probabilities, ...captured.layers.flatMap((l) => (l.mask === null ? [l.offsets] : [l.offsets, l.mask]))];
}

function assembleReadout(captured: CapturedOffsets, values: Float32Array[]): OffsetReadout {
  const [rows, classes] = captured.probabilities.shape;
  const probabilities = Array.from({ length: rows }, (_, i) => values[0].slice(i * classes, (i + 1) * classes));
  const fields: OffsetFields[] = probabilities.map(() => ({}));
  const tapFields: TapOffsetFields[] = probabilities.map(() => ({}));
  let next = 1;
  for (const layer of captured.layers) {
    const offsets = values[next++];
    if (layer.perTap) {
      const mask = layer.mask === null ? null : values[next++];
      tapFieldsFrom(offsets, mask, layer.offsets.shape).forEach((field, i) => (tapFields[i][layer.name] = field));
    } else {
      fieldsFrom(offsets, layer.offsets.shape).forEach((field, i) => (fields[i][layer.name] = field));
    }
  }
  return { fields, tapFields, probabilities };
}

function disposeCaptured(captured: CapturedOffsets): void {
  tf.dispose(capturedTensors(captured));
}

/**
 * The reference CNN's conv12, conv21, conv22 as tracer layers, top (conv22) first, with
 * the offsets of their offset layers ('<conv>_offset') from `fields`, or their own
 * per-tap offsets (DeformConv2D layers '<conv>') from `tapFields`, or rigid where both
 * lack them (the regular CNN: pass {}).
 */
export function cnnTraceLayers(fields: OffsetFields, tapFields: TapOffsetFields = {}): TraceLayer[] {
  const layers: TraceLayer[] = [];
  let [height, width] = INPUT_SHAPE;
  for (const block of CONV_BLOCKS) {
    if (block.name !== 'conv11') {
      const tapOffsets = tapFields[block.name];
      layers.push({
        name: block.name,
        stride: block.strides,
        inputHeight: height,
        inputWidth: width,
        offsets: fields[`${block.name}_offset`] ?? null,
        ...(tapOffsets === undefined ? {} : { tapOffsets }),
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
