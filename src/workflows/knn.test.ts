import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isUserError } from '../errors.js';
import { exportRun } from '../export/exportRun.js';
import { loadClassifier } from '../inference/classifier.js';
import { decodeBatch } from '../inference/predictor.js';
import { loadSplitFeatures } from '../features/cache.js';
import { OrtModel } from '../ort/ortRunner.js';
import { readKnnIndex } from '../run/knnIndex.js';
import { knnProbabilities, poolFeatureMap } from '../run/knnVotes.js';
import { readMeta } from '../run/meta.js';
import { buildReport } from '../cli/commands/report.js';
import { makeTinyBase, makeTinyDataset, TINY_SIZE } from '../testing/tinyRun.js';
import { initBackend } from '../tfjs/backend.js';
import { featureCacheRoot } from './featureCache.js';
import type { TrainOptionsInput } from './options.js';
import { describeTrainResult } from './options.js';
import { train } from './train.js';

// 16 training, 8 validation and 8 test images a class of 16x16, through a tiny conv base folder.
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-knn-'));
const ready = (async () => {
  await initBackend('cpu');
  const data = await makeTinyDataset(path.join(root, 'data'));
  const base = await makeTinyBase(path.join(root, 'base'));
  return { data, base };
})();
const quiet = { log: () => {} };
const cacheDir = path.join(root, 'cache');

async function options(out: string, extra: Partial<TrainOptionsInput> = {}): Promise<TrainOptionsInput> {
  const { data, base } = await ready;
  return { data, base, out, mode: 'knn', verbose: 0, cacheDir, ...extra };
}

const built = (async () => {
  const out = path.join(root, 'run');
  const result = await train(await options(out, { k: 3 }), quiet);
  return { out, result };
})();

test('knn mode: stores the pooled training features and the base, trains nothing, scores validation', async () => {
  const { out, result } = await built;
  const meta = await readMeta(out);
  assert.equal(meta.mode, 'knn');
  assert.equal(meta.labelMode, 'categorical');
  assert.equal(meta.finished, true);
  assert.deepEqual(meta.classes, ['cats', 'dogs']);
  assert.equal(meta.knn?.k, 3);
  assert.equal(meta.knn?.count, 32);
  assert.ok(fs.existsSync(path.join(out, 'model', 'model.json')));
  assert.ok(!fs.existsSync(path.join(out, 'history.json')), 'no epoch ran');
  // The stored vectors are the cached train features, pooled: row for row.
  const index = await readKnnIndex(out, meta.classes);
  const cached = await loadSplitFeatures(path.join(featureCacheRoot(cacheDir), fs.readdirSync(featureCacheRoot(cacheDir))[0]), 'train');
  assert.equal(index.dim, cached.featureShape.at(-1));
  const per = cached.features.length / cached.n;
  for (const i of [0, 17, 31]) {
    const want = new Float32Array(index.dim);
    poolFeatureMap(cached.features.subarray(i * per, (i + 1) * per), index.dim, want);
    assert.deepEqual(index.vectors.subarray(i * index.dim, (i + 1) * index.dim), want);
    assert.equal(index.labels[i], cached.labels[i]);
    assert.equal(index.images[i].file, path.resolve((await ready).data, cached.files[i]));
  }
  // Red against blue: the validation split is told apart.
  assert.equal(result.knn?.validation?.n, 16);
  assert.ok((result.knn?.validation?.accuracy ?? 0) >= 15 / 16, JSON.stringify(result.knn));
  assert.equal(result.bestEpoch, -1);
  assert.match(describeTrainResult(result, out), /kNN: 32 images stored .* k 3; nothing was trained\. Validation: accuracy/);
});

