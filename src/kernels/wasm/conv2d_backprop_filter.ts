/**
 * Conv2DBackpropFilter for wasm (NHWC), which tfjs 4.22 lacks there.
 *
 *   dW[kh, kw, ci, co] = sum over b, oh, ow of
 *                        xPadded[b, oh*sh + kh*dh, ow*sw + kw*dw, ci] * dy[b, oh, ow, co]
 *
 * is one matrix product colsT x dy: colsT [kh*kw*Ci, B*OH*OW] holds, row by row, what
 * each tap (kh, kw, ci) reads at every output position (im2col, transposed), and dy is
 * [B*OH*OW, Co]. The product comes out in dW's own layout; colsT is written by a SIMD-module
 * loop (conv_kernels.wat). The product is the SIMD module's own where Co % 8 == 0 (colsT padded
 * with rows to a multiple of 4), else XNNPACK's, which packs dy on every call: conv11 of
 * the experiment (1 -> 32 channels, batch 16), 1.8 ms a step against 0.4 for the rest.
 * Measured on conv21 of the experiment (14x14, 64->128, batch 32): 31 ms, against
 * 41 ms for the same sum as one XNNPACK convolution with dy as a 14x14 filter, and
 * the forward convolution's 25 ms.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import {
  WASM,
  accumulate,
  WasmKernelArgs,
  assertChannelsLast,
  dilationPair,
  disposeInfos,
  float32View,
  runWasmKernel,
} from './wasm_kernel_util';
import { TapWindow, im2colTap, matrixProduct } from './simd/conv_kernels';
import { winogradFilterGrad, winogradGeometry } from './winograd';

/** Largest colsT buffer, in floats (64 MiB): larger batches are processed in chunks. */
const MAX_COLUMN_FLOATS = 16 * 1024 * 1024;

/** x [B, H, W, C] -> [C, B, H, W]: one 2-D transpose, so each channel's image rows are contiguous. */
function channelsFirst(backend: BackendWasm, x: tf.TensorInfo): tf.TensorInfo {
  const [batch, height, width, channels] = x.shape;
  const flat = runWasmKernel(backend, 'Transpose', { x: { ...x, shape: [batch * height * width, channels] } }, { perm: [1, 0] });
  return { ...flat, shape: [channels, batch, height, width] };
}

/** Output positions [lo, hi) whose input index o * stride + offset lies in [0, inSize). */
function insideRange(outSize: number, inSize: number, stride: number, offset: number): [number, number] {
  const lo = Math.min(outSize, Math.max(0, Math.ceil(-offset / stride)));
  const hi = Math.max(lo, Math.min(outSize, Math.ceil((inSize - offset) / stride)));
  return [lo, hi];
}

/** Where each kernel tap (kh, kw), in row-major order, reads the input. */
function tapWindows(info: tf.backend_util.Conv2DInfo): TapWindow[] {
  const windows: TapWindow[] = [];
  for (let kh = 0; kh < info.filterHeight; kh++) {
    for (let kw = 0; kw < info.filterWidth; kw++) {
      const rowOffset = kh * info.dilationHeight - info.padInfo.top;
      const colOffset = kw * info.dilationWidth - info.padInfo.left;
      const [yLo, yHi] = insideRange(info.outHeight, info.inHeight, info.strideHeight, rowOffset);
      const [xLo, xHi] = insideRange(info.outWidth, info.inWidth, info.strideWidth, colOffset);
      windows.push({ rowOffset, colOffset, yLo, yHi, xLo, xHi });
    }
  }
  return windows;
}

/** The first `taps` rows of the product [paddedTaps, Co] (itself when nothing was padded; else it is freed). */
function tapRowsOf(backend: BackendWasm, product: tf.TensorInfo, taps: number): tf.TensorInfo {
  const [padded, outChannels] = product.shape;
  if (padded === taps) return product;
  const top = runWasmKernel(backend, 'Slice', { x: product }, { begin: [0, 0], size: [taps, outChannels] });
  disposeInfos(backend, product);
  return top;
}

function conv2DBackpropFilter({ inputs, backend, attrs }: WasmKernelArgs): tf.TensorInfo {
  const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  assertChannelsLast(tf.Conv2DBackpropFilter, dataFormat);
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filterShape,
    strides,
    dilationPair(attrs?.dilations),
    pad,
    dimRoundingMode,
  );
  const winograd = winogradGeometry(info);
  if (winograd !== null) return winogradFilterGrad(backend, x, dy, winograd);
  const { batchSize, outHeight, outWidth, outChannels } = info;
  const taps = filterShape[0] * filterShape[1] * filterShape[2];
  const positions = outHeight * outWidth;
  const chunk = Math.max(1, Math.min(batchSize, Math.floor(MAX_COLUMN_FLOATS / (taps * positions))));

  const ownProduct = outChannels % 8 === 0;
  const paddedTaps = ownProduct ? 4 * Math.ceil(taps / 4) : taps;
  const windows = tapWindows(info);
  const xT = channelsFirst(backend, x);
  let dw: tf.TensorInfo | null = null;
  for (let first = 0; first < batchSize; first += chunk) {
    const count = Math.min(chunk, batchSize - first);
    const rows = count * positions;
    // The padding rows stay unwritten: they reach only the product's rows that tapRowsOf drops.
    const colsT = backend.makeOutput([1, paddedTaps, rows], 'float32');
    const dyRows =
      count === batchSize
        ? { ...dy, shape: [1, rows, outChannels] }
        : runWasmKernel(
            backend,
            'Slice',
            { x: { ...dy, shape: [1, batchSize * positions, outChannels] } },
            {
              begin: [0, first * positions, 0],
              size: [1, rows, outChannels],
            },
          );
    const tapRows = info.inChannels * rows;
    windows.forEach((tap, t) =>
      im2colTap(backend, xT, colsT, t * tapRows, first, count, outHeight, outWidth, [info.strideHeight, info.strideWidth], tap),
    );
    const part = ownProduct
      ? tapRowsOf(backend, matrixProduct(backend, colsT, dyRows, [paddedTaps, rows, outChannels]), taps)
      : runWasmKernel(backend, 'BatchMatMul', { a: colsT, b: dyRows }, { transposeA: false, transposeB: false });
    disposeInfos(backend, colsT);
    if (count !== batchSize) disposeInfos(backend, dyRows);
    dw = accumulate(backend, dw, part);
  }
  disposeInfos(backend, xT);
  if (dw === null) {
    // An empty batch: no terms in the sum.
    dw = backend.makeOutput([...filterShape], 'float32');
    float32View(backend, dw).fill(0);
  }
  return { ...dw, shape: [...filterShape] };
}

export const conv2DBackpropFilterConfig: tf.KernelConfig = {
  kernelName: tf.Conv2DBackpropFilter,
  backendName: WASM,
  kernelFunc: conv2DBackpropFilter as unknown as tf.KernelFunc,
};
