import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '../tfjs/backend.js';
import { makeStripedSplits } from '../testing/images.js';
import { randomizeWeights } from '../testing/testModels.js';
import { assertWorstError } from '../testing/numerics.js';
import { decodeImage } from '../data/decode.js';
import { extractFeatures, frozenModel } from './extract.js';
import type { ConvBase } from '../applications/loadBase.js';
import { loadSplitFeatures, readManifest } from './cache.js';
import { readNpy } from '../io/npy.js';

await initBackend();

const SIZE: [number, number] = [16, 16];

async function makeData(): Promise<string> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-extract-'));
  await makeStripedSplits(path.join(root, 'data'), { train: 5, validation: 3, test: 2 });
  return root;
}

function tinyBase(): ConvBase {
  const x = tfl.input({ shape: [16, 16, 3] });
  let y = tfl.layers
    .conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', name: 'conv1' })
    .apply(x) as tfl.SymbolicTensor;
  y = tfl.layers.maxPooling2d({ poolSize: 2, name: 'pool1' }).apply(y) as tfl.SymbolicTensor;
  y = tfl.layers.conv2d({ filters: 6, kernelSize: 3, strides: 2, padding: 'same', name: 'conv2' }).apply(y) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: x, outputs: y, name: 'tiny' });
  randomizeWeights(model, 4);
  return { model, family: 'custom', preprocessing: 'caffe', imageSize: SIZE, weightsHash: 'tiny-weights-v1', source: 'a test model' };
}

test('extract writes features equal to tfjs, labels and file order, and a manifest; a second run is a cache hit', async () => {
  const root = await makeData();
  const data = path.join(root, 'data');
  const out = path.join(root, 'features');
  const base = tinyBase();
  const progress: number[] = [];
  const r1 = await extractFeatures({ base, data, out, batchSize: 3, onProgress: (p) => progress.push(p.doneAll) });
  assert.equal(r1.cacheHit, false);
  assert.deepEqual(r1.classNames, ['cats', 'dogs']);
  assert.deepEqual(
    r1.splits.map((s) => [s.split, s.count]),
    [
      ['train', 10],
      ['validation', 6],
      ['test', 4],
    ],
  );
  assert.deepEqual(r1.splits[0].featureShape, [4, 4, 6]);
  assert.equal(progress.at(-1), 20);

  const train = await loadSplitFeatures(out, 'train');
  assert.deepEqual([train.n, ...train.featureShape], [10, 4, 4, 6]);
  assert.deepEqual([...train.labels], [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]);
  assert.equal(train.files[0], path.join('train', 'cats', 'cats.0.jpg'));
  // Reference: the same images decoded and pushed through tfjs (preprocessing + base).
  const pixels = new Float32Array(10 * 16 * 16 * 3);
  for (const [i, f] of train.files.entries()) pixels.set(await decodeImage(path.join(data, f), SIZE), i * 16 * 16 * 3);
  const expected = tf.tidy(() => (frozenModel(base, SIZE).predict(tf.tensor4d(pixels, [10, 16, 16, 3])) as tf.Tensor).dataSync());
  assertWorstError([{ name: 'train features', actual: train.features, expected }], 1e-4);

  const manifest = readManifest(out);
  assert.equal(manifest.base.weightsHash, 'tiny-weights-v1');
  assert.deepEqual(Object.keys(manifest.splits), ['train', 'validation', 'test']);
  const labels = await readNpy(path.join(out, 'test', 'labels.npy'));
  assert.deepEqual([...labels.data], [0, 0, 1, 1]);

  // The cache hit, observed rather than timed: no image decoded or run through the base (no
  // progress, no inference time), and every file of the cache (features, labels, metas, the
  // manifest) left as it was.
  const mtimes = () =>
    Object.fromEntries((fs.readdirSync(out, { recursive: true }) as string[]).map((f) => [f, fs.statSync(path.join(out, f)).mtimeMs]));
  const before = mtimes();
  const hitProgress: number[] = [];
  const r2 = await extractFeatures({ base, data, out, batchSize: 3, onProgress: (p) => hitProgress.push(p.doneAll) });
  assert.ok(r2.cacheHit && r2.splits.every((s) => s.cacheHit));
  assert.equal(r2.imagesExtracted, 0);
  assert.equal(r2.inferenceSeconds, 0);
  assert.deepEqual(hitProgress, [], 'no image was extracted');
  assert.ok(Object.keys(before).includes(path.join('train', 'features.npy')) && Object.keys(before).includes('manifest.json'));
  assert.deepEqual(mtimes(), before, 'nothing rewritten');

  // A touched file invalidates its split only; a different cut point invalidates all.
  const later = new Date(Date.now() + 5000);
  fs.utimesSync(path.join(data, 'test', 'dogs', 'dogs.0.jpg'), later, later);
  const r3 = await extractFeatures({ base, data, out, batchSize: 3 });
  assert.deepEqual(
    r3.splits.map((s) => s.cacheHit),
    [true, true, false],
  );
  const r4 = await extractFeatures({ base, data, out, batchSize: 4, upTo: 'pool1' });
  assert.deepEqual(
    r4.splits.map((s) => s.cacheHit),
    [false, false, false],
  );
  assert.deepEqual(r4.splits[0].featureShape, [8, 8, 4]);
  assert.equal(readManifest(out).base.cutLayer, 'pool1');
});

