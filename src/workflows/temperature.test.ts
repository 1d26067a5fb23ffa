import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '../tfjs/backend.js';
import { fileSystemIO } from '../weights/tfjsFiles.js';
import { makeTinyBase, makeTinyDataset } from '../testing/tinyRun.js';
import { evaluateRun } from '../inference/evaluate.js';
import { loadClassifier } from '../inference/classifier.js';
import { readMeta } from '../run/meta.js';
import { runPaths } from '../run/paths.js';
import { rescaleScores } from '../run/temperature.js';
import { train } from './train.js';
import type { TrainOptionsInput } from './options.js';

// The tiny red/blue task with 4 of the 16 validation images in the wrong class folder: the
// head is confidently wrong on them, so the validation split has a finite best temperature.
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-temperature-'));
const ready = (async () => {
  await initBackend('cpu');
  const data = await makeTinyDataset(path.join(root, 'data'), { train: 16, validation: 8, test: 8 });
  for (const [from, to] of [
    ['cats', 'dogs'],
    ['dogs', 'cats'],
  ]) {
    for (const i of [0, 1]) {
      const name = `${from}.${i}.png`;
      fs.renameSync(path.join(data, 'validation', from, name), path.join(data, 'validation', to, `mislabelled-${name}`));
    }
  }
  const base = await makeTinyBase(path.join(root, 'base'));
  return { data, base };
})();
const quiet = { log: () => {} };

async function options(out: string, extra: Partial<TrainOptionsInput> = {}): Promise<TrainOptionsInput> {
  const { data, base } = await ready;
  // Dropout 0: training is a pure function of the seed, so runs that differ only in calibration train alike.
  return {
    data,
    base,
    out: path.join(root, out),
    epochs: 6,
    batchSize: 8,
    headUnits: 16,
    dropout: 0,
    learningRate: 0.01,
    verbose: 0,
    seed: 5,
    cacheDir: path.join(root, 'cache'),
    ...extra,
  };
}

/** Every layer's weights in a run's saved model. */
async function weightsOf(run: string): Promise<Map<string, Float32Array[]>> {
  const model = await tfl.loadLayersModel(fileSystemIO(runPaths(path.join(root, run)).model));
  const out = new Map(model.layers.map((l) => [l.name, l.getWeights().map((w) => w.dataSync() as Float32Array)]));
  model.dispose();
  return out;
}

/** `calibrated` is `raw` with head_output divided by t, every other layer the same (float32 rounding aside). */
async function assertFolded(calibrated: string, raw: string, t: number, tolerance = 1e-6): Promise<void> {
  const a = await weightsOf(calibrated);
  const b = await weightsOf(raw);
  for (const [layer, ws] of b) {
    const scale = layer === 'head_output' ? 1 / t : 1;
    ws.forEach((w, k) =>
      w.forEach((v, i) => {
        const got = a.get(layer)![k][i];
        assert.ok(
          Math.abs(got - v * scale) <= tolerance * Math.max(1, Math.abs(v * scale)),
          `${layer}[${k}][${i}]: ${got} vs ${v} x ${scale}`,
        );
      }),
    );
  }
}

const metaOf = (run: string) => readMeta(path.join(root, run));

