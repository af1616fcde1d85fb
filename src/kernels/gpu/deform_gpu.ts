/**
 * The deformable kernels on GPU backends (webgl, webgpu), written once over the programs
 * each backend compiles in its own shading language. Every output is one program:
 *
 * - a gather: one invocation per output element, reading what it needs (the samples,
 *   the gradients with respect to offsets and mask);
 * - a scatter: one invocation per sample, adding its shares to its four corners in a
 *   zeroed output (the gradient with respect to the input image, whose pixels receive
 *   from samples anywhere: offsets are unbounded).
 *
 * deformSample is a deformable im2col with a 1x1 kernel and each channel its own offset
 * group, but for its border ('clip' there, 'zero' in deformConv2d): its output is those
 * columns, and its gradients those of col2im, so both ops run the same four programs.
 */
import * as tf from '@tensorflow/tfjs';
import { columnsShape, DEFORM_COL2IM, DEFORM_IM2COL, DEFORM_SAMPLE, DEFORM_SAMPLE_GRAD, DeformConvGeometry } from '../kernel_names';
import { kernelResult } from '../typed/typed_kernel';

/**
 * The programs, named by the output they make: the columns (deformConv2d's im2col, or
 * deformSample's output viewed as [B*H*W, C]), and the gradients with respect to the
 * offsets, the mask and the input image, from the columns' gradient.
 */
export type DeformProgram = 'columns' | 'offsetsGrad' | 'maskGrad' | 'inputGrad';

/**
 * How a sample outside the image reads: 'clip' clamps it to the border (deformSample),
 * 'zero' reads zeros (deformConv2d, torchvision's semantics).
 */
export type Border = 'clip' | 'zero';

/** One program to run: its inputs by the names its source reads them by. */
export interface ProgramCall {
  program: DeformProgram;
  border: Border;
  inputs: Record<string, tf.TensorInfo>;
  outputShape: number[];
  geometry: DeformConvGeometry;
}

/** What a backend supplies: how to run a gather and a scatter program on it. */
export interface GpuPrograms<Backend> {
  backendName: string;
  /** Runs `call.program` once per output element. */
  gather(backend: Backend, call: ProgramCall): tf.TensorInfo;
  /** Runs `call.program` once per sample (element of the columns' gradient), summing its corners' shares into a zeroed output. */
  scatter(backend: Backend, call: ProgramCall): tf.TensorInfo;
}

/** deformSample's geometry: a 1x1 kernel, stride 1, and each channel its own offset group. */
export function sampleGeometry([, height, width, channels]: number[]): DeformConvGeometry {
  return {
    inHeight: height,
    inWidth: width,
    inChannels: channels,
    outHeight: height,
    outWidth: width,
    kernelHeight: 1,
    kernelWidth: 1,
    strideHeight: 1,
    strideWidth: 1,
    dilationHeight: 1,
    dilationWidth: 1,
    padTop: 0,
    padLeft: 0,
    offsetGroups: channels,
  };
}

/**
 * The integer constants the shader sources are written against, from a geometry:
 * input and output sizes, the kernel's width and tap count, strides, dilations, padding,
 * and the channels per offset group.
 */
export function shaderConstants(g: DeformConvGeometry): Array<[string, number]> {
  return Object.entries({
    IN_H: g.inHeight,
    IN_W: g.inWidth,
    IN_C: g.inChannels,
    OUT_H: g.outHeight,
    OUT_W: g.outWidth,
    K_W: g.kernelWidth,
    TAPS: g.kernelHeight * g.kernelWidth,
    GROUP_C: g.inChannels / g.offsetGroups,
    STRIDE_H: g.strideHeight,
    STRIDE_W: g.strideWidth,
    DIL_H: g.dilationHeight,
    DIL_W: g.dilationWidth,
    PAD_T: g.padTop,
    PAD_L: g.padLeft,
  });
}

/** A key naming a call's source: its program, border, inputs and constants. */
export function sourceKey(call: ProgramCall): string {
  const constants = shaderConstants(call.geometry).map(([, value]) => value);
  return ['deform', call.program, call.border, ...Object.keys(call.inputs), ...constants].join('_');
}

function shapeOf(info: tf.TensorInfo | undefined): number[] {
  return (info as tf.TensorInfo).shape;
}

