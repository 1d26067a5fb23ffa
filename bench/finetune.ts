/**
 * Fine-tuning speed, each figure beside a baseline measured in the same run.
 * Run: node --import tsx bench/finetune.ts [--only micro|finetune|augment] [--images 200] [--cpu-batch 1]
 *
 * micro:    one VGG16 block5 convolution step (8x11x11x512 input, 3x3x512x512
 *           filter, forward + backward) on wasm with tlkit's gradient kernels
 *           vs the tfjs cpu backend.
 * finetune: one fine-tuning epoch of VGG16 at 180x180, block5 unfrozen, over
 *           200 shared images, batch 32: (a) tlkit's path, frozen prefix on
 *           ONNX Runtime + block5 and head training on wasm, vs (b) plain tfjs
 *           on the cpu backend (the whole network, a few images, extrapolated).
 * augment:  images/s of augment mode (augmentation on tfjs, the whole frozen
 *           VGG16 on ONNX Runtime, head training on wasm), same images.
 * Images are decoded before timing (decoding is the same for every path).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
import { registerWasmGradientKernels } from '../src/engine/gradients/index.js';
import { initBackend } from '../src/engine/backend.js';
import { loadBase } from '../src/applications/loadBase.js';
import { listImageFiles } from '../src/data/splits.js';
import { decodeImage } from '../src/data/decode.js';
import { exportToOnnx } from '../src/engine/onnx/export.js';
import { OrtModel } from '../src/engine/ortRunner.js';
import { frozenModel } from '../src/features/extract.js';
import { buildHeadModel } from '../src/fit/head.js';
import { makeOptimizer } from '../src/fit/optimizer.js';
import { buildSuffixModel, cutForUnfreeze } from '../src/fit/suffixModel.js';
import { augmentImages } from '../src/augment/pipeline.js';
import { BOOK_AUGMENTATION } from '../src/augment/params.js';
import { Rng } from '../src/io/rng.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const trainDir = path.resolve(repoRoot, '../shared/data/cats_vs_dogs_small/train');
const SIZE: [number, number] = [180, 180];
const BATCH = 32;

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const only = argValue('--only');
const numImages = Number(argValue('--images') ?? 200);
const cpuBatch = Number(argValue('--cpu-batch') ?? 1);

/** Seconds for one forward + backward step of conv2d(x, w) on `backend` (best of `reps` after a warm-up). */
async function convStepSeconds(backend: 'wasm' | 'cpu', reps: number, batch = 8): Promise<number> {
  await tf.setBackend(backend);
  const x = tf.randomNormal([batch, 11, 11, 512]) as tf.Tensor4D;
  const w = tf.mul(tf.randomNormal([3, 3, 512, 512]), 0.02) as tf.Tensor4D;
  const gradStep = () => {
    const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.relu(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same'))))([x, w]);
    dx.dataSync();
    dw.dataSync();
    tf.dispose([dx, dw]);
  };
  if (reps > 1) gradStep();
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
  const flops = 3 * 2 * 8 * 11 * 11 * 512 * 9 * 512; // forward + input gradient + filter gradient
  const wasm = await convStepSeconds('wasm', 3);
  console.log('micro: conv 8x11x11x512 * 3x3x512x512, forward + backward (dx and dW)');
  console.log(`  wasm + tlkit kernels: ${(wasm * 1000).toFixed(0)} ms/step (${(flops / wasm / 1e9).toFixed(1)} GFLOP/s)`);
  // The cpu backend's backprop kernels are scalar loops (minutes for this step): time batch 1, scale by 8.
  const cpu = 8 * (await convStepSeconds('cpu', 1, 1));
  console.log(`  tfjs cpu backend:     ${(cpu * 1000).toFixed(0)} ms/step (${(flops / cpu / 1e9).toFixed(2)} GFLOP/s; batch 1 timed, x8)`);
  console.log(`  ratio cpu/wasm: ${(cpu / wasm).toFixed(1)}x`);
  await tf.setBackend('wasm');
}

/** The first `n` training images (half cats, half dogs), decoded at 180x180, and 0/1 labels. */
async function sharedImages(n: number): Promise<{ images: Float32Array; labels: Float32Array }> {
  const per = SIZE[0] * SIZE[1] * 3;
  const cats = listImageFiles(path.join(trainDir, 'cats')).sort().slice(0, Math.ceil(n / 2));
  const dogs = listImageFiles(path.join(trainDir, 'dogs')).sort().slice(0, Math.floor(n / 2));
  const files = [...cats, ...dogs];
  const images = new Float32Array(files.length * per);
  const labels = new Float32Array(files.length);
  for (let i = 0; i < files.length; i++) {
    images.set(await decodeImage(files[i], SIZE), i * per);
    labels[i] = i < cats.length ? 0 : 1;
  }
  return { images, labels };
}

function batches(n: number, size: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let s = 0; s < n; s += size) out.push([s, Math.min(n, s + size)]);
  return out;
}

