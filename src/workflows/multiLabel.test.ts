import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { readNpy } from '../io/npy.js';
import { readMeta } from '../run/meta.js';
import { chooseThresholds } from '../run/multiLabelMetrics.js';
import { readHistory } from '../run/runDir.js';
import { initBackend } from '../tfjs/backend.js';
import { makeTinyMultiLabelSet, TINY_COLOURS } from '../testing/tinyMultiLabel.js';
import { makeTinyBase, makeTinyDataset } from '../testing/tinyRun.js';
import { isUserError } from '../errors.js';
import { fileSystemIO } from '../weights/tfjsFiles.js';
import type { TrainOptionsInput } from './options.js';
import { train } from './train.js';

// 21 training and 14 validation images, each with one to three of three colours, through a tiny conv base.
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-multilabel-'));
const ready = (async () => {
  await initBackend('cpu');
  const set = await makeTinyMultiLabelSet(path.join(root, 'set'));
  const base = await makeTinyBase(path.join(root, 'base'));
  return { ...set, base };
})();
const quiet = { log: () => {} };

async function options(out: string, extra: Partial<TrainOptionsInput> = {}): Promise<TrainOptionsInput> {
  const { data, table, base } = await ready;
  return {
    data,
    labels: table,
    labelDelim: ' ',
    base,
    out: path.join(root, out),
    epochs: 8,
    batchSize: 8,
    headUnits: 16,
    learningRate: 0.01,
    verbose: 0,
    seed: 5,
    cacheDir: path.join(root, 'cache'),
    ...extra,
  };
}

/** The saved model's probabilities on the images of `files` (relative to the data folder). */
async function savedProbabilities(run: string, data: string, files: string[]): Promise<number[][]> {
  const model = await tfl.loadLayersModel(fileSystemIO(path.join(run, 'model')));
  const sharp = (await import('sharp')).default;
  const pixels = await Promise.all(
    files.map(async (f) => Float32Array.from(await sharp(path.join(data, f)).removeAlpha().raw().toBuffer())),
  );
  const size = model.inputs[0].shape[1] as number;
  const x = tf.tensor4d(Float32Array.from(pixels.flatMap((p) => [...p])), [files.length, size, size, 3]);
  const y = model.predict(x) as tf.Tensor;
  const out = (await y.array()) as number[][];
  tf.dispose([x, y]);
  model.dispose();
  return out;
}

for (const engine of ['ort', 'tfjs'] as const) {
  test(`multi-label features mode on ${engine}: k sigmoids, multi-hot cache labels, mAP per epoch, thresholds in meta.json`, async () => {
    const { data, labels } = await ready;
    // The book's flattened head, given: this tiny set is what it was tuned on.
    const r = await train(await options(`features-${engine}`, { engine, pooling: 'flatten' }), quiet);
    const out = r.runDir;
    const meta = await readMeta(out);
    assert.equal(meta.labelMode, 'multi-label');
    assert.equal(meta.head.pooling, 'flatten', 'pooling as given');
    assert.deepEqual(meta.classes, [...TINY_COLOURS]);
    assert.equal(meta.thresholdSource, 'validation-f1');
    assert.equal(meta.thresholds?.length, 3);
    assert.ok(
      meta.thresholds!.every((t) => t > 0 && t < 1),
      `thresholds ${meta.thresholds}`,
    );
    assert.equal(meta.calibration, undefined, 'no temperature for multi-label');

    const history = (await readHistory(out))!;
    for (const key of ['loss', 'accuracy', 'val_loss', 'val_accuracy', 'map', 'val_map']) {
      assert.equal(history.history[key]?.length, 8, `${key} per epoch`);
    }
    const valMap = history.history.val_map;
    assert.ok(valMap[valMap.length - 1] >= 0.95, `val_map ${valMap}`);
    assert.ok(valMap[valMap.length - 1] > valMap[0] || valMap[0] >= 0.95, `val_map improves: ${valMap}`);
    const header = fs.readFileSync(path.join(out, 'log.csv'), 'utf8').split('\n')[0];
    assert.equal(header, 'epoch,accuracy,loss,map,val_accuracy,val_loss,val_map');

    // The thresholds are the saved model's: each class's best F1 on the validation images.
    const validation = fs
      .readFileSync((await ready).table, 'utf8')
      .split('\n')
      .filter((l) => l.endsWith(',true'))
      .map((l) => l.split(',')[0]);
    const probs = await savedProbabilities(out, data, validation);
    const truth = validation.flatMap((f) => TINY_COLOURS.map((c) => (labels[f].includes(c) ? 1 : 0)));
    const expected = chooseThresholds(probs.flat(), truth, 3);
    meta.thresholds!.forEach((t, c) => assert.ok(Math.abs(t - expected[c]) < 1e-4, `${meta.thresholds} vs ${expected}`));
    for (const row of probs) assert.equal(row.length, 3);
    const right = validation.filter((f, i) => {
      const given = TINY_COLOURS.filter((_, c) => probs[i][c] >= meta.thresholds![c]);
      return given.join() === [...labels[f]].sort().join();
    });
    assert.ok(right.length >= 13, `exact matches on validation: ${right.length}/14`);
    // Several labels an image: probabilities are not a softmax.
    assert.ok(probs.some((row) => row.reduce((a, b) => a + b, 0) > 1.5));
  });
}

