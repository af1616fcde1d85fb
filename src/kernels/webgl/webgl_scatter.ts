/**
 * The scatter-add of the webgl kernels (the gradient with respect to the input image):
 * additive blending of points into a float32 render target. Each sample is one vertex
 * of a point draw: a 2x2 point on its four corners, in a layout of dx with one image
 * plane per (batch, channel) (PlaneLayout), so that the corners are neighbouring texels;
 * each fragment takes its corner's share, and blending (ONE, ONE) adds up the shares of
 * all the points that cover a texel. A tfjs program then reads dx out of the planes.
 *
 * Exact: float32 additions, as the cpu kernel makes them (in the order the GPU blends).
 * Linear: every sample is drawn once wherever its offsets take it; no pixel searches
 * for the samples that reach it.
 *
 * tfjs runs only full-screen fragment programs, so this draws with WebGL itself, on the
 * backend's context and framebuffer, and leaves the state tfjs relies on as it was
 * (blending off, its vertex array bound).
 */
import type * as tf from '@tensorflow/tfjs';
import type { ProgramCall } from '../gpu/deform_gpu';
import { PlaneLayout, planesToNhwcSource, SCATTER_FRAGMENT, scatterVertexSource } from './deform_glsl';
import type { Gl, WebGLBackend } from './webgl_backend';

interface ScatterProgram {
  program: unknown;
  samplers: Map<string, unknown>;
}

/** Compiled scatter programs by vertex source, and an empty vertex array, per context. */
const contexts = new WeakMap<Gl, { programs: Map<string, ScatterProgram>; vertexArray: unknown }>();

function check(ok: unknown, what: string, log: string | null): void {
  if (!ok) throw new Error(`deformconv: the webgl scatter program failed to ${what}: ${log}`);
}

function compile(gl: Gl, vertexSource: string, names: string[]): ScatterProgram {
  const program = gl.createProgram();
  for (const [type, source] of [
    [gl.VERTEX_SHADER, vertexSource],
    [gl.FRAGMENT_SHADER, SCATTER_FRAGMENT],
  ] as const) {
    const shader = gl.createShader(type);
    gl.shaderSource(shader, source);
    gl.compileShader(shader);
    check(gl.getShaderParameter(shader, gl.COMPILE_STATUS), 'compile', gl.getShaderInfoLog(shader));
    gl.attachShader(program, shader);
  }
  gl.linkProgram(program);
  check(gl.getProgramParameter(program, gl.LINK_STATUS), 'link', gl.getProgramInfoLog(program));
  return { program, samplers: new Map(names.map((name) => [name, gl.getUniformLocation(program, name)])) };
}

function contextState(gl: Gl): { programs: Map<string, ScatterProgram>; vertexArray: unknown } {
  let state = contexts.get(gl);
  if (state === undefined) {
    state = { programs: new Map(), vertexArray: gl.createVertexArray() };
    contexts.set(gl, state);
  }
  return state;
}

/** An input as a texture the vertex shader can read by flat index. */
interface PlainInput {
  name: string;
  info: tf.TensorInfo;
  texture: unknown;
  columns: number;
  /** A copy made here, to free after the draw. */
  copied: boolean;
}

const COPY = 'void main() { setOutput(getAAtOutCoords()); }';

/**
 * The input's own texture when it is one value a texel in row-major order; otherwise
 * (packed, a shallow slice, not yet on the GPU) a copy made so by a tfjs program.
 */
function plainInput(backend: WebGLBackend, name: string, info: tf.TensorInfo): PlainInput {
  const own = backend.texData.get(info.dataId);
  const copied = own.texture == null || own.isPacked === true || own.slice != null;
  const plain = copied
    ? backend.runWebGLProgram({ variableNames: ['A'], outputShape: info.shape, userCode: COPY }, [info], 'float32')
    : info;
  const data = backend.texData.get(plain.dataId);
  return { name, info: plain, texture: data.texture?.texture, columns: (data.texShape as number[])[1], copied };
}

