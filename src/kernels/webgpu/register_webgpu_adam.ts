/** Registers the fused Adam step for tfjs's 'webgpu' backend, by name: one program per output (adam_wgsl.ts). */
import * as tf from '@tensorflow/tfjs';
import { ADAM_UPDATE, AdamUpdateAttrs } from '../kernel_names';
import { ADAM_OUTPUTS, adamInputNames, adamSource } from './adam_wgsl';
import { runProgram, Uniform, WebGPUBackend, WEBGPU, workgroupsFor } from './webgpu_program';

/** The hyperparameters as uniforms, 1 - beta and -learningRate rounded to float32 as tfjs's scalars are. */
function adamUniforms({ beta1, beta2, epsilon, learningRate }: AdamUpdateAttrs): Record<string, Uniform> {
  return {
    beta1: ['f32', beta1],
    oneMinusBeta1: ['f32', 1 - beta1],
    beta2: ['f32', beta2],
    oneMinusBeta2: ['f32', 1 - beta2],
    epsilon: ['f32', epsilon],
    negLearningRate: ['f32', -learningRate],
  };
}

tf.registerKernel({
  kernelName: ADAM_UPDATE,
  backendName: WEBGPU,
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { value } = inputs as Record<string, tf.TensorInfo>;
    const uniforms = adamUniforms(attrs as unknown as AdamUpdateAttrs);
    return ADAM_OUTPUTS.map((output) =>
      runProgram(backend as unknown as WebGPUBackend, {
        key: `adam_${output}`,
        source: adamSource(output),
        inputs: Object.fromEntries(adamInputNames(output).map((name) => [name, (inputs as Record<string, tf.TensorInfo>)[name]])),
        outputShape: value.shape,
        workgroups: workgroupsFor(tf.util.sizeFromShape(value.shape)),
        uniforms,
      }),
    );
  },
});