test("multi-label cache: labels.npy of each split is float32 [n, k] multi-hot, in the rows' order", async () => {
  const { labels } = await ready;
  await train(await options('cache-check', { epochs: 1 }), quiet);
  const cache = path.join(root, 'cache');
  const folders = fs.readdirSync(cache).map((d) => path.join(cache, d));
  const split = folders.map((f) => path.join(f, 'validation')).find((f) => fs.existsSync(path.join(f, 'labels.npy')))!;
  const npy = await readNpy(path.join(split, 'labels.npy'));
  const splitMeta = JSON.parse(fs.readFileSync(path.join(split, 'meta.json'), 'utf8')) as { files: string[] };
  assert.equal(npy.dtype, '<f4');
  assert.deepEqual(npy.shape, [14, 3]);
  splitMeta.files.forEach((f, i) => {
    const row = [...npy.data.subarray(i * 3, i * 3 + 3)];
    assert.deepEqual(
      row,
      TINY_COLOURS.map((c) => (labels[f].includes(c) ? 1 : 0)),
      f,
    );
  });
});

test('--threshold gives every class that threshold; with one label an image it is refused', async () => {
  await train(await options('given', { epochs: 1, threshold: 0.3 }), quiet);
  const meta = await readMeta(path.join(root, 'given'));
  assert.deepEqual(meta.thresholds, [0.3, 0.3, 0.3]);
  assert.equal(meta.thresholdSource, 'given');
  const single = path.join(root, 'single.csv');
  fs.writeFileSync(
    single,
    fs
      .readFileSync((await ready).table, 'utf8')
      .split('\n')
      .map((l, i) => (i === 0 || !l ? l : l.replace(/,([a-z]+)( [a-z ]+)?,/, ',$1,')))
      .join('\n'),
  );
  await assert.rejects(train(await options('refused', { labels: single, threshold: 0.3 }), quiet), (e: unknown) => {
    assert.ok(isUserError(e), String(e));
    assert.match((e as Error).message, /threshold sets the decision threshold of a multi-label run.*Add multiLabel/);
    return true;
  });
});

test('a changed table trains again without extracting an image: the cache is relabelled', async () => {
  const { table } = await ready;
  const relabelled = path.join(root, 'relabelled.csv');
  fs.writeFileSync(relabelled, fs.readFileSync(table, 'utf8').replaceAll('blue', 'cyan'));
  const lines: string[] = [];
  await train(await options('before-relabel', { epochs: 1 }), quiet);
  const r = await train(await options('relabelled', { epochs: 2, labels: relabelled, verbose: 1 }), { log: (l) => lines.push(l) });
  const meta = await readMeta(r.runDir);
  assert.deepEqual(meta.classes, ['cyan', 'green', 'red']);
  assert.equal(meta.timings.extractImages, 0, 'no image went through the base');
  assert.ok(lines.includes('Features: relabelled from the cache (labels changed, no image did).'), lines.join('\n'));
});

test('--multi-label on class folders: two classes give two sigmoids, each image its class folder as its one label', async () => {
  const data = await makeTinyDataset(path.join(root, 'folders'), { train: 8, validation: 4 });
  const r = await train(
    {
      data,
      base: (await ready).base,
      out: path.join(root, 'folders-run'),
      multiLabel: true,
      epochs: 4,
      batchSize: 8,
      headUnits: 8,
      verbose: 0,
      learningRate: 0.01,
      cacheDir: path.join(root, 'cache'),
    },
    quiet,
  );
  const meta = await readMeta(r.runDir);
  assert.equal(meta.labelMode, 'multi-label');
  assert.deepEqual(meta.classes, ['cats', 'dogs']);
  assert.equal(meta.thresholds?.length, 2);
  const model = await tfl.loadLayersModel(fileSystemIO(path.join(r.runDir, 'model')));
  assert.deepEqual(model.outputs[0].shape, [null, 2]);
  model.dispose();
  assert.ok(r.history.history.val_map.at(-1)! >= 0.9, `val_map ${r.history.history.val_map}`);
  // The same folders without the option: one sigmoid, binary.
  const single = await train(
    {
      data,
      base: (await ready).base,
      out: path.join(root, 'folders-single'),
      epochs: 1,
      batchSize: 8,
      headUnits: 8,
      verbose: 0,
      cacheDir: path.join(root, 'cache'),
    },
    quiet,
  );
  assert.equal((await readMeta(single.runDir)).labelMode, 'binary');
  assert.equal(single.history.history.val_map, undefined);
});

test('multi-label data pools the feature map unless pooling is given (a flattened head saturates its sigmoids)', async () => {
  const r = await train(await options('pooled-by-default', { epochs: 1 }), quiet);
  const meta = await readMeta(r.runDir);
  assert.equal(meta.labelMode, 'multi-label');
  assert.equal(meta.head.pooling, 'avg');
  assert.equal(meta.options.pooling, 'avg', 'recorded, so --resume checks the same head');
  const resumed = await train(await options('pooled-by-default', { epochs: 2, resume: true }), quiet);
  assert.equal((await readMeta(resumed.runDir)).head.pooling, 'avg');
});
