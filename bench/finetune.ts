/**
 * Fine-tuning speed. Run: node --import tsx bench/finetune.ts [--only micro]
 *
 * 1. micro: one VGG16 block5 convolution step (8x11x11x512 input, 3x3x512x512
 *    filter, forward + backward) on the wasm backend with tlkit's gradient
 *    kernels vs the tfjs cpu backend.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { registerWasmGradientKernels } from '../src/engine/gradients/index.js';

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** Seconds for one forward + backward step of conv2d(x, w) on `backend` (best of `reps` after a warm-up). */
async function convStepSeconds(backend: 'wasm' | 'cpu', reps: number): Promise<number> {
  await tf.setBackend(backend);
  const x = tf.randomNormal([8, 11, 11, 512]) as tf.Tensor4D;
  const w = tf.mul(tf.randomNormal([3, 3, 512, 512]), 0.02) as tf.Tensor4D;
  const gradStep = () => {
    const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.relu(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same'))))([x, w]);
    dx.dataSync();
    dw.dataSync();
    tf.dispose([dx, dw]);
  };
  gradStep();
  let best = Infinity;
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    gradStep();
    best = Math.min(best, (performance.now() - t0) / 1000);
  }
  tf.dispose([x, w]);
  return best;
}

async function micro(): Promise<void> {
  registerWasmGradientKernels();
  const flops = 3 * 2 * 8 * 11 * 11 * 512 * 9 * 512; // forward + input grad + filter grad
  const wasm = await convStepSeconds('wasm', 3);
  console.log(`micro: conv 8x11x11x512 * 3x3x512x512, forward+backward (dx and dW)`);
  console.log(`  wasm + tlkit kernels: ${(wasm * 1000).toFixed(0)} ms/step  (${(flops / wasm / 1e9).toFixed(1)} GFLOP/s)`);
  const cpu = await convStepSeconds('cpu', 1);
  console.log(`  tfjs cpu backend:     ${(cpu * 1000).toFixed(0)} ms/step  (${(flops / cpu / 1e9).toFixed(2)} GFLOP/s)`);
  console.log(`  ratio cpu/wasm: ${(cpu / wasm).toFixed(1)}x`);
}

const only = argValue('--only');
if (!only || only === 'micro') await micro();
