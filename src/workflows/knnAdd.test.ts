import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { isUserError } from '../errors.js';
import { loadClassifier } from '../inference/classifier.js';
import { readKnnIndex } from '../run/knnIndex.js';
import { readMeta } from '../run/meta.js';
import { makeTinyBase, makeTinyDataset, makeTinyRun, TINY_SIZE } from '../testing/tinyRun.js';
import { initBackend } from '../tfjs/backend.js';
import { addToKnnRun } from './knnAdd.js';
import { train } from './train.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-knn-add-'));

/** `n` greenish noisy images ("birds"), unlike the tiny dataset's reddish cats and bluish dogs. */
async function greenImages(dir: string, n: number, seed: number): Promise<string[]> {
  fs.mkdirSync(dir, { recursive: true });
  let s = seed;
  const rand = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
  const files: string[] = [];
  for (let i = 0; i < n; i++) {
    const px = Buffer.alloc(TINY_SIZE * TINY_SIZE * 3);
    for (let p = 0; p < TINY_SIZE * TINY_SIZE; p++) {
      px[p * 3] = rand() * 60;
      px[p * 3 + 1] = 150 + rand() * 100;
      px[p * 3 + 2] = rand() * 60;
    }
    const file = path.join(dir, `bird.${seed}.${i}.png`);
    await sharp(px, { raw: { width: TINY_SIZE, height: TINY_SIZE, channels: 3 } })
      .png()
      .toFile(file);
    files.push(file);
  }
  return files;
}

test('add: a new class and new images go through the base, nothing stored is read again, and predict returns the new class', async () => {
  await initBackend('cpu');
  const data = await makeTinyDataset(path.join(root, 'data'));
  const base = await makeTinyBase(path.join(root, 'base'));
  const run = path.join(root, 'run');
  await train({ data, base, out: run, mode: 'knn', k: 3, verbose: 0, cacheDir: path.join(root, 'cache') }, { log: () => {} });
  const before = await readKnnIndex(run);

  // The training data again: every image is stored as it is.
  const again = await addToKnnRun(run, { data });
  assert.deepEqual(
    { added: again.added, replaced: again.replaced, through: again.imagesThroughBase },
    { added: 0, replaced: 0, through: 0 },
  );

  // A new class of 6 images and 2 more cats (copies of test images, so new paths).
  const more = path.join(root, 'more');
  await greenImages(path.join(more, 'birds'), 6, 11);
  fs.mkdirSync(path.join(more, 'cats'));
  for (const i of [0, 1]) fs.copyFileSync(path.join(data, 'test', 'cats', `cats.${i}.png`), path.join(more, 'cats', `extra.${i}.png`));
  const r = await addToKnnRun(run, { data: more, batchSize: 3 });
  assert.equal(r.imagesThroughBase, 8, 'the base ran on the 8 new images only');
  assert.deepEqual({ added: r.added, replaced: r.replaced, newClasses: r.newClasses }, { added: 8, replaced: 0, newClasses: ['birds'] });
  assert.deepEqual(r.classes, ['birds', 'cats', 'dogs']);
  assert.equal(r.count, 40);

  // The stored rows are kept byte for byte, their class ids moved to the new order.
  const after = await readKnnIndex(run);
  assert.deepEqual(after.vectors.subarray(0, before.vectors.length), before.vectors);
  before.labels.forEach((l, i) => assert.equal(after.classes[after.labels[i]], before.classes[l]));
  const meta = await readMeta(run);
  assert.deepEqual(meta.classes, ['birds', 'cats', 'dogs']);
  assert.equal(meta.knn?.count, 40);

  // An unseen bird is a bird; a cat is still a cat.
  const [unseen] = await greenImages(path.join(root, 'held-out'), 1, 99);
  const classifier = await loadClassifier(run);
  try {
    const [bird, cat] = await classifier.predict([unseen, path.join(data, 'test', 'cats', 'cats.5.png')]);
    assert.equal(bird.label, 'birds', JSON.stringify(bird));
    assert.equal(cat.label, 'cats', JSON.stringify(cat));
    assert.equal(bird.probabilities.length, 3);
  } finally {
    await classifier.dispose();
  }

  // A changed file is read again and replaces its row; the rest is not.
  const changed = path.join(more, 'cats', 'extra.0.png');
  fs.copyFileSync(path.join(data, 'test', 'dogs', 'dogs.0.png'), changed);
  fs.utimesSync(changed, new Date(), new Date(Date.now() + 5000));
  const third = await addToKnnRun(run, { data: more });
  assert.deepEqual(
    { added: third.added, replaced: third.replaced, through: third.imagesThroughBase, count: third.count },
    {
      added: 0,
      replaced: 1,
      through: 1,
      count: 40,
    },
  );
});

test('add refuses a run that is not a kNN run', async () => {
  const { data, run } = await makeTinyRun(1);
  await assert.rejects(addToKnnRun(run, { data }), (e) => isUserError(e) && /features run.*--mode knn/.test((e as Error).message));
});
