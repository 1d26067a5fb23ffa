import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
// The gradient functions themselves: in Node, tfjs-core's bundle leaves them
// out and tfjs-layers' bundle registers them (its dist/ ESM files are not
// importable from Node).
import '@tensorflow/tfjs-layers';
import { explicitTransposeBatchMatMul } from './batchMatMul.js';
import { conv2dBackpropFilter } from './conv2dBackpropFilter.js';
import { conv2dBackpropInput } from './conv2dBackpropInput.js';
import { depthwiseConv2dNativeBackpropFilter } from './depthwiseBackpropFilter.js';
import { depthwiseConv2dNativeBackpropInput } from './depthwiseBackpropInput.js';
import { registerTileGradient } from './tileGrad.js';

const BACKEND = 'wasm';
let registered = false;

/** Register `kernelFunc` for wasm under `kernelName`, replacing a shipped kernel if any (keeping its wasm set-up hook). */
function replaceKernel(kernelName: string, kernelFunc: tf.KernelFunc): void {
  const shipped = tf.getKernel(kernelName, BACKEND);
  if (shipped) tf.unregisterKernel(kernelName, BACKEND);
  tf.registerKernel({ kernelName, backendName: BACKEND, kernelFunc, setupFunc: shipped?.setupFunc, disposeFunc: shipped?.disposeFunc });
}

/**
 * Make convolutions trainable at speed on the tfjs wasm backend: register the
 * gradient kernels it lacks (Conv2DBackpropFilter, depthwise backprop filter
 * and input) and replace the slow ones it ships (Conv2DBackpropInput, and
 * BatchMatMul's transposed variants used by every Dense/MatMul gradient), each
 * composed of the backend's fast XNNPACK kernels. Idempotent; call it any
 * time before training (before or after `initBackend`).
 */
export function registerWasmGradientKernels(): void {
  if (registered) return;
  registered = true;
  replaceKernel('Conv2DBackpropFilter', conv2dBackpropFilter as tf.KernelFunc);
  replaceKernel('Conv2DBackpropInput', conv2dBackpropInput as tf.KernelFunc);
  replaceKernel('DepthwiseConv2dNativeBackpropFilter', depthwiseConv2dNativeBackpropFilter as tf.KernelFunc);
  replaceKernel('DepthwiseConv2dNativeBackpropInput', depthwiseConv2dNativeBackpropInput as tf.KernelFunc);
  const matMul = tf.getKernel('BatchMatMul', BACKEND);
  if (!matMul) throw new Error('the tfjs wasm backend registers no BatchMatMul kernel; is @tensorflow/tfjs-backend-wasm 4.x installed?');
  replaceKernel('BatchMatMul', explicitTransposeBatchMatMul(matMul.kernelFunc));
  // LayerNormalization's backward pass (ConvNeXt) tiles; tfjs's Tile gradient is a slice per repetition.
  registerTileGradient();
}

export {
  conv2dBackpropFilter,
  conv2dBackpropInput,
  depthwiseConv2dNativeBackpropFilter,
  depthwiseConv2dNativeBackpropInput,
  registerTileGradient,
};
