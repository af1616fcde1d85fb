/**
 * The scatter-add of the webgl kernels (the gradient with respect to the input image):
 * additive blending of points into a float32 render target. Each (sample, corner) pair
 * is one vertex of a point draw; its vertex shader places the point on the corner's
 * texel of dx and gives it the corner's share, and blending (ONE, ONE) adds up the
 * shares of all the points that land on a texel.
 *
 * Exact: float32 additions, as the cpu kernel makes them (in the order the GPU blends).
 * Linear: every sample is drawn once, four points, wherever its offsets take it; no
 * pixel searches for the samples that reach it.
 *
 * tfjs runs only full-screen fragment programs, so this draws with WebGL itself, on the
 * backend's context and framebuffer, and leaves the state tfjs relies on as it was
 * (blending off, its vertex array bound).
 */
import type * as tf from '@tensorflow/tfjs';
import type { ProgramCall } from '../gpu/deform_gpu';
import { SCATTER_FRAGMENT, scatterVertexSource } from './deform_glsl';
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
  const plain = copied ? backend.runWebGLProgram({ variableNames: ['A'], outputShape: info.shape, userCode: COPY }, [info], 'float32') : info;
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

/** Runs a scatter program: every (sample, corner) of `call` blended into a zeroed dx. */
export function scatterByBlending(backend: WebGLBackend, call: ProgramCall): tf.TensorInfo {
  const { gl } = backend.gpgpu;
  const inputs = Object.entries(call.inputs).map(([name, info]) => plainInput(backend, name, info));
  const output = backend.makeTensorInfo(call.outputShape, 'float32');
  backend.uploadToGPU(output.dataId);
  const outData = backend.texData.get(output.dataId);
  const [rows, columns] = outData.texShape as number[];
  backend.gpgpu.setOutputMatrixTexture(outData.texture?.texture, rows, columns);
  gl.clearColor(0, 0, 0, 0);
  gl.clear(gl.COLOR_BUFFER_BIT);

  const state = contextState(gl);
  const source = scatterVertexSource(call, inputs.map(accessor).join('\n'), [rows, columns]);
  let scatter = state.programs.get(source);
  if (scatter === undefined) {
    scatter = compile(gl, source, inputs.map((input) => input.name));
    state.programs.set(source, scatter);
  }
  gl.useProgram(scatter.program);
  inputs.forEach(({ name, texture }, unit) => {
    gl.activeTexture(gl.TEXTURE0 + unit);
    gl.bindTexture(gl.TEXTURE_2D, texture);
    gl.uniform1i(scatter.samplers.get(name), unit);
  });
  const tfjsVertexArray = gl.getParameter(gl.VERTEX_ARRAY_BINDING);
  gl.bindVertexArray(state.vertexArray);
  gl.enable(gl.BLEND);
  gl.blendEquation(gl.FUNC_ADD);
  gl.blendFunc(gl.ONE, gl.ONE);
  const samples = call.inputs.dColumns.shape.reduce((a, b) => a * b, 1);
  gl.drawArrays(gl.POINTS, 0, 4 * samples);
  gl.disable(gl.BLEND);
  gl.bindVertexArray(tfjsVertexArray);
  for (const input of inputs) if (input.copied) backend.disposeData(input.info.dataId);
  return output;
}
