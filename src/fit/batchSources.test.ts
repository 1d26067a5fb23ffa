import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../tfjs/backend.js';
import { NpyStreamWriter, writeNpy } from '../io/npy.js';
import { Rng } from '../io/rng.js';
import { diskRows, holdOutRows, memoryRows, type FeatureRows } from '../features/featureRows.js';
import type { FeatureSplit } from '../features/splits.js';
import { featureBatches } from './batchSources.js';

const SHAPE = [3, 2, 5];
const PER = 30;

/** A split of `n` random rows, in memory and written as features.npy + labels.npy (the streamed header, as extract writes). */
async function split(n: number, seed: number): Promise<{ memory: FeatureSplit; dir: string }> {
  const rng = new Rng(seed);
  const features = Float32Array.from({ length: n * PER }, () => rng.next() * 2 - 1);
  const labels = Int32Array.from({ length: n }, () => Math.floor(rng.next() * 3));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-rows-'));
  const w = NpyStreamWriter.open(path.join(dir, 'features.npy'), '<f4', SHAPE);
  // In uneven pieces, as batches of extraction come.
  for (let i = 0; i < n; i += 7) w.append(features.subarray(i * PER, Math.min(n, i + 7) * PER));
  w.close();
  await writeNpy(path.join(dir, 'labels.npy'), labels, [n]);
  return { memory: { features, labels, n, featureShape: SHAPE }, dir };
}

async function epochOf(rows: FeatureRows, epoch: number, shuffle: boolean, numClasses: number, readAhead?: number) {
  const source = featureBatches(rows, { batchSize: 8, numClasses, seed: 42, shuffle, readAhead });
  const out: Array<{ xs: number[]; shape: number[]; ys: number[] }> = [];
  for await (const { xs, ys } of source.batches(epoch)) {
    out.push({ xs: Array.from(await xs.data()), shape: xs.shape, ys: Array.from(await ys.data()) });
    tf.dispose([xs, ys]);
  }
  return out;
}

test('features streamed from disk give the same batches, bit for bit, as the split held in memory (shuffled epochs, in order, held-out views)', async () => {
  await initBackend();
  const { memory, dir } = await split(53, 1);
  const disk = await diskRows(path.join(dir, 'features.npy'), path.join(dir, 'labels.npy'));
  assert.equal(disk.n, 53);
  assert.deepEqual(disk.featureShape, SHAPE);
  for (const [epoch, shuffle, classes] of [
    [0, true, 3],
    [1, true, 2],
    [0, false, 3],
  ] as const) {
    const fromMemory = await epochOf(memoryRows(memory), epoch, shuffle, classes);
    const fromDisk = await epochOf(disk, epoch, shuffle, classes, 1);
    assert.equal(fromMemory.length, 7);
    assert.deepEqual(fromDisk, fromMemory);
  }
  // Epochs differ from each other (the shuffle is real), and the in-order pass is the file itself.
  assert.notDeepEqual((await epochOf(disk, 0, true, 3))[0].xs, (await epochOf(disk, 1, true, 3))[0].xs);
  const inOrder = (await epochOf(disk, 0, false, 3)).flatMap((b) => b.xs);
  assert.deepEqual(inOrder, Array.from(memory.features));
  // Keras's validation_split as views of the rows on disk: the same rows as slicing memory.
  const heldDisk = holdOutRows(disk, 0.25, 9);
  const heldMemory = holdOutRows(memoryRows(memory), 0.25, 9);
  assert.equal(heldDisk.validation.n, 13);
  assert.deepEqual(await epochOf(heldDisk.train, 2, true, 3), await epochOf(heldMemory.train, 2, true, 3));
  assert.deepEqual(await epochOf(heldDisk.validation, 0, false, 3), await epochOf(heldMemory.validation, 0, false, 3));
});

test('a feature source reads at most readAhead batches ahead of training, whatever the number of rows', async () => {
  await initBackend();
  const { memory } = await split(200, 2);
  const inner = memoryRows(memory);
  let requested = 0;
  const counting: FeatureRows = {
    ...inner,
    read: (rows, into) => {
      requested += 1;
      return inner.read(rows, into);
    },
  };
  const source = featureBatches(counting, { batchSize: 8, numClasses: 3, seed: 1, shuffle: true, readAhead: 2 });
  let consumed = 0;
  let most = 0;
  for await (const { xs, ys } of source.batches(0)) {
    consumed += 1;
    // Training is slow: whatever happens meanwhile, reads stay within 2 batches of it.
    await new Promise((r) => setTimeout(r, 2));
    most = Math.max(most, requested - consumed);
    tf.dispose([xs, ys]);
  }
  assert.equal(consumed, 25);
  assert.equal(requested, 25);
  assert.ok(most <= 2, `read ${most} batches ahead`);
  assert.ok(most >= 1, 'reads ahead at all');
});

test('a truncated features.npy or labels of another length is a UserError naming the file', async () => {
  const { dir } = await split(10, 3);
  const file = path.join(dir, 'features.npy');
  await writeNpy(path.join(dir, 'labels.npy'), new Int32Array(9), [9]);
  await assert.rejects(
    diskRows(file, path.join(dir, 'labels.npy')),
    (e: Error) => e.name === 'UserError' && /do not belong together/.test(e.message),
  );
  fs.truncateSync(file, fs.statSync(file).size - 4);
  await assert.rejects(
    diskRows(file, path.join(dir, 'labels.npy')),
    (e: Error) => e.name === 'UserError' && /truncated/.test(e.message) && e.message.includes(file),
  );
});
