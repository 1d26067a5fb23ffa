// The feature cache over a labels table: the same table is a cache hit; a row relabelled
// re-labels the split it sits in (its files' labels are in that split's key), and leaves the
// other split's cached features alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import * as tfl from '@tensorflow/tfjs-layers';
import type { ConvBase } from '../applications/loadBase.js';
import { extractFeatures } from '../features/extract.js';
import { readNpy } from '../io/npy.js';
import { initBackend } from '../tfjs/backend.js';
import { solid, tempDir, writeImage } from '../testing/images.js';
import { randomizeWeights } from '../testing/testModels.js';

function tinyBase(): ConvBase {
  const x = tfl.input({ shape: [16, 16, 3] });
  const y = tfl.layers.conv2d({ filters: 4, kernelSize: 3, strides: 4, name: 'conv1' }).apply(x) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: x, outputs: y, name: 'tiny' });
  randomizeWeights(model, 4);
  return { model, family: 'custom', preprocessing: 'caffe', imageSize: [16, 16], weightsHash: 'tiny-table-v1', source: 'a test model' };
}

test('extract --labels: a hit for the same table, re-labelled (and only that split re-extracted) when a row changes', async () => {
  await initBackend('cpu');
  const root = tempDir();
  const data = path.join(root, 'flat');
  for (let i = 0; i < 6; i++) await writeImage(path.join(data, `img${i}.png`), solid(16, 16, [i * 40, 0, 100]), 16, 16);
  const table = path.join(root, 'labels.csv');
  const rows = (third: string) =>
    ['file,label,is_valid', 'img0,cat,0', 'img1,dog,0', `img2,${third},0`, 'img3,dog,0', 'img4,cat,1', 'img5,dog,1'].join('\n');
  fs.writeFileSync(table, rows('cat'));
  const out = path.join(root, 'features');
  const base = tinyBase();
  const extract = () => extractFeatures({ base, data, table: { labels: table }, out, batchSize: 2 });
  const labelsOf = async (split: string) => [...(await readNpy(path.join(out, split, 'labels.npy'))).data];

  const first = await extract();
  assert.deepEqual(first.classNames, ['cat', 'dog']);
  assert.deepEqual(
    first.splits.map((s) => [s.split, s.count, s.cacheHit]),
    [
      ['train', 4, false],
      ['validation', 2, false],
    ],
  );
  // By class, then by name: img0, img2 (cat), img1, img3 (dog).
  const meta = JSON.parse(fs.readFileSync(path.join(out, 'train', 'meta.json'), 'utf8'));
  assert.deepEqual(meta.files, ['img0.png', 'img2.png', 'img1.png', 'img3.png']);
  assert.deepEqual(await labelsOf('train'), [0, 0, 1, 1]);

  assert.equal((await extract()).cacheHit, true, 'the same table: every split from the cache');

  fs.writeFileSync(table, rows('dog'));
  const relabelled = await extract();
  assert.deepEqual(
    relabelled.splits.map((s) => [s.split, s.cacheHit]),
    [
      ['train', false],
      ['validation', true],
    ],
  );
  const after = JSON.parse(fs.readFileSync(path.join(out, 'train', 'meta.json'), 'utf8'));
  assert.deepEqual(after.files, ['img0.png', 'img1.png', 'img2.png', 'img3.png']);
  assert.deepEqual(await labelsOf('train'), [0, 1, 1, 1]);
  base.model.dispose();
});
