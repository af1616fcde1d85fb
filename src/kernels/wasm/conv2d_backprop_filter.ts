/**
 * Conv2DBackpropFilter for wasm (NHWC), which tfjs 4.22 lacks there.
 *
 *   dW[kh, kw, ci, co] = sum over b, oh, ow of
 *                        xPadded[b, oh*sh + kh*dh, ow*sw + kw*dw, ci] * dy[b, oh, ow, co]
 *
 * is itself a convolution: take x as a batch of Ci single images [H, W] with B channels
 * ([Ci, H, W, B]) and dy as a filter with OH x OW taps, B inputs and Co outputs
 * ([OH, OW, B, Co]); the forward stride becomes the dilation and the forward dilation
 * the stride. One XNNPACK convolution then does all the multiplications, at about the
 * speed of the forward pass (an im2col + BatchMatMul takes several times longer here).
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import {
  WASM,
  WasmKernelArgs,
  assertChannelsLast,
  dilationPair,
  disposeInfos,
  explicitPad,
  runWasmKernel,
} from './wasm_kernel_util';

/**
 * x [B, H, W, C] -> [C, H, W, B] as a 2-D transpose [B, H*W*C] -> [H*W*C, B] and a
 * block transpose moving whole B-runs: several times faster than tfjs's 4-D transpose,
 * which slows down badly at power-of-two strides.
 */
function channelsToBatch(backend: BackendWasm, x: tf.TensorInfo): tf.TensorInfo {
  const [batch, height, width, channels] = x.shape;
  const pixels = height * width;
  const flat = runWasmKernel(backend, 'Transpose', { x: { ...x, shape: [batch, pixels * channels] } }, { perm: [1, 0] });
  const blocks = runWasmKernel(backend, 'Transpose', { x: { ...flat, shape: [pixels, channels, batch] } }, { perm: [1, 0, 2] });
  disposeInfos(backend, flat);
  return { ...blocks, shape: [channels, height, width, batch] };
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
  const { filterHeight, filterWidth, inChannels, outChannels, padInfo } = info;
  // Pad the bottom/right only as far as the last window reaches: the convolution then
  // yields exactly filterHeight x filterWidth taps (more only where x has unread rows).
  const reachH = (dy.shape[1] - 1) * info.strideHeight + (filterHeight - 1) * info.dilationHeight + 1;
  const reachW = (dy.shape[2] - 1) * info.strideWidth + (filterWidth - 1) * info.dilationWidth + 1;
  const padBottom = Math.max(reachH - info.inHeight - padInfo.top, 0);
  const padRight = Math.max(reachW - info.inWidth - padInfo.left, 0);

  const xByChannel = channelsToBatch(backend, x);
  const dyAsFilter = runWasmKernel(backend, 'Transpose', { x: dy }, { perm: [1, 2, 0, 3] });
  let taps = runWasmKernel(backend, 'Conv2D', { x: xByChannel, filter: dyAsFilter }, {
    strides: [info.dilationHeight, info.dilationWidth],
    dilations: [info.strideHeight, info.strideWidth],
    pad: explicitPad(padInfo.top, padBottom, padInfo.left, padRight),
    dataFormat: 'NHWC',
  });
  disposeInfos(backend, xByChannel, dyAsFilter);
  if (taps.shape[1] !== filterHeight || taps.shape[2] !== filterWidth) {
    const cropped = runWasmKernel(backend, 'Slice', { x: taps }, {
      begin: [0, 0, 0, 0],
      size: [inChannels, filterHeight, filterWidth, outChannels],
    });
    disposeInfos(backend, taps);
    taps = cropped;
  }
  const dw = runWasmKernel(backend, 'Transpose', { x: taps }, { perm: [1, 2, 0, 3] });
  disposeInfos(backend, taps);
  return dw;
}

export const conv2DBackpropFilterConfig: tf.KernelConfig = {
  kernelName: tf.Conv2DBackpropFilter,
  backendName: WASM,
  kernelFunc: conv2DBackpropFilter as unknown as tf.KernelFunc,
};
