import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { loadBase, hashWeights, type ConvBase } from '../applications/loadBase.js';
import { resolveData } from '../data/tableData.js';
import { OrtModel } from '../ort/ortRunner.js';
import { makeTinyBase, makeTinyDataset, TINY_SIZE } from '../testing/tinyRun.js';
import type { FrozenGraphOptions } from './calibration.js';
import { frozenGraphKey } from './frozenBase.js';
import { cachedFrozenGraph, openFrozenGraph } from './frozenGraph.js';
import { graphKeyHash } from './graphCache.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-frozengraph-'));
const baseDir = await makeTinyBase(path.join(root, 'base'));
const data = await makeTinyDataset(path.join(root, 'data'), { train: 6, validation: 2 });
const SIZE: [number, number] = [TINY_SIZE, TINY_SIZE];

/** The base with its model's apply() counted: building the frozen tfjs model (preprocessing + base) calls it once. */
async function countedBase(size?: [number, number]): Promise<{ base: ConvBase; applies: () => number }> {
  const base = await loadBase({ base: baseDir, imageSize: size });
  let n = 0;
  const apply = base.model.apply.bind(base.model);
  base.model.apply = ((...args: Parameters<typeof apply>) => {
    n += 1;
    return apply(...args);
  }) as typeof base.model.apply;
  return { base, applies: () => n };
}

function options(base: ConvBase, over: Partial<FrozenGraphOptions> = {}): FrozenGraphOptions {
  return {
    base,
    imageSize: base.imageSize,
    precision: 'fp32',
    dataDir: resolveData(data),
    cacheDir: path.join(root, `features-${Math.random()}`),
    threads: 1,
    ...over,
  };
}

async function features(bytes: Uint8Array, size = SIZE): Promise<Float32Array> {
  const n = 2;
  const x = Float32Array.from({ length: n * size[0] * size[1] * 3 }, (_, i) => (i * 37) % 256);
  const m = await OrtModel.create(bytes, { threads: 1 });
  try {
    return (await m.run(x, [n, size[0], size[1], 3])).data;
  } finally {
    await m.dispose();
  }
}

test('fp32: the second open of the same base takes the cached graph, builds no tfjs model, and computes the same features', async () => {
  const dir = fs.mkdtempSync(path.join(root, 'graphs-'));
  const first = await countedBase();
  const built = await cachedFrozenGraph(options(first.base), { dir });
  assert.equal(built.hit, false);
  assert.equal(first.applies(), 1, 'the first open builds the frozen model');
  const second = await countedBase();
  const cached = await cachedFrozenGraph(options(second.base), { dir });
  assert.equal(cached.hit, true);
  assert.equal(second.applies(), 0, 'no frozen tfjs model is built on a hit');
  assert.deepEqual(await features(cached.bytes), await features(built.bytes));
});

test('another image size, cut or weights misses the cache', async () => {
  const dir = fs.mkdtempSync(path.join(root, 'graphs-'));
  const { base } = await countedBase();
  await cachedFrozenGraph(options(base), { dir });
  // (the tiny tfjs folder cannot be rebuilt at another size: the size's key part is checked on the key)
  assert.notEqual(graphKeyHash(frozenGraphKey(base, [32, 32])), graphKeyHash(frozenGraphKey(base, SIZE)), 'image size');
  assert.equal((await cachedFrozenGraph(options(base, { upTo: 'conv1' }), { dir })).hit, false, 'cut');
  const changed = (await countedBase()).base;
  const conv = changed.model.getLayer('conv1');
  conv.setWeights(conv.getWeights().map((w) => tf.add(w, 0.01)));
  changed.weightsHash = hashWeights(changed.model);
  const miss = await cachedFrozenGraph(options(changed), { dir });
  assert.equal(miss.hit, false, 'weights');
  assert.notDeepEqual(await features(miss.bytes), await features((await cachedFrozenGraph(options(base), { dir })).bytes));
  // The original still hits: entries of other keys did not replace it.
  assert.equal((await cachedFrozenGraph(options(base), { dir })).hit, true);
});

test('int8: the quantized graph is cached under its calibration; a second open reuses both and gives the same features', async () => {
  const dir = fs.mkdtempSync(path.join(root, 'graphs-'));
  const cacheDir = path.join(root, 'int8-features');
  const first = await countedBase();
  const a = await cachedFrozenGraph(options(first.base, { precision: 'int8', cacheDir }), { dir });
  assert.equal(a.hit, false);
  assert.ok(a.calibration);
  const second = await countedBase();
  const b = await cachedFrozenGraph(options(second.base, { precision: 'int8', cacheDir }), { dir });
  assert.equal(b.hit, true);
  assert.equal(second.applies(), 0);
  assert.deepEqual(b.calibration, a.calibration);
  assert.deepEqual(await features(b.bytes), await features(a.bytes));
  // int8 and fp32 of one base are two entries.
  assert.equal((await cachedFrozenGraph(options(second.base), { dir })).hit, true, 'fp32 was cached on the way');
  assert.notDeepEqual((await cachedFrozenGraph(options(second.base), { dir })).bytes, b.bytes);
});

test('a random-weights base is never cached (no other process has its weights), and a runner opened early still runs', async () => {
  const dir = fs.mkdtempSync(path.join(root, 'graphs-'));
  const { base } = await countedBase();
  const random = { ...base, randomWeights: true };
  await cachedFrozenGraph(options(random), { dir });
  assert.deepEqual(fs.readdirSync(dir), []);
  const { runner } = await openFrozenGraph(options(base), { dir });
  const x = new Float32Array(SIZE[0] * SIZE[1] * 3).fill(128);
  const y = await runner.run(x, [1, SIZE[0], SIZE[1], 3]);
  assert.equal(y.shape[0], 1);
  await runner.dispose();
});