test('an interrupted run leaves nothing a later run trusts', async () => {
  const root = await makeData();
  const data = path.join(root, 'data');
  const out = path.join(root, 'features');
  const base = tinyBase();
  await assert.rejects(
    extractFeatures({
      base,
      data,
      out,
      batchSize: 2,
      onProgress: (p) => {
        if (p.split === 'validation') throw new Error('killed');
      },
    }),
    /killed/,
  );
  // train finished (its directory was renamed into place whole), validation never appeared, no manifest.
  assert.ok(fs.existsSync(path.join(out, 'train', 'meta.json')));
  assert.ok(!fs.existsSync(path.join(out, 'validation')));
  assert.ok(!fs.existsSync(path.join(out, 'manifest.json')));
  assert.deepEqual(
    fs.readdirSync(out).filter((e) => e.endsWith('.tmp')),
    [],
  );
  // A truncated features file is not trusted either.
  fs.truncateSync(path.join(out, 'train', 'features.npy'), 100);
  const r = await extractFeatures({ base, data, out, batchSize: 2 });
  assert.deepEqual(
    r.splits.map((s) => s.cacheHit),
    [false, false, false],
  );
  const reread = await loadSplitFeatures(out, 'train');
  assert.deepEqual([reread.n, ...reread.featureShape], [10, 4, 4, 6]);
});

test('bad images: a UserError naming the file, or skipped with skipBadImages', async () => {
  const root = await makeData();
  const data = path.join(root, 'data');
  fs.writeFileSync(path.join(data, 'train', 'cats', 'broken.jpg'), 'not a jpeg');
  const base = tinyBase();
  await assert.rejects(
    extractFeatures({ base, data, out: path.join(root, 'f1') }),
    (e: Error) => e.name === 'UserError' && /broken\.jpg/.test(e.message),
  );
  const r = await extractFeatures({ base, data, out: path.join(root, 'f2'), skipBadImages: true });
  assert.equal(r.splits[0].count, 10);
  assert.deepEqual(r.splits[0].skipped, [path.join('train', 'cats', 'broken.jpg')]);
  const train = await loadSplitFeatures(path.join(root, 'f2'), 'train');
  assert.equal(train.labels.length, 10);
});

function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return dot / Math.sqrt(aa * bb);
}

test('int8 features: close to fp32, calibration cached beside them, and a cache of one precision never passes for the other', async () => {
  const root = await makeData();
  const data = path.join(root, 'data');
  const out = path.join(root, 'features');
  const base = tinyBase();
  const fp32 = await extractFeatures({ base, data, out, batchSize: 4 });
  assert.equal(fp32.precision, 'fp32');
  const fp32Train = await loadSplitFeatures(out, 'train');
  assert.ok(!fs.existsSync(path.join(out, 'calibration-int8.json')));

  const lines: string[] = [];
  const int8 = await extractFeatures({ base, data, out, batchSize: 4, precision: 'int8', log: (l) => lines.push(l) });
  assert.equal(int8.precision, 'int8');
  assert.deepEqual(
    int8.splits.map((s) => s.cacheHit),
    [false, false, false],
    'fp32 features are not reused at int8',
  );
  assert.equal(readManifest(out).precision, 'int8');
  assert.ok(fs.existsSync(path.join(out, 'calibration-int8.json')));
  assert.ok(
    lines.some((l) => /relative L2 [0-9.]+, cosine [0-9.]+/.test(l)),
    lines.join('\n'),
  );
  assert.equal(int8.calibration?.images, 10);
  const int8Train = await loadSplitFeatures(out, 'train');
  assert.notDeepEqual([...int8Train.features], [...fp32Train.features]);
  assert.ok(cosine(int8Train.features, fp32Train.features) > 0.99);

  // int8 again: features and calibration from the cache.
  lines.length = 0;
  const again = await extractFeatures({ base, data, out, batchSize: 4, precision: 'int8', log: (l) => lines.push(l) });
  assert.ok(again.cacheHit);
  assert.deepEqual(lines, []);
  assert.equal(again.calibration?.error.cosine, int8.calibration?.error.cosine);
  // ... and back at fp32, the int8 features are not reused either.
  const back = await extractFeatures({ base, data, out, batchSize: 4 });
  assert.deepEqual(
    back.splits.map((s) => s.cacheHit),
    [false, false, false],
  );
  assert.deepEqual([...(await loadSplitFeatures(out, 'train')).features], [...fp32Train.features]);
});

test('a bad precision from code is a UserError naming the value', async () => {
  const root = await makeData();
  const base = tinyBase();
  const precision = 'int4' as unknown as 'int8';
  await assert.rejects(
    extractFeatures({ base, data: path.join(root, 'data'), out: path.join(root, 'f'), precision }),
    (e: Error) => e.name === 'UserError' && /precision must be fp32 or int8, got "int4"/.test(e.message),
  );
});