test('features mode: T fitted on validation and folded into head_output; training, accuracy and predictions unchanged', async () => {
  const raw = await train(await options('raw', { calibration: 'none' }), quiet);
  const cal = await train(await options('cal'), quiet);
  assert.deepEqual(cal.history, raw.history, 'calibration happens after training and changes nothing in it');
  assert.equal((await metaOf('raw')).calibration, undefined);
  const c = (await metaOf('cal')).calibration;
  assert.ok(c, 'meta.json records the calibration');
  assert.equal(c.method, 'temperature');
  assert.equal(c.layer, 'head_output');
  assert.equal(c.epoch, cal.bestEpoch);
  assert.equal(c.validation.n, 16);
  assert.ok(c.temperature > 1, `an overconfident head softens: T ${c.temperature}`);
  assert.ok(c.validation.nllAfter < c.validation.nllBefore, `validation loss ${c.validation.nllBefore} -> ${c.validation.nllAfter}`);
  assert.ok(c.validation.eceAfter < c.validation.eceBefore, `validation ECE ${c.validation.eceBefore} -> ${c.validation.eceAfter}`);
  await assertFolded('cal', 'raw', c.temperature);

  // evaluate and predict run model/: the same classes, the calibrated probabilities, the ECE with and without T.
  const { data } = await ready;
  const er = await evaluateRun(path.join(root, 'raw'), data, { save: false });
  const ec = await evaluateRun(path.join(root, 'cal'), data, { save: false });
  assert.equal(ec.accuracy, er.accuracy);
  assert.deepEqual(ec.confusion, er.confusion);
  assert.equal(er.temperature, undefined);
  assert.equal(er.eceUncalibrated, undefined);
  assert.equal(ec.temperature, c.temperature);
  assert.ok(Math.abs((ec.eceUncalibrated as number) - (er.ece as number)) < 1e-5, `${ec.eceUncalibrated} vs ${er.ece}`);
  const back = rescaleScores(
    ec.files.map((f) => f.scores),
    c.temperature,
  );
  er.files.forEach((f, i) => assert.ok(Math.abs(back[i][1] - f.scores[1]) < 1e-4, `${f.file}: ${back[i][1]} vs ${f.scores[1]}`));
  const clf = await loadClassifier(path.join(root, 'cal'));
  const rawClf = await loadClassifier(path.join(root, 'raw'));
  const photo = path.join(data, 'test', 'cats', 'cats.3.png');
  const [p] = await clf.predict(photo);
  const [q] = await rawClf.predict(photo);
  assert.equal(p.label, q.label);
  // Softer: the calibrated top probability is below the raw one (T > 1), never past 1/2.
  assert.ok(p.probability <= q.probability && p.probability >= 0.5, `${p.probability} vs ${q.probability}`);
  await clf.dispose();
  await rawClf.dispose();
});

test("T is fitted on the saved best model's logits over the whole validation split, dropout off: evaluate on that split gives the recorded figures", async () => {
  // With dropout 0.5 in the head: logits taken with it on (or from another epoch's weights) would not match the saved model's.
  await train(await options('dropout', { dropout: 0.5, epochs: 4 }), quiet);
  const c = (await metaOf('dropout')).calibration;
  assert.ok(c && c.temperature !== 1, JSON.stringify(c));
  const { data } = await ready;
  // The saved (calibrated) model, run whole on ONNX Runtime from the images, as `tlkit evaluate` runs it.
  const e = await evaluateRun(path.join(root, 'dropout'), path.join(data, 'validation'), { save: false });
  assert.equal(e.n, c.validation.n, 'every validation image');
  assert.ok(
    Math.abs(e.loss - c.validation.nllAfter) <= 1e-4 * Math.max(1, c.validation.nllAfter),
    `loss ${e.loss} vs fitted ${c.validation.nllAfter}`,
  );
  assert.ok(Math.abs((e.ece as number) - c.validation.eceAfter) < 1e-5, `ECE ${e.ece} vs fitted ${c.validation.eceAfter}`);
  assert.ok(
    Math.abs((e.eceUncalibrated as number) - c.validation.eceBefore) < 1e-5,
    `ECE without T ${e.eceUncalibrated} vs ${c.validation.eceBefore}`,
  );
});

/** Aborts its controller after `n` training batches, as Ctrl-C mid-epoch would. */
function abortAfterBatches(n: number, controller: AbortController): tfl.Callback {
  let seen = 0;
  return new tfl.CustomCallback({
    onBatchEnd: async () => {
      if (++seen === n) controller.abort();
    },
  }) as unknown as tfl.Callback;
}

