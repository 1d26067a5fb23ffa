// Feature extraction speed: VGG16 conv base (random weights) at 180x180 over the
// first 400 images of ../shared/data/cats_vs_dogs_small/train (200 cats, 200 dogs).
//   (a) extractFeatures end to end from JPEG files (export, session, decode, run, write)
//   (b) bare OrtModel.run on pre-decoded, pre-batched tensors, same exported model
//   (c) tfjs wasm model.predict on a subset
// Prints images/s and GFLOP/s of each, the ratios a/b (target >= 0.85) and a/c
// (target >= 5), and the time of a second, cached extract (target < 5 s).
//
//   node --import tsx bench/extract.ts              # a, b, c, cached
//   node --import tsx bench/extract.ts --full       # + peak RSS extracting all 4,000 shared images (child process)
//   node --import tsx bench/extract.ts --rss-child [--data DIR]   # only the RSS run (whole shared dataset by default)
//   options: --images N (default 400), --batch N (default 8), --tfjs-images N (default 16)
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { vgg16Architecture, VGG16_PREPROCESSING } from '../src/applications/vgg16.js';
import { decodeImage } from '../src/data/decode.js';
import { initBackend } from '../src/engine/backend.js';
import { exportToOnnx } from '../src/engine/onnx/export.js';
import { forwardFlops } from '../src/engine/onnx/flops.js';
import { OrtModel } from '../src/engine/ortRunner.js';
import { extractFeatures, frozenModel } from '../src/features/extract.js';
import type { ConvBase } from '../src/applications/loadBase.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const shared = path.resolve(here, '../../shared');
const trainDir = path.join(shared, 'data/cats_vs_dogs_small/train');
const SIZE: [number, number] = [180, 180];

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

function vggBase(): ConvBase {
  const model = vgg16Architecture({ includeTop: false, weights: 'none', inputShape: [SIZE[0], SIZE[1], 3] });
  // Random weights: a fixed label is enough for the cache key within this process.
  return { model, family: 'vgg16', preprocessing: VGG16_PREPROCESSING, imageSize: SIZE, weightsHash: `bench-random-${process.pid}`, source: 'vgg16 (random weights)' };
}

/** A data folder of symlinks to the first n/2 cats and n/2 dogs (sorted names). */
function subsetDataDir(n: number): { dir: string; files: string[] } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-bench-extract-'));
  const files: string[] = [];
  for (const cls of ['cats', 'dogs']) {
    const dst = path.join(root, 'data', 'train', cls);
    fs.mkdirSync(dst, { recursive: true });
    const names = fs.readdirSync(path.join(trainDir, cls)).sort().slice(0, n / 2);
    for (const f of names) {
      fs.symlinkSync(path.join(trainDir, cls, f), path.join(dst, f));
      files.push(path.join(dst, f));
    }
  }
  return { dir: path.join(root, 'data'), files };
}

const fmt = (x: number, d = 2) => x.toFixed(d);