/** The kernels of a GPU backend, by this package's kernel names, ready for tf.registerKernel. */
export function deformKernelConfigs<Backend>(gpu: GpuPrograms<Backend>): tf.KernelConfig[] {
  const kernel = (
    kernelName: string,
    compute: (run: Runner, inputs: KernelInputs, attrs: tf.NamedAttrMap) => tf.TensorInfo[],
  ): tf.KernelConfig => ({
    kernelName,
    backendName: gpu.backendName,
    kernelFunc: ({ inputs, backend, attrs = {} }) => kernelResult(compute(runner(gpu, backend as Backend), inputs as KernelInputs, attrs)),
  });
  return [
    kernel(DEFORM_SAMPLE, (run, { x, offsets }) => {
      const [batch, height, width, channels] = shapeOf(x);
      const call = { program: 'columns', border: 'clip', geometry: sampleGeometry(shapeOf(x)) } as const;
      const columns = run.gather({ ...call, inputs: { x, offsets }, outputShape: [batch * height * width, channels] });
      return [run.reshape(columns, shapeOf(x), true)];
    }),
    kernel(DEFORM_SAMPLE_GRAD, (run, { dy, x, offsets }) => {
      const [batch, height, width, channels] = shapeOf(x);
      const dColumns = run.reshape(dy, [batch * height * width, channels], false);
      const call = { border: 'clip', geometry: sampleGeometry(shapeOf(x)) } as const;
      const grads = [
        run.scatter({ ...call, program: 'inputGrad', inputs: { dColumns, offsets }, outputShape: shapeOf(x) }),
        run.gather({ ...call, program: 'offsetsGrad', inputs: { dColumns, x, offsets }, outputShape: shapeOf(offsets) }),
      ];
      run.dispose(dColumns);
      return grads;
    }),
    kernel(DEFORM_IM2COL, (run, { x, offsets, mask }, attrs) => {
      const geometry = attrs as unknown as DeformConvGeometry;
      const outputShape = columnsShape(shapeOf(x)[0], geometry);
      return [run.gather({ program: 'columns', border: 'zero', inputs: withMask({ x, offsets }, mask), outputShape, geometry })];
    }),
    kernel(DEFORM_COL2IM, (run, { dColumns, x, offsets, mask }, attrs) => {
      const call = { border: 'zero', geometry: attrs as unknown as DeformConvGeometry } as const;
      const reads = withMask({ dColumns, x, offsets }, mask);
      const grads = [
        run.scatter({ ...call, program: 'inputGrad', inputs: withMask({ dColumns, offsets }, mask), outputShape: shapeOf(x) }),
        run.gather({ ...call, program: 'offsetsGrad', inputs: reads, outputShape: shapeOf(offsets) }),
      ];
      if (mask !== undefined) grads.push(run.gather({ ...call, program: 'maskGrad', inputs: reads, outputShape: shapeOf(mask) }));
      return grads;
    }),
  ];
}

/** A kernel's inputs; only the mask may be absent. */
type KernelInputs = Record<string, tf.TensorInfo> & { mask?: tf.TensorInfo };

/** A backend's programs bound to its instance, with the backend's own reshape. */
interface Runner {
  gather(call: ProgramCall): tf.TensorInfo;
  scatter(call: ProgramCall): tf.TensorInfo;
  /** The backend's Reshape kernel; `consume` frees the input (an intermediate) afterwards. */
  reshape(info: tf.TensorInfo, shape: number[], consume: boolean): tf.TensorInfo;
  dispose(info: tf.TensorInfo): void;
}

function runner<Backend>(gpu: GpuPrograms<Backend>, backend: Backend): Runner {
  const kernelBackend = backend as unknown as tf.KernelBackend;
  const dispose = (info: tf.TensorInfo) => kernelBackend.disposeData(info.dataId);
  return {
    gather: (call) => gpu.gather(backend, call),
    scatter: (call) => gpu.scatter(backend, call),
    reshape: (x, shape, consume) => {
      const reshape = tf.getKernel('Reshape', gpu.backendName) as tf.KernelConfig;
      const result = reshape.kernelFunc({ inputs: { x }, backend: kernelBackend, attrs: { shape } }) as tf.TensorInfo;
      if (consume) dispose(x);
      return result;
    },
    dispose,
  };
}

function withMask(inputs: Record<string, tf.TensorInfo>, mask: tf.TensorInfo | undefined): Record<string, tf.TensorInfo> {
  return mask === undefined ? inputs : { ...inputs, mask };
}