test('exactly once: an interrupted run is not calibrated until --resume finishes it; resuming a calibrated run never folds T twice', async () => {
  // At learning rate 1e-3 the best validation loss comes at the third epoch (measured: 0.639, 0.615, 0.611, 0.623, ...).
  const slow = { learningRate: 1e-3, epochs: 6 };
  await train(await options('steady', { ...slow, calibration: 'none' }), quiet);
  assert.equal((await metaOf('steady')).bestEpoch, 2);
  const controller = new AbortController();
  const cut = await train(await options('cut', { ...slow, signal: controller.signal }), {
    ...quiet,
    callbacks: [abortAfterBatches(4 + 1, controller)],
  });
  assert.equal(cut.interrupted, true);
  assert.equal((await metaOf('cut')).calibration, undefined, 'an interrupted run keeps its raw model');
  await train(await options('cut', { ...slow, resume: true }), quiet);
  const once = (await metaOf('cut')).calibration!;
  assert.equal(once.epoch, 2);
  assert.ok(once.temperature > 0 && once.temperature !== 1, `T ${once.temperature}`);
  await assertFolded('cut', 'steady', once.temperature, 1e-5);

  // Resumed with nothing left to train: model/ already holds its T and is left alone.
  const modelBytes = () => fs.readFileSync(path.join(root, 'cut', 'model', 'weights.bin'));
  const before = modelBytes();
  const logs: string[] = [];
  await train(await options('cut', { ...slow, resume: true, verbose: 1 }), { log: (l) => logs.push(l) });
  assert.ok(before.equals(modelBytes()), 'the model is not folded again');
  assert.deepEqual((await metaOf('cut')).calibration, once);
  assert.ok(
    logs.some((l) => /already holds its temperature/.test(l)),
    logs.join('\n'),
  );

  // A finished, calibrated run resumed for more epochs: the better epoch is a new, raw checkpoint, calibrated once at the end.
  await train(await options('short', { ...slow, epochs: 2 }), quiet);
  const first = (await metaOf('short')).calibration!;
  assert.equal(first.epoch, 1);
  await train(await options('short', { ...slow, resume: true }), quiet);
  const second = (await metaOf('short')).calibration!;
  assert.equal(second.epoch, 2);
  assert.notEqual(second.temperature, first.temperature);
  await assertFolded('short', 'steady', second.temperature, 1e-5);

  // calibration none on a calibrated run takes its T out again.
  await train(await options('short', { ...slow, resume: true, calibration: 'none' }), quiet);
  assert.equal((await metaOf('short')).calibration, undefined);
  await assertFolded('short', 'steady', 1, 1e-5);
});

test('finetune: calibrated once, after the last phase; fine-tuning from a calibrated run starts from its raw model', async () => {
  const tune = { mode: 'finetune', unfreeze: 2, epochs: 3 } as const;
  const raw = await train(await options('ft-raw', { ...tune, calibration: 'none' }), quiet);
  const cal = await train(await options('ft-cal', tune), quiet);
  assert.deepEqual(cal.history, raw.history, 'the head phase is not calibrated: fine-tuning starts from the same head');
  const c = (await metaOf('ft-cal')).calibration!;
  assert.ok(c.temperature > 0 && c.temperature !== 1, `T ${c.temperature}`);
  await assertFolded('ft-cal', 'ft-raw', c.temperature, 1e-5);

  // From a calibrated features run and from its raw twin: the same fine-tuning.
  await train(await options('src-raw', { calibration: 'none' }), quiet);
  await train(await options('src-cal'), quiet);
  const fromRaw = await train(await options('from-raw', { ...tune, from: path.join(root, 'src-raw'), calibration: 'none' }), quiet);
  const fromCal = await train(await options('from-cal', { ...tune, from: path.join(root, 'src-cal'), calibration: 'none' }), quiet);
  fromRaw.history.history.val_loss.forEach((v, i) =>
    assert.ok(
      Math.abs(fromCal.history.history.val_loss[i] - v) < 1e-4 * Math.max(1, v),
      `val_loss ${i}: ${fromCal.history.history.val_loss[i]} vs ${v}`,
    ),
  );
});

test('the timings say whether the features were extracted or came from the cache', async () => {
  const cacheDir = path.join(root, 'fresh-cache');
  await train(await options('t1', { epochs: 1, cacheDir }), quiet);
  const first = (await metaOf('t1')).timings;
  assert.equal(first.extractImages, 32 + 16, 'train and validation extracted');
  assert.ok(first.extractImagesPerSecond > 0);
  await train(await options('t2', { epochs: 1, cacheDir }), quiet);
  assert.equal((await metaOf('t2')).timings.extractImages, 0, 'every split from the cache');
  assert.ok((await metaOf('t2')).timings.calibrationSeconds >= 0);
});