/** --data DIR: extract this folder instead of the whole shared dataset (RSS mode). */
function dataArg(): string | undefined {
  const i = process.argv.indexOf('--data');
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  if (process.argv.includes('--rss-child')) return rssChild();
  const nImages = arg('--images', 400);
  const batch = arg('--batch', 8);
  const nTfjs = arg('--tfjs-images', 16);
  await initBackend('wasm');
  const base = vggBase();
  const frozen = frozenModel(base, SIZE);
  const gflop = forwardFlops(frozen) / 1e9;
  console.log(`VGG16 notop ${SIZE[0]}x${SIZE[1]}: ${fmt(gflop)} GFLOP per image (multiply-add = 2 FLOPs, convs + dense)`);
  console.log(`cores: ${os.availableParallelism()}, images: ${nImages}, batch: ${batch}`);
  const { dir, files } = subsetDataDir(nImages);
  const out = path.join(path.dirname(dir), 'features');

  // (a) end to end
  let t0 = performance.now();
  const r = await extractFeatures({ base, data: dir, out, batchSize: batch });
  const aSec = (performance.now() - t0) / 1000;
  const aRate = r.imagesExtracted / aSec;
  console.log(`(a) extract end to end:      ${fmt(aRate)} images/s, ${fmt(aRate * gflop, 1)} GFLOP/s  (${fmt(aSec, 1)} s for ${r.imagesExtracted} images; of which inference ${fmt(r.inferenceSeconds, 1)} s)`);

  console.log(`    peak RSS so far: ${fmt(process.resourceUsage().maxRSS / 1024, 0)} MB`);
  // second, cached run over unchanged data
  t0 = performance.now();
  const r2 = await extractFeatures({ base, data: dir, out, batchSize: batch });
  const cachedSec = (performance.now() - t0) / 1000;
  console.log(`    second extract (cache hit: ${r2.cacheHit}): ${fmt(cachedSec, 3)} s  (target < 5 s)`);

  // (b) bare session.run on pre-decoded batches, same exported model
  const onnx = exportToOnnx(frozen);
  const ort = await OrtModel.create(onnx);
  const batches: Array<{ data: Float32Array; shape: number[] }> = [];
  const per = SIZE[0] * SIZE[1] * 3;
  for (let i = 0; i < files.length; i += batch) {
    const chunk = files.slice(i, i + batch);
    const data = new Float32Array(chunk.length * per);
    for (const [k, f] of chunk.entries()) data.set(await decodeImage(f, SIZE), k * per);
    batches.push({ data, shape: [chunk.length, SIZE[0], SIZE[1], 3] });
  }
  await ort.run(batches[0].data, batches[0].shape); // warm-up (memory arena, kernels)
  t0 = performance.now();
  for (const b of batches) await ort.run(b.data, b.shape);
  const bSec = (performance.now() - t0) / 1000;
  const bRate = files.length / bSec;
  await ort.dispose();
  console.log(`(b) bare session.run:        ${fmt(bRate)} images/s, ${fmt(bRate * gflop, 1)} GFLOP/s  (${fmt(bSec, 1)} s)`);

  // (c) tfjs wasm predict on a subset
  const sub = batches.flatMap((b) => [b]).slice(0, Math.ceil(nTfjs / batch));
  tf.tidy(() => (frozen.predict(tf.tensor4d(sub[0].data.subarray(0, per), [1, SIZE[0], SIZE[1], 3])) as tf.Tensor).dataSync()); // warm-up
  t0 = performance.now();
  let nDone = 0;
  for (const b of sub) {
    tf.tidy(() => (frozen.predict(tf.tensor(b.data, b.shape)) as tf.Tensor).dataSync());
    nDone += b.shape[0];
  }
  const cSec = (performance.now() - t0) / 1000;
  const cRate = nDone / cSec;
  console.log(`(c) tfjs ${tf.getBackend()} model.predict:   ${fmt(cRate)} images/s, ${fmt(cRate * gflop, 1)} GFLOP/s  (${fmt(cSec, 1)} s for ${nDone} images)`);

  console.log(`a/b = ${fmt(aRate / bRate)} (target >= 0.85)   a/c = ${fmt(aRate / cRate, 1)} (target >= 5)`);
  fs.rmSync(path.dirname(dir), { recursive: true, force: true });

  if (process.argv.includes('--full')) {
    console.log('peak RSS: extracting all train/validation/test images of cats_vs_dogs_small in a child process ...');
    const extra = dataArg() ? ['--data', dataArg() as string] : [];
    const child = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--rss-child', '--batch', String(batch), ...extra], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
    const line = child.stdout.trim().split('\n').at(-1) ?? '';
    console.log(child.status === 0 ? line : `child failed (status ${child.status}): ${child.stdout}`);
  }
}

/** Extract every image of the shared dataset and report this process's peak RSS. */
async function rssChild(): Promise<void> {
  await initBackend('wasm');
  const base = vggBase();
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-bench-rss-'));
  const t0 = performance.now();
  const data = dataArg() ?? path.join(shared, 'data/cats_vs_dogs_small');
  const r = await extractFeatures({ base, data, out, batchSize: arg('--batch', 8) });
  const sec = (performance.now() - t0) / 1000;
  const t1 = performance.now();
  const again = await extractFeatures({ base, data, out, batchSize: arg('--batch', 8) });
  const cachedSec = (performance.now() - t1) / 1000;
  const peakMb = process.resourceUsage().maxRSS / 1024;
  fs.rmSync(out, { recursive: true, force: true });
  console.log(`${r.imagesExtracted} images in ${fmt(sec, 1)} s (${fmt(r.imagesExtracted / sec)} images/s); peak RSS ${fmt(peakMb, 0)} MB (target < 1536 MB); cached re-run ${fmt(cachedSec, 3)} s (hit: ${again.cacheHit})`);
}

await main();
