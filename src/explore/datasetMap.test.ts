import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isUserError } from '../errors.js';
import { FEATURES_FORMAT, FEATURES_VERSION, splitMetaText, type Manifest } from '../features/cache.js';
import { encodeNpy } from '../io/npy.js';
import { Rng } from '../io/rng.js';
import { mapFeatures } from './datasetMap.js';
import { writeDatasetMap } from './mapFiles.js';
import { cosineNeighbours, topK } from './neighbours.js';
import { poolFeatureMap } from '../run/knnVotes.js';
import { knn2dAccuracy } from '../testing/knn2d.js';

interface SyntheticSplit {
  /** [n, 2, 2, dim] feature maps. */
  maps: Float32Array;
  labels: number[];
}

/** A feature folder as `tlkit extract` lays it out, with the given splits' maps (shape [2, 2, dim]). */
function writeFeatureFolder(dir: string, classNames: string[], dim: number, splits: Record<string, SyntheticSplit>): string {
  const manifest: Manifest = {
    format: FEATURES_FORMAT,
    version: FEATURES_VERSION,
    base: { family: 'synthetic', source: 'synthetic blobs', weightsHash: 'none', cutLayer: null },
    preprocessing: 'none',
    imageSize: [8, 8],
    classNames,
    dataRoot: '/data',
    splits: {},
    createdAt: new Date(0).toISOString(),
  };
  for (const [split, s] of Object.entries(splits)) {
    const n = s.labels.length;
    const featureShape = [2, 2, dim];
    const features = encodeNpy(s.maps, [n, ...featureShape]);
    const labels = encodeNpy(Int32Array.from(s.labels), [n]);
    fs.mkdirSync(path.join(dir, split), { recursive: true });
    fs.writeFileSync(path.join(dir, split, 'features.npy'), features);
    fs.writeFileSync(path.join(dir, split, 'labels.npy'), labels);
    const key = `key-${split}`;
    const files = s.labels.map((l, i) => `${split}/${classNames[l]}/img${i}.jpg`);
    fs.writeFileSync(
      path.join(dir, split, 'meta.json'),
      splitMetaText({
        format: FEATURES_FORMAT,
        version: FEATURES_VERSION,
        key,
        split,
        count: n,
        featureShape,
        classNames,
        files,
        skipped: [],
        bytes: { features: features.length, labels: labels.length },
        createdAt: manifest.createdAt,
      }),
    );
    manifest.splits[split] = { dir: split, count: n, featureShape, key };
  }
  fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(manifest));
  return dir;
}

/**
 * Three classes as blobs around three random directions (non-negative, as features after
 * ReLU are); every position of a map is its vector plus noise. `mislabel` images of class
 * 0 in train are labelled 1 instead (the first ones).
 */
function blobs(seed: number, perClass: Record<string, number>, dim = 24, mislabel = 0): Record<string, SyntheticSplit> {
  const rng = new Rng(seed);
  const centres = [0, 1, 2].map(() => Float32Array.from({ length: dim }, () => rng.next() * 2));
  const out: Record<string, SyntheticSplit> = {};
  for (const [split, n] of Object.entries(perClass)) {
    const labels: number[] = [];
    const maps = new Float32Array(3 * n * 4 * dim);
    let row = 0;
    for (let c = 0; c < 3; c++) {
      for (let i = 0; i < n; i++, row++) {
        for (let p = 0; p < 4; p++)
          for (let d = 0; d < dim; d++) maps[(row * 4 + p) * dim + d] = Math.max(0, centres[c][d] + (rng.next() - 0.5) * 1.2);
        labels.push(split === 'train' && c === 0 && i < mislabel ? 1 : c);
      }
    }
    out[split] = { maps, labels };
  }
  return out;
}

const tmp = (name: string) => fs.mkdtempSync(path.join(os.tmpdir(), `tlkit-map-${name}-`));

test('pooling averages a map over its positions and scales it to unit length', () => {
  // Two positions, three channels: mean [2, 3, 6] / 7.
  const into = new Float32Array(3);
  poolFeatureMap(Float32Array.from([1, 2, 5, 3, 4, 7]), 3, into);
  assert.deepEqual(
    [...into].map((v) => Number(v.toFixed(6))),
    [2 / 7, 3 / 7, 6 / 7].map((v) => Number(v.toFixed(6))),
  );
  poolFeatureMap(new Float32Array(6), 3, into);
  assert.deepEqual([...into], [0, 0, 0]);
});

test('cosineNeighbours finds the exact nearest neighbours (the point itself left out), duplicates included', async () => {
  const rng = new Rng(3);
  const n = 300;
  const dim = 12;
  const vectors = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const v = vectors.subarray(i * dim, (i + 1) * dim);
    for (let d = 0; d < dim; d++) v[d] = rng.next() - 0.3;
    poolFeatureMap(Float32Array.from(v), dim, v);
  }
  // Twenty copies of one vector: more exact ties than k + 1.
  for (let i = 1; i <= 20; i++) vectors.copyWithin(i * dim, 0, dim);
  const k = 7;
  const nb = await cosineNeighbours(vectors, dim, k);
  assert.equal(nb.k, k);
  for (let i = 0; i < n; i++) {
    const want = { idx: new Int32Array(k), sim: new Float32Array(k) };
    topK(vectors, dim, i, k, want.idx, want.sim);
    const got = [...nb.indices.subarray(i * k, (i + 1) * k)];
    assert.ok(!got.includes(i), `point ${i} is its own neighbour`);
    for (let j = 0; j < k; j++) assert.ok(Math.abs(nb.similarities[i * k + j] - want.sim[j]) < 1e-5, `point ${i}, neighbour ${j}`);
    // Away from ties, the same points.
    if (i > 20) assert.deepEqual(got, [...want.idx]);
  }
});

