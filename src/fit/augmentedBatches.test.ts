import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../tfjs/backend.js';
import { AugmentPool } from '../augment/augmentPool.js';
import { BOOK_AUGMENTATION } from '../augment/params.js';
import { augmentImages } from '../augment/pipeline.js';
import type { AugmentPlan } from '../augment/plan.js';
import type { Batch, ImageDataset } from '../data/imageDataset.js';
import { deriveSeed, Rng } from '../io/rng.js';
import { AUGMENT_AHEAD, augmentedBatches } from './augmentedBatches.js';

const [H, W, C] = [10, 14, 3];
const BATCH = 4;

/** A dataset of `n` random images whose batches arrive after uneven delays, each epoch in its own order. */
function fakeDataset(n: number): ImageDataset {
  const per = H * W * C;
  const rng = new Rng(3);
  const pixels = Float32Array.from({ length: n * per }, () => rng.next() * 255);
  return {
    numBatches: Math.ceil(n / BATCH),
    size: n,
    batches(epoch = 0) {
      const order = new Rng(epoch + 100).shuffle(Array.from({ length: n }, (_, i) => i));
      return (async function* () {
        for (let s = 0; s < n; s += BATCH) {
          const idx = order.slice(s, s + BATCH);
          await new Promise((r) => setTimeout(r, (idx[0] * 7) % 5));
          const images = new Float32Array(idx.length * per);
          idx.forEach((i, j) => images.set(pixels.subarray(i * per, (i + 1) * per), j * per));
          yield { images, shape: [idx.length, H, W, C], labels: Int32Array.from(idx, (i) => i % 2) } as unknown as Batch;
        }
      })();
    },
  } as unknown as ImageDataset;
}

/** A "frozen base" that hands the pixels back unchanged, so the batches show the augmented images. */
const identity = { run: async (data: Float32Array, shape: number[]) => ({ data: data.slice(), shape }) };

async function epochOf(source: ReturnType<typeof augmentedBatches>, epoch: number): Promise<Array<{ xs: Float32Array; ys: number[] }>> {
  const out: Array<{ xs: Float32Array; ys: number[] }> = [];
  for await (const { xs, ys } of source.batches(epoch)) {
    out.push({ xs: (await xs.data()) as Float32Array, ys: Array.from(await ys.data()) });
    tf.dispose([xs, ys]);
  }
  return out;
}

test('augmented batches from worker threads, pipelined ahead of the frozen base, are bit for bit those of augmenting batch after batch on one thread', async () => {
  await initBackend();
  const dataset = fakeDataset(18);
  const seed = 77;
  const pool = new AugmentPool(2, (reason) => assert.fail(`the pool fell back: ${reason}`));
  try {
    const source = augmentedBatches({ dataset, frozen: identity, augmentation: BOOK_AUGMENTATION, numClasses: 2, seed, pool });
    for (const epoch of [0, 3]) {
      const got = await epochOf(source, epoch);
      // The one-thread path: each batch in order, drawn from the epoch's generator as it comes.
      const rng = new Rng(deriveSeed(seed, epoch, 1));
      const want: Float32Array[] = [];
      for await (const b of dataset.batches(epoch)) {
        want.push(augmentImages(tf.tensor4d(b.images, b.shape), BOOK_AUGMENTATION, rng).dataSync() as Float32Array);
      }
      assert.equal(got.length, 5);
      got.forEach((g, i) => {
        assert.equal(g.xs.length, want[i].length);
        for (let k = 0; k < g.xs.length; k++) assert.ok(Object.is(g.xs[k], want[i][k]), `epoch ${epoch}, batch ${i}, value ${k}`);
      });
    }
    // The same epoch again (a resumed run) gives the same batches.
    assert.deepEqual(await epochOf(source, 3), await epochOf(source, 3));
  } finally {
    await pool.close();
  }
});

test('the next batches are augmented while the frozen base runs on the current one', async () => {
  await initBackend();
  let applied = 0;
  const seenByFrozen: number[] = [];
  const pool = new AugmentPool(0);
  const counting = {
    apply: (images: Float32Array, plan: AugmentPlan) => {
      applied++;
      return pool.apply(images, plan);
    },
  };
  // Runs on batch i until the augmenters have been handed batch i + AUGMENT_AHEAD (or 3 s
  // pass: a pipeline that waits for the frozen base before augmenting more never gets there).
  const slowFrozen = {
    run: async (data: Float32Array, shape: number[]) => {
      const ahead = Math.min(6, seenByFrozen.length + 1 + AUGMENT_AHEAD);
      for (let waited = 0; applied < ahead && waited < 3000; waited += 5) await new Promise((r) => setTimeout(r, 5));
      seenByFrozen.push(applied);
      return { data: data.slice(), shape };
    },
  };
  const source = augmentedBatches({
    dataset: fakeDataset(24),
    frozen: slowFrozen,
    augmentation: BOOK_AUGMENTATION,
    numClasses: 2,
    seed: 1,
    pool: counting,
  });
  assert.equal((await epochOf(source, 0)).length, 6);
  // While the frozen base runs on batch i, batches up to i + AUGMENT_AHEAD go to the augmenters.
  assert.deepEqual(
    seenByFrozen,
    seenByFrozen.map((_, i) => Math.min(6, i + 1 + AUGMENT_AHEAD)),
  );
});
