import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeHandBuiltNchw } from '../testing/onnxModels.js';
import { makeTinyBase, makeTinyDataset, TINY_SIZE } from '../testing/tinyRun.js';
import { initBackend } from '../tfjs/backend.js';
import type { TrainOptionsInput } from '../workflows/options.js';
import { train } from '../workflows/train.js';
import { loadClassifier } from './classifier.js';
import { evaluateRun } from './evaluate.js';
import { evaluationFiles } from './predictor.js';
import { TTA_FALLBACK_AUGMENTATION } from './tta.js';

// Test-time augmentation on every kind of run predict serves: features, augment, finetune,
// an ONNX base whose graph fixes the batch at 1, and an int8 base.

let root = '';
let data = '';
let base = '';
const runs: Record<string, string> = {};

before(async () => {
  await initBackend('cpu');
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-tta-'));
  data = await makeTinyDataset(path.join(root, 'data'), { train: 8, validation: 4, test: 3 });
  base = await makeTinyBase(path.join(root, 'base'));
  const hand = path.join(root, 'hand.onnx');
  writeHandBuiltNchw(hand, { size: TINY_SIZE, batch: 1 });
  const common = { data, epochs: 2, batchSize: 8, headUnits: 8, learningRate: 0.01, verbose: 0, cacheDir: path.join(root, 'cache') };
  const make = async (name: string, o: Partial<TrainOptionsInput>) => {
    runs[name] = path.join(root, name);
    await train({ ...common, base, out: runs[name], ...o } as TrainOptionsInput, { log: () => {} });
  };
  await make('features', {});
  await make('augment', { mode: 'augment', augmentation: { flip: 'vertical', rotation: 0.05, zoom: 0.1 } });
  await make('finetune', { mode: 'finetune', from: runs.features, unfreeze: 1, epochs: 1 });
  await make('int8', { precision: 'int8' });
  await make('onnx', { base: hand, preprocess: 'torch', upTo: 'relu_out' });
});

for (const kind of ['features', 'augment', 'finetune', 'int8', 'onnx']) {
  test(`TTA on a ${kind} run: 0 views is predict exactly; 2 views blend to probabilities that sum to 1; evaluate reports both`, async () => {
    const run = runs[kind];
    const clf = await loadClassifier(run);
    try {
      const { files } = evaluationFiles(data, clf.classNames);
      const plain = await clf.predict(files);
      assert.deepEqual(await clf.predict(files, { tta: 0 }), plain);
      const tta = await clf.predict(files, { tta: 2 });
      assert.equal(tta.length, files.length);
      for (const p of tta) {
        const sum = p.probabilities.reduce((a, c) => a + c.probability, 0);
        assert.ok(Math.abs(sum - 1) < 1e-6, `probabilities sum to ${sum}`);
      }
      // The views changed something (the blend is not the plain prediction), and the same call gives the same numbers.
      assert.ok(
        tta.some((p, i) => Math.abs(p.probability - plain[i].probability) > 1e-6 || p.label !== plain[i].label),
        'TTA equals the plain prediction on every image',
      );
      assert.deepEqual(await clf.predict(files, { tta: 2 }), tta);
      // A file path, its bytes and a batch give the same TTA numbers (one image's views depend on its pixels only).
      const [fromBytes] = await clf.predict(fs.readFileSync(files[1]), { tta: 2 });
      assert.ok(Math.abs(fromBytes.probability - tta[1].probability) < 1e-6);
    } finally {
      await clf.dispose();
    }
    const plainEval = await evaluateRun(run, data, { save: false });
    const e = await evaluateRun(run, data, { save: false, tta: 2, batchSize: 4 });
    assert.ok(e.tta, 'evaluate with tta records it');
    assert.equal(e.tta.views, 2);
    assert.equal(e.tta.beta, 0.25);
    assert.deepEqual(e.tta.augmentation, kind === 'augment' ? { flip: 'vertical', rotation: 0.05, zoom: 0.1 } : TTA_FALLBACK_AUGMENTATION);
    // The plain figures come from the same pass as the views (a bigger batch): equal to the plain evaluation's to float precision.
    assert.equal(e.tta.plain.accuracy, plainEval.accuracy);
    assert.ok(Math.abs(e.tta.plain.loss - plainEval.loss) < 1e-5, `${e.tta.plain.loss} vs ${plainEval.loss}`);
    assert.equal(e.n, plainEval.n);
    assert.notEqual(e.loss, plainEval.loss);
  });
}