function compiledHead(featureShape: number[]): tfl.LayersModel {
  return buildHeadModel(featureShape, { numClasses: 2, seed: 1 });
}

/** (a) tlkit: ORT prefix (block1..block4_pool) + wasm training of block5 + head. Returns images/s, first epoch and cached epoch. */
async function tlkitFinetuneEpoch(data: { images: Float32Array; labels: Float32Array }): Promise<{ first: number; cached: number; prefix: number }> {
  await initBackend('wasm');
  registerWasmGradientKernels();
  const base = await loadBase({ base: 'vgg16', weights: 'none', imageSize: SIZE });
  const cut = cutForUnfreeze(base.model, 4);
  const suffix = buildSuffixModel(base.model, cut);
  const head = compiledHead(base.model.outputs[0].shape.slice(1) as number[]);
  const model = tfl.model({ inputs: suffix.model.inputs, outputs: head.apply(suffix.model.outputs[0]) as tfl.SymbolicTensor });
  model.compile({ optimizer: makeOptimizer('rmsprop', 1e-5), loss: 'binaryCrossentropy', metrics: ['accuracy'] });
  const prefix = await OrtModel.create(exportToOnnx(frozenModel(base, SIZE), { upTo: cut.cutLayer }));
  const per = SIZE[0] * SIZE[1] * 3;
  const n = data.labels.length;
  // Warm-up (ORT session, wasm kernels): one small batch, not timed.
  {
    const f = await prefix.run(data.images.subarray(0, 2 * per), [2, ...SIZE, 3]);
    await model.trainOnBatch(tf.tensor(f.data, f.shape), tf.tensor2d(data.labels.subarray(0, 2), [2, 1]));
  }
  const cache: Array<{ data: Float32Array; shape: number[] }> = [];
  let prefixSeconds = 0;
  const t0 = performance.now();
  for (const [s, e] of batches(n, BATCH)) {
    const p0 = performance.now();
    const f = await prefix.run(data.images.subarray(s * per, e * per), [e - s, ...SIZE, 3]);
    prefixSeconds += (performance.now() - p0) / 1000;
    cache.push(f);
    const [x, y] = [tf.tensor(f.data, f.shape), tf.tensor2d(data.labels.subarray(s, e), [e - s, 1])];
    await model.trainOnBatch(x, y);
    tf.dispose([x, y]);
  }
  const first = (performance.now() - t0) / 1000;
  const t1 = performance.now();
  for (const [i, [s, e]] of batches(n, BATCH).entries()) {
    const [x, y] = [tf.tensor(cache[i].data, cache[i].shape), tf.tensor2d(data.labels.subarray(s, e), [e - s, 1])];
    await model.trainOnBatch(x, y);
    tf.dispose([x, y]);
  }
  const cached = (performance.now() - t1) / 1000;
  await prefix.dispose();
  model.dispose();
  return { first: n / first, cached: n / cached, prefix: n / prefixSeconds };
}