/** The vertex shader's reader of an input, by logical coordinates, as tfjs's getName(...). */
function accessor({ name, info, columns }: PlainInput): string {
  const flat = info.shape.slice(1).reduce((index, size, k) => `(${index}) * ${size} + i${k + 1}`, 'i0');
  const parameters = info.shape.map((_, k) => `int i${k}`).join(', ');
  return `uniform highp sampler2D ${name};
float get${name[0].toUpperCase()}${name.slice(1)}(${parameters}) {
  int f = ${flat};
  return texelFetch(${name}, ivec2(f % ${columns}, f / ${columns}), 0).r;
}`;
}

/** Planes side by side about as many down as across, within the texture size limit. */
function planeLayout(call: ProgramCall, maxTextureSize: number): PlaneLayout {
  const [batch, height, width, channels] = call.outputShape;
  const planes = batch * channels;
  const perRow = Math.min(planes, Math.ceil(Math.sqrt((planes * (height + 1)) / (width + 1))));
  const layout = { perRow, rows: Math.ceil(planes / perRow) * (height + 1) + 1, columns: perRow * (width + 1) + 1 };
  if (layout.rows > maxTextureSize || layout.columns > maxTextureSize) {
    throw new Error(`deformconv: dx of shape [${call.outputShape}] is too large for one ${maxTextureSize}-texel texture`);
  }
  return layout;
}

/** A zeroed float32 texture of `rows` x `columns` bound as the render target: the planes. */
function clearedPlanes(backend: WebGLBackend, { rows, columns }: PlaneLayout): tf.TensorInfo {
  const planes = backend.makeTensorInfo([rows, columns], 'float32');
  backend.texData.get(planes.dataId).texShape = [rows, columns];
  backend.uploadToGPU(planes.dataId);
  backend.gpgpu.setOutputMatrixTexture(backend.texData.get(planes.dataId).texture?.texture, rows, columns);
  const { gl } = backend.gpgpu;
  gl.clearColor(0, 0, 0, 0);
  gl.clear(gl.COLOR_BUFFER_BIT);
  return planes;
}

function scatterProgram(gl: Gl, source: string, names: string[]): ScatterProgram {
  const state = contextState(gl);
  let scatter = state.programs.get(source);
  if (scatter === undefined) {
    scatter = compile(gl, source, names);
    state.programs.set(source, scatter);
  }
  return scatter;
}

/** Draws one point per sample of `call` (an element of its dColumns), blending into the bound planes. */
function drawSamples(gl: Gl, scatter: ScatterProgram, inputs: PlainInput[], samples: number): void {
  gl.useProgram(scatter.program);
  inputs.forEach(({ name, texture }, unit) => {
    gl.activeTexture(gl.TEXTURE0 + unit);
    gl.bindTexture(gl.TEXTURE_2D, texture);
    gl.uniform1i(scatter.samplers.get(name), unit);
  });
  const tfjsVertexArray = gl.getParameter(gl.VERTEX_ARRAY_BINDING);
  gl.bindVertexArray(contextState(gl).vertexArray);
  gl.enable(gl.BLEND);
  gl.blendEquation(gl.FUNC_ADD);
  gl.blendFunc(gl.ONE, gl.ONE);
  gl.drawArrays(gl.POINTS, 0, samples);
  gl.disable(gl.BLEND);
  gl.bindVertexArray(tfjsVertexArray);
}

/** Runs a scatter program: every sample of `call` blended into a zeroed dx. */
export function scatterByBlending(backend: WebGLBackend, call: ProgramCall): tf.TensorInfo {
  const { gl } = backend.gpgpu;
  const layout = planeLayout(call, gl.getParameter(gl.MAX_TEXTURE_SIZE) as number);
  const inputs = Object.entries(call.inputs).map(([name, info]) => plainInput(backend, name, info));
  const planes = clearedPlanes(backend, layout);
  const source = scatterVertexSource(call, inputs.map(accessor).join('\n'), layout);
  const samples = call.inputs.dColumns.shape.reduce((a, b) => a * b, 1);
  drawSamples(
    gl,
    scatterProgram(
      gl,
      source,
      inputs.map((input) => input.name),
    ),
    inputs,
    samples,
  );
  for (const input of inputs) if (input.copied) backend.disposeData(input.info.dataId);
  const program = { variableNames: ['planes'], outputShape: call.outputShape, userCode: planesToNhwcSource(call, layout) };
  const dx = backend.runWebGLProgram(program, [planes], 'float32');
  backend.disposeData(planes.dataId);
  return dx;
}
