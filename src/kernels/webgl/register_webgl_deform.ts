/**
 * Registers the deformable kernels for tfjs's 'webgl' backend, by name, with no import
 * of the backend (@tensorflow/tfjs brings it; its instance arrives with every call). They
 * run where the context blends float32 textures (see supportsDeformKernels); the ops take
 * the portable path elsewhere.
 */
import * as tf from '@tensorflow/tfjs';
import { deformKernelConfigs } from '../gpu/deform_gpu';
import { requireCapability } from '../kernel_support';
import { gatherSource } from './deform_glsl';
import { supportsDeformKernels, WebGLBackend } from './webgl_backend';
import { scatterByBlending } from './webgl_scatter';

const WEBGL = 'webgl';

const configs = deformKernelConfigs<WebGLBackend>({
  backendName: WEBGL,
  gather: (backend, call) =>
    backend.runWebGLProgram(
      { variableNames: Object.keys(call.inputs), outputShape: call.outputShape, userCode: gatherSource(call) },
      Object.values(call.inputs),
      'float32',
    ),
  scatter: scatterByBlending,
});
for (const config of configs) tf.registerKernel(config);
requireCapability(WEBGL, supportsDeformKernels);