test("knn run: predict gives the stored features' vote (TypeScript reference), evaluate and the report read it", async () => {
  const { out } = await built;
  const { data } = await ready;
  const index = await readKnnIndex(out);
  const files = ['cats', 'dogs'].flatMap((c) => [0, 1, 2].map((i) => path.join(data, 'test', c, `${c}.${i}.png`)));
  const classifier = await loadClassifier(out);
  try {
    const predictions = await classifier.predict(files);
    // The reference: the base's feature maps (the same base through tfjs-free ONNX Runtime), pooled, voted in TypeScript.
    const features = await OrtModel.create(
      (await import('../onnx/export.js')).exportToOnnx(
        await (await import('@tensorflow/tfjs-layers')).loadLayersModel(
          (await import('../weights/tfjsFiles.js')).fileSystemIO(path.join(out, 'model')),
        ),
      ),
    );
    const maps = await features.run(await decodeBatch(files, [TINY_SIZE, TINY_SIZE]), [files.length, TINY_SIZE, TINY_SIZE, 3]);
    await features.dispose();
    const per = maps.data.length / files.length;
    predictions.forEach((p, i) => {
      const q = new Float32Array(index.dim);
      poolFeatureMap(maps.data.subarray(i * per, (i + 1) * per), index.dim, q);
      const want = knnProbabilities(index, q, 3);
      for (const [c, name] of ['cats', 'dogs'].entries()) {
        const got = p.probabilities.find((x) => x.label === name)!.probability;
        assert.ok(Math.abs(got - want[c]) < 1e-5, `${files[i]}: ${name} ${got} vs ${want[c]}`);
      }
    });
    const evaluation = await classifier.evaluate(data);
    assert.equal(evaluation.n, 16);
    assert.ok(evaluation.accuracy >= 15 / 16, `${evaluation.accuracy}`);
    const html = fs.readFileSync(await buildReport(out), 'utf8');
    assert.match(html, /kNN<\/th>\s*<td>no training: the 3 stored images nearest/);
    assert.doesNotMatch(html, /<th>Optimizer<\/th>/);
    await assert.rejects(classifier.predict(files[0], { explain: true }), (e) => isUserError(e) && /kNN run/.test((e as Error).message));
  } finally {
    await classifier.dispose();
  }
});

test('knn run: the ONNX export holds the base and the stored features, and matches predict within 1e-4', async () => {
  const { out } = await built;
  const { data } = await ready;
  const exported = path.join(root, 'export');
  const r = await exportRun(out, { format: 'onnx', out: exported });
  assert.match(r.metadata.output.meaning, /weighted votes of the 3 stored images/);
  const files = ['cats', 'dogs'].flatMap((c) => [3, 4, 5, 6].map((i) => path.join(data, 'test', c, `${c}.${i}.png`)));
  const session = await OrtModel.create(fs.readFileSync(path.join(exported, 'model.onnx')));
  const classifier = await loadClassifier(out);
  try {
    const { data: probs } = await session.run(await decodeBatch(files, [TINY_SIZE, TINY_SIZE]), [files.length, TINY_SIZE, TINY_SIZE, 3]);
    const predicted = await classifier.predict(files);
    predicted.forEach((p, i) => {
      for (const [c, name] of ['cats', 'dogs'].entries()) {
        const want = p.probabilities.find((x) => x.label === name)!.probability;
        assert.ok(Math.abs(probs[i * 2 + c] - want) < 1e-4, `${files[i]} ${name}: export ${probs[i * 2 + c]}, predict ${want}`);
      }
    });
  } finally {
    await session.dispose();
    await classifier.dispose();
  }
  await assert.rejects(
    exportRun(out, { format: 'tfjs', out: path.join(root, 'export-tfjs') }),
    (e) => isUserError(e) && /Export --format onnx/.test((e as Error).message),
  );
});

test('knn mode refuses what it does not read, and --k outside knn', async () => {
  const refuses = async (extra: Partial<TrainOptionsInput>, message: RegExp) =>
    assert.rejects(
      train(await options(path.join(root, 'refused'), extra), quiet),
      (e) => isUserError(e) && message.test((e as Error).message),
    );
  await refuses({ epochs: 3 }, /epochs applies to mode features or augment or finetune \(got mode knn, which trains nothing\)/);
  await refuses({ precision: 'int8' }, /precision applies to mode/);
  await refuses({ mode: 'features', k: 3 }, /k applies to mode knn only/);
  await refuses({ k: 0 }, /k must be a whole number >= 1/);
  await refuses({ multiLabel: true }, /knn votes for one class an image/);
  assert.ok(!fs.existsSync(path.join(root, 'refused')), 'nothing written');
});

test('knn mode needs no validation split', async () => {
  const { data } = await ready;
  const flat = path.join(root, 'flat');
  for (const c of ['cats', 'dogs']) fs.cpSync(path.join(data, 'train', c), path.join(flat, c), { recursive: true });
  const out = path.join(root, 'run-flat');
  const r = await train(await options(out, { data: flat }), quiet);
  assert.equal(r.knn?.count, 32);
  assert.equal(r.knn?.validation, undefined);
  assert.equal((await readMeta(out)).knn?.k, 5);
});
