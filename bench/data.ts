// Data pipeline throughput: decode + resize to 180x180 + batching of the shared training
// JPEGs through imageDatasetFromDirectory (concurrent, prefetching), against a plain
// one-file-at-a-time loop over the same files with the same decoder, in the same run.
// Run: node --import tsx bench/data.ts [dir] [--limit N]
import os from 'node:os';
import path from 'node:path';
import { imageDatasetFromDirectory } from '../src/data/imageDataset.js';
import { decodeImage } from '../src/data/decode.js';

const args = process.argv.slice(2);
const limitAt = args.indexOf('--limit');
const limit = limitAt >= 0 ? Number(args[limitAt + 1]) : Infinity;
const dir =
  args.find((a, i) => !a.startsWith('--') && args[i - 1] !== '--limit') ??
  path.resolve(import.meta.dirname, '../../shared/data/cats_vs_dogs_small/train');
const size: [number, number] = [180, 180];

const ds = await imageDatasetFromDirectory(dir, { imageSize: size, batchSize: 32, shuffle: false });
const files = ds.files.slice(0, Math.min(limit, ds.files.length));

// Warm-up (sharp/libvips initialisation, JIT) on a few files, not timed.
for (const f of files.slice(0, 8)) await decodeImage(f, size);

async function pipeline(): Promise<number> {
  const t = performance.now();
  let n = 0;
  for await (const b of ds.batches()) {
    n += b.shape[0];
    if (n >= files.length) break;
  }
  return (n / (performance.now() - t)) * 1000;
}

async function sequential(): Promise<number> {
  const t = performance.now();
  const batch = new Float32Array(32 * size[0] * size[1] * 3);
  for (let i = 0; i < files.length; i++) batch.set(await decodeImage(files[i], size), (i % 32) * size[0] * size[1] * 3);
  return (files.length / (performance.now() - t)) * 1000;
}

const seq = await sequential();
const pipe = await pipeline();
console.log(
  `data pipeline: ${files.length} JPEGs from ${dir} -> ${size.join('x')} float32 batches of 32, ${os.cpus().length} cores, UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? 4}`,
);
console.log(`imageDatasetFromDirectory (prefetch 2): ${pipe.toFixed(0)} images/s`);
console.log(`baseline, one file at a time:        ${seq.toFixed(0)} images/s`);
console.log(`ratio: ${(pipe / seq).toFixed(2)}x  (target >= 100 images/s: ${pipe >= 100 ? 'met' : 'NOT met'})`);
