/**
 * The parts of tfjs-backend-webgl's MathBackendWebGL (4.15 to 4.22) and of WebGL 2 that
 * the deformable kernels use, typed here: the library compiles without the DOM's types
 * and must not load the backend package itself.
 */
import * as tf from '@tensorflow/tfjs';

/** A program as MathBackendWebGL.runWebGLProgram takes it: a fragment shader body over named inputs. */
export interface GpgpuProgram {
  variableNames: string[];
  outputShape: number[];
  userCode: string;
}

/** What the backend keeps per tensor: its texture, unpacked (one value a texel, row-major) unless isPacked. */
export interface TextureData {
  texture?: { texture: unknown } | null;
  texShape?: number[] | null;
  isPacked?: boolean;
  /** Set on a shallow slice: the texture is another tensor's, read from an offset. */
  slice?: unknown;
}

/** The WebGL 2 calls and constants used (a WebGL2RenderingContext). */
export interface Gl {
  readonly VERTEX_SHADER: number;
  readonly FRAGMENT_SHADER: number;
  readonly COMPILE_STATUS: number;
  readonly LINK_STATUS: number;
  readonly TEXTURE0: number;
  readonly TEXTURE_2D: number;
  readonly VERTEX_ARRAY_BINDING: number;
  readonly BLEND: number;
  readonly ONE: number;
  readonly FUNC_ADD: number;
  readonly COLOR_BUFFER_BIT: number;
  readonly POINTS: number;
  readonly MAX_TEXTURE_SIZE: number;
  createShader(type: number): unknown;
  shaderSource(shader: unknown, source: string): void;
  compileShader(shader: unknown): void;
  getShaderParameter(shader: unknown, name: number): unknown;
  getShaderInfoLog(shader: unknown): string | null;
  createProgram(): unknown;
  attachShader(program: unknown, shader: unknown): void;
  linkProgram(program: unknown): void;
  getProgramParameter(program: unknown, name: number): unknown;
  getProgramInfoLog(program: unknown): string | null;
  useProgram(program: unknown): void;
  getUniformLocation(program: unknown, name: string): unknown;
  uniform1i(location: unknown, value: number): void;
  activeTexture(unit: number): void;
  bindTexture(target: number, texture: unknown): void;
  createVertexArray(): unknown;
  bindVertexArray(vao: unknown): void;
  getParameter(name: number): unknown;
  getExtension(name: string): unknown;
  enable(capability: number): void;
  disable(capability: number): void;
  blendEquation(mode: number): void;
  blendFunc(source: number, destination: number): void;
  clearColor(r: number, g: number, b: number, a: number): void;
  clear(mask: number): void;
  drawArrays(mode: number, first: number, count: number): void;
}

/** The backend, as the kernel function receives it. */
export interface WebGLBackend {
  gpgpu: { gl: Gl; setOutputMatrixTexture(texture: unknown, rows: number, columns: number): void };
  texData: { get(dataId: tf.DataId): TextureData };
  runWebGLProgram(program: GpgpuProgram, inputs: tf.TensorInfo[], outputDtype: tf.DataType): tf.TensorInfo;
  makeTensorInfo(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  uploadToGPU(dataId: tf.DataId): void;
  disposeData(dataId: tf.DataId): void;
}

const floatBlending = new WeakMap<object, boolean>();

/**
 * Whether the deformable kernels run on this backend: WebGL 2 with float32 textures
 * that render and blend (EXT_float_blend), which the scatter's additive blending needs.
 * Elsewhere (WebGL 1, half-float devices) the ops take the portable path.
 */
export function supportsDeformKernels(backend: tf.KernelBackend): boolean {
  const { gl } = (backend as unknown as WebGLBackend).gpgpu;
  let supported = floatBlending.get(gl);
  if (supported === undefined) {
    const env = tf.env();
    supported =
      env.getNumber('WEBGL_VERSION') === 2 && env.getBool('WEBGL_RENDER_FLOAT32_ENABLED') && gl.getExtension('EXT_float_blend') != null;
    floatBlending.set(gl, supported);
  }
  return supported;
}