test('the same seed gives the same map, another seed another one; classes form separate regions', async () => {
  const dir = writeFeatureFolder(tmp('seed'), ['a', 'b', 'c'], 24, blobs(1, { train: 40, validation: 20 }));
  const options = { nEpochs: 120 };
  const [one, again, other] = [
    await mapFeatures(dir, { ...options, seed: 7 }),
    await mapFeatures(dir, { ...options, seed: 7 }),
    await mapFeatures(dir, { ...options, seed: 8 }),
  ];
  const coords = (m: typeof one) => m.points.flatMap((p) => [p.x, p.y]);
  assert.equal(one.points.length, 180);
  assert.ok(coords(one).every(Number.isFinite));
  assert.deepEqual(coords(again), coords(one));
  const moved = coords(other).filter((v, i) => Math.abs(v - coords(one)[i]) > 1e-3).length;
  assert.ok(moved > 300, `only ${moved} of 360 coordinates differ with another seed`);
  assert.deepEqual(one.splits, ['train', 'validation']);
  assert.equal(one.points[0].file, 'train/a/img0.jpg');
  assert.equal(knn2dAccuracy(one), 1);
  // Euclidean distances between the unit vectors: the same neighbours, other weights, another layout; still separate.
  const euclidean = await mapFeatures(dir, { ...options, seed: 7, metric: 'euclidean' });
  assert.notDeepEqual(coords(euclidean), coords(one));
  assert.equal(euclidean.umap.metric, 'euclidean');
  assert.equal(knn2dAccuracy(euclidean), 1);
});

test('mislabeled images lead the outlier list, with the class they look like', async () => {
  const dir = writeFeatureFolder(tmp('outliers'), ['a', 'b', 'c'], 24, blobs(2, { train: 40, validation: 20 }, 24, 2));
  const map = await mapFeatures(dir, { nEpochs: 30 });
  const top = map.outliers.slice(0, 2).map((i) => map.points[i]);
  assert.deepEqual(top.map((p) => p.file).sort(), ['train/b/img0.jpg', 'train/b/img1.jpg']);
  for (const p of top) {
    assert.equal(p.label, 'b');
    assert.equal(p.looksLike, 'a');
    assert.ok(p.outlier > 0.8, `score ${p.outlier}`);
  }
  // The rest of the clean blobs: no neighbour of another label.
  assert.ok(map.points.filter((p) => p.outlier > 0.5).length <= 2);
});

test('writeDatasetMap writes map.json (one point a line) and the two plots, a dot an image', async () => {
  const dir = writeFeatureFolder(tmp('files'), ['a', 'b', 'c'], 16, blobs(3, { train: 10, validation: 5 }, 16, 1));
  const map = await mapFeatures(dir, { nEpochs: 20, nNeighbors: 6 });
  const out = path.join(tmp('out'), 'map');
  const files = await writeDatasetMap(map, out);
  const json = JSON.parse(fs.readFileSync(files.json, 'utf8'));
  assert.equal(json.format, 'tlkit-map');
  assert.equal(json.points.length, 45);
  assert.deepEqual(Object.keys(json.points[0]), ['file', 'split', 'label', 'x', 'y', 'outlier', 'looksLike', 'centroidDistance']);
  assert.equal(json.umap.nNeighbors, 6);
  assert.equal(json.outliers.length, 45);
  assert.equal(
    fs
      .readFileSync(files.json, 'utf8')
      .split('\n')
      .filter((l) => l.includes('"file"')).length,
    45,
  );
  for (const [svg, png] of [
    [files.labelSvg, files.labelPng],
    [files.splitSvg, files.splitPng],
  ]) {
    const text = fs.readFileSync(svg, 'utf8');
    assert.equal(text.match(/<g class="points"[^>]*>(.*?)<\/g>/s)?.[1].match(/<circle /g)?.length, 45);
    assert.deepEqual([...fs.readFileSync(png).subarray(1, 4)], [...Buffer.from('PNG')]);
  }
  // By label: the planted image is ringed; by split: the legend counts 30 train and 15 validation images.
  assert.match(fs.readFileSync(files.labelSvg, 'utf8'), /class="outliers"/);
  assert.match(fs.readFileSync(files.splitSvg, 'utf8'), /<title>train \(30\)<\/title>/);
});

test('bad input is a UserError naming the folder: no manifest, a missing split, too few images, bad settings', async () => {
  const rejects = (p: Promise<unknown>, message: RegExp) =>
    assert.rejects(p, (e: unknown) => {
      assert.ok(isUserError(e), String(e));
      assert.match((e as Error).message, message);
      return true;
    });
  const empty = tmp('empty');
  await rejects(mapFeatures(empty), new RegExp(`${empty}.*tlkit extract`));
  const dir = writeFeatureFolder(tmp('few'), ['a', 'b', 'c'], 8, blobs(4, { train: 10 }, 8));
  await rejects(mapFeatures(dir, { splits: ['test'] }), /no test split \(it has train\)/);
  await rejects(mapFeatures(dir, { minDist: 2 }), /minDist must be between 0 and 1/);
  await rejects(mapFeatures(dir, { nNeighbors: 1 }), /nNeighbors must be a whole number >= 2/);
  const tiny = writeFeatureFolder(tmp('tiny'), ['a', 'b', 'c'], 8, {
    train: { maps: new Float32Array(2 * 4 * 8).fill(1), labels: [0, 1] },
  });
  await rejects(mapFeatures(tiny), /holds 2 images; a map needs at least 3/);
  // A damaged split (features.npy shorter than its meta says) is refused, not read.
  fs.truncateSync(path.join(dir, 'train', 'features.npy'), 100);
  await rejects(mapFeatures(dir), /incomplete or do not match/);
});
