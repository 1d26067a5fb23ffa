import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { Rng } from '../io/rng.js';
import { AugmentPool } from './augmentPool.js';
import { BOOK_AUGMENTATION, type AugmentationParams } from './params.js';
import { augmentImages, drawAugmentation } from './pipeline.js';
import * as flip from './randomFlip.js';
import * as rotation from './randomRotation.js';
import * as zoom from './randomZoom.js';

await tf.setBackend('cpu');

const SHAPE: [number, number, number, number] = [7, 12, 10, 3];

function batch(seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: SHAPE.reduce((a, b) => a * b, 1) }, () => rng.next() * 255);
}

/** Bit for bit: -0 against 0 and NaN against NaN count. */
function sameBits(a: ArrayLike<number>, b: ArrayLike<number>, what: string): void {
  assert.equal(a.length, b.length, what);
  for (let i = 0; i < a.length; i++) assert.ok(Object.is(a[i], b[i]), `${what}: element ${i}: ${a[i]} against ${b[i]}`);
}

/** The book's three layers one after the other, on tensors, drawing from one generator: the sequential path. */
function layerByLayer(images: Float32Array, p: AugmentationParams, rng: Rng): Float32Array {
  const n = SHAPE[0];
  let x = tf.tensor4d(images, SHAPE);
  if (p.flip !== 'none') x = flip.applyTransform(x, flip.sampleTransform(rng, n, p.flip));
  if (p.rotation > 0) x = rotation.applyTransform(x, rotation.sampleTransform(rng, n, p.rotation));
  if (p.zoom > 0) x = zoom.applyTransform(x, zoom.sampleTransform(rng, n, p.zoom));
  return x.dataSync() as Float32Array;
}

test('worker threads give bit-identical batches to the layers applied one by one on the main thread, for any number of threads', async () => {
  const settings: AugmentationParams[] = [
    BOOK_AUGMENTATION,
    { flip: 'horizontal_and_vertical', rotation: 0.4, zoom: 0.5 },
    { flip: 'none', rotation: 0.1, zoom: 0 },
    { flip: 'vertical', rotation: 0, zoom: 0 },
    { flip: 'none', rotation: 0, zoom: 0 },
  ];
  for (const threads of [1, 2, 3]) {
    const pool = new AugmentPool(threads, (reason) => assert.fail(`the pool fell back: ${reason}`));
    try {
      for (const p of settings) {
        const drawn = new Rng(11);
        const sequential = new Rng(11);
        // Several batches in flight at once, as training keeps them: each still lands in its own output.
        const images = [batch(1), batch(2), batch(3)];
        const plans = images.map(() => drawAugmentation(drawn, SHAPE, p));
        const got = await Promise.all(images.map((x, i) => pool.apply(x, plans[i])));
        images.forEach((x, i) => sameBits(got[i], layerByLayer(x, p, sequential), `${threads} threads, ${JSON.stringify(p)}, batch ${i}`));
        if (p.flip !== 'none' || p.rotation > 0) assert.notDeepEqual(Array.from(got[0]), Array.from(images[0]));
      }
    } finally {
      await pool.close();
    }
  }
});

test('augmentImages (the tensor entry) draws and augments as the pool does', async () => {
  const pool = new AugmentPool(2);
  try {
    const x = batch(5);
    const viaTensors = augmentImages(tf.tensor4d(x, SHAPE), BOOK_AUGMENTATION, new Rng(3)).dataSync();
    sameBits(await pool.apply(x, drawAugmentation(new Rng(3), SHAPE, BOOK_AUGMENTATION)), viaTensors, 'pool against augmentImages');
  } finally {
    await pool.close();
  }
});

test('a worker that dies: the pool says so once and augments on the calling thread, with the same result', async () => {
  const reasons: string[] = [];
  const pool = new AugmentPool(2, (r) => reasons.push(r));
  const x = batch(9);
  const plan = drawAugmentation(new Rng(4), SHAPE, BOOK_AUGMENTATION);
  const want = await pool.apply(x, plan);
  // Reach in to stop one worker as a crash would.
  await (pool as unknown as { workers: Array<{ terminate(): Promise<number> }> }).workers[0].terminate();
  sameBits(await pool.apply(x, plan), want, 'after the fallback');
  assert.equal(reasons.length, 1, reasons.join('\n'));
  assert.match(reasons[0], /exited .*main thread instead/);
  await pool.close();
  // No threads at all: the calling thread does the work.
  sameBits(await new AugmentPool(0).apply(x, plan), want, 'zero threads');
});
