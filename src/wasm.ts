/**
 * `import 'deformconv/wasm'`: loads tfjs's wasm backend (@tensorflow/tfjs-backend-wasm,
 * which the app installs) with this package's faster training kernels in place of some of
 * tfjs's (Conv2DBackpropInput/Filter, Sum, Mean, Tile, Cast, Identity). Import it instead
 * of '@tensorflow/tfjs-backend-wasm' when training on wasm; like that import, it
 * registers the wasm backend, and the app still selects it with tf.setBackend('wasm').
 */
import './kernels/wasm/replace_tfjs_kernels';

export { wasmReplacementKernels } from './kernels/wasm/replace_tfjs_kernels';
