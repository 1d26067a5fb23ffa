import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tfl from '@tensorflow/tfjs-layers';
import type { ConvBase } from '../applications/loadBase.js';
import { readNpy } from '../io/npy.js';
import { initBackend } from '../tfjs/backend.js';
import { makeTinyMultiLabelSet } from '../testing/tinyMultiLabel.js';
import { randomizeWeights } from '../testing/testModels.js';
import { extractFeatures } from './extract.js';

await initBackend('cpu');

function tinyBase(): ConvBase {
  const x = tfl.input({ shape: [16, 16, 3] });
  const y = tfl.layers.conv2d({ filters: 4, kernelSize: 3, strides: 4, activation: 'relu', name: 'conv1' }).apply(x) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: x, outputs: y, name: 'tiny' });
  randomizeWeights(model, 4);
  return { model, family: 'custom', preprocessing: 'caffe', imageSize: [16, 16], weightsHash: 'tiny-rows-v1', source: 'a test model' };
}

/** Each file's feature row, by file (relative to the data folder). */
async function rowsByFile(split: string): Promise<Map<string, string>> {
  const meta = JSON.parse(fs.readFileSync(path.join(split, 'meta.json'), 'utf8')) as { files: string[]; featureShape: number[] };
  const features = await readNpy(path.join(split, 'features.npy'));
  const per = meta.featureShape.reduce((a, b) => a * b, 1);
  return new Map(meta.files.map((f, i) => [f, [...features.data.subarray(i * per, (i + 1) * per)].join()]));
}

test('a relabelled table re-labels the cache without running the base (rows reused, reordered; labels.npy rewritten); added rows extract only their images', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-rows-'));
  const set = await makeTinyMultiLabelSet(path.join(root, 'set'), { train: 2, validation: 1 });
  const base = tinyBase();
  const out = path.join(root, 'features');
  const extract = () => extractFeatures({ base, data: set.data, table: { labels: set.table, labelDelim: ' ' }, out });
  const first = await extract();
  assert.equal(first.imagesExtracted, 21);
  const before = await rowsByFile(path.join(out, 'train'));

  // Every 'blue' becomes 'cyan' and the first row loses a label: the classes, the order and the labels change, no image does.
  const lines = fs.readFileSync(set.table, 'utf8').split('\n');
  lines[1] = lines[1].replace(/,([a-z]+) [a-z ]+,/, ',$1,');
  fs.writeFileSync(set.table, lines.join('\n').replaceAll('blue', 'cyan'));
  const second = await extract();
  assert.equal(second.imagesExtracted, 0, 'no image went through the base');
  assert.equal(second.cacheHit, false);
  assert.deepEqual(second.classNames, ['cyan', 'green', 'red']);
  const after = await rowsByFile(path.join(out, 'train'));
  assert.equal(after.size, before.size);
  for (const [file, row] of after) assert.equal(row, before.get(file), `${file}: its own features`);
  const labels = await readNpy(path.join(out, 'train', 'labels.npy'));
  const files = JSON.parse(fs.readFileSync(path.join(out, 'train', 'meta.json'), 'utf8')).files as string[];
  const table = new Map(
    fs
      .readFileSync(set.table, 'utf8')
      .split('\n')
      .slice(1)
      .filter(Boolean)
      .map((l) => [l.split(',')[0], l.split(',')[1].split(' ')]),
  );
  files.forEach((f, i) =>
    assert.deepEqual(
      [...labels.data.subarray(i * 3, i * 3 + 3)],
      ['cyan', 'green', 'red'].map((c) => (table.get(f)!.includes(c) ? 1 : 0)),
      f,
    ),
  );
  // A third run is a plain cache hit; a changed image and two new rows are the only images extracted.
  assert.equal((await extract()).cacheHit, true);
  const touched = path.join(set.data, files[0]);
  fs.utimesSync(touched, new Date(), new Date(Date.now() + 5000));
  for (const extra of ['new1.png', 'new2.png']) fs.copyFileSync(path.join(set.data, files[1]), path.join(set.data, extra));
  fs.appendFileSync(set.table, 'new1.png,red,false\nnew2.png,green cyan,false\n');
  const fourth = await extract();
  assert.equal(fourth.imagesExtracted, 3, 'the touched image and the two new ones');
  const grown = await rowsByFile(path.join(out, 'train'));
  assert.equal(grown.size, 16);
  for (const [file, row] of grown) if (!file.startsWith('new')) assert.equal(row, before.get(file), `${file} after adding rows`);
  assert.equal(grown.get('new1.png'), before.get(files[1]), 'a new row computed from its image');
  assert.deepEqual(
    fs.readdirSync(out).filter((f) => f.startsWith('.')),
    [],
    'nothing left over',
  );
});
