/**
 * Whether the active backend can run one of this package's fused kernels. Registration
 * (tf.registerKernel) says that a backend has the kernel; a backend whose kernels also
 * need a capability of the device (webgl's need float blending) adds a check here, which
 * only the backend instance can answer, at run time.
 */
import * as tf from '@tensorflow/tfjs';

const capabilityChecks = new Map<string, (backend: tf.KernelBackend) => boolean>();

/** Makes the fused kernels of `backendName` also depend on `check` of the backend instance. */
export function requireCapability(backendName: string, check: (backend: tf.KernelBackend) => boolean): void {
  capabilityChecks.set(backendName, check);
}

/** True when the active backend has a kernel registered under `kernelName` and can run it. */
export function hasFusedKernel(kernelName: string): boolean {
  const backendName = tf.getBackend();
  if (tf.getKernel(kernelName, backendName) === undefined) return false;
  const check = capabilityChecks.get(backendName);
  return check === undefined || check(tf.backend());
}