/** (b) plain tfjs on the cpu backend: the whole VGG16 + head, block5 + head trainable; `cpuBatch` images, extrapolated. */
async function cpuFinetuneImagesPerSecond(data: { images: Float32Array; labels: Float32Array }): Promise<number> {
  await tf.setBackend('cpu');
  const base = await loadBase({ base: 'vgg16', weights: 'none', imageSize: SIZE });
  for (const l of base.model.layers) l.trainable = l.name.startsWith('block5');
  const head = compiledHead(base.model.outputs[0].shape.slice(1) as number[]);
  const model = tfl.model({ inputs: base.model.inputs, outputs: head.apply(base.model.outputs[0]) as tfl.SymbolicTensor });
  model.compile({ optimizer: makeOptimizer('rmsprop', 1e-5), loss: 'binaryCrossentropy', metrics: ['accuracy'] });
  const per = SIZE[0] * SIZE[1] * 3;
  const x = tf.tensor4d(data.images.subarray(0, cpuBatch * per), [cpuBatch, ...SIZE, 3]);
  const y = tf.tensor2d(data.labels.subarray(0, cpuBatch), [cpuBatch, 1]);
  const t0 = performance.now();
  await model.trainOnBatch(x, y);
  const seconds = (performance.now() - t0) / 1000;
  tf.dispose([x, y]);
  model.dispose();
  await tf.setBackend('wasm');
  return cpuBatch / seconds;
}

/** Augment mode: augmentation (tfjs) -> the whole frozen VGG16 on ORT -> head training on wasm. */
async function augmentImagesPerSecond(data: { images: Float32Array; labels: Float32Array }): Promise<{ total: number; frozen: number }> {
  await initBackend('wasm');
  registerWasmGradientKernels();
  const base = await loadBase({ base: 'vgg16', weights: 'none', imageSize: SIZE });
  const head = compiledHead(base.model.outputs[0].shape.slice(1) as number[]);
  head.compile({ optimizer: makeOptimizer('rmsprop'), loss: 'binaryCrossentropy', metrics: ['accuracy'] });
  const frozen = await OrtModel.create(exportToOnnx(frozenModel(base, SIZE)));
  const per = SIZE[0] * SIZE[1] * 3;
  const n = data.labels.length;
  const rng = new Rng(1);
  await frozen.run(data.images.subarray(0, per), [1, ...SIZE, 3]);
  let frozenSeconds = 0;
  const t0 = performance.now();
  for (const [s, e] of batches(n, BATCH)) {
    const aug = tf.tidy(() => augmentImages(tf.tensor4d(data.images.subarray(s * per, e * per), [e - s, ...SIZE, 3]), BOOK_AUGMENTATION, rng));
    const pixels = (await aug.data()) as Float32Array;
    aug.dispose();
    const f0 = performance.now();
    const f = await frozen.run(pixels, [e - s, ...SIZE, 3]);
    frozenSeconds += (performance.now() - f0) / 1000;
    const [x, y] = [tf.tensor(f.data, f.shape), tf.tensor2d(data.labels.subarray(s, e), [e - s, 1])];
    await head.trainOnBatch(x, y);
    tf.dispose([x, y]);
  }
  const total = (performance.now() - t0) / 1000;
  await frozen.dispose();
  head.dispose();
  return { total: n / total, frozen: n / frozenSeconds };
}

await initBackend('wasm');
if (!only || only === 'micro') await micro();
if (!only || only === 'finetune' || only === 'augment') {
  const t0 = performance.now();
  const data = await sharedImages(numImages);
  console.log(`\n${data.labels.length} shared training images decoded at ${SIZE.join('x')} in ${((performance.now() - t0) / 1000).toFixed(1)}s (not timed below)`);
  if (!only || only === 'finetune') {
    console.log(`finetune: one epoch of VGG16 (random weights) at ${SIZE.join('x')}, block5 unfrozen, batch ${BATCH}`);
    const a = await tlkitFinetuneEpoch(data);
    console.log(`  (a) tlkit, ONNX Runtime prefix + wasm block5/head training: ${a.first.toFixed(2)} images/s (first epoch; prefix alone ${a.prefix.toFixed(1)} images/s)`);
    console.log(`      later epochs, prefix output cached:                      ${a.cached.toFixed(2)} images/s`);
    const b = await cpuFinetuneImagesPerSecond(data);
    console.log(`  (b) plain tfjs, cpu backend (one step of ${cpuBatch} images, extrapolated): ${b.toFixed(3)} images/s`);
    console.log(`  ratio a/b: ${(a.first / b).toFixed(1)}x (cached epochs: ${(a.cached / b).toFixed(1)}x)`);
  }
  if (!only || only === 'augment') {
    const r = await augmentImagesPerSecond(data);
    console.log(`augment mode: ${r.total.toFixed(2)} images/s (augmentation + whole VGG16 on ONNX Runtime + head on wasm; ONNX Runtime alone ${r.frozen.toFixed(1)} images/s)`);
  }
}
