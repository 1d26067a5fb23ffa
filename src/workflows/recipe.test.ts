import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type * as tfl from '@tensorflow/tfjs-layers';
import { loadBase } from '../applications/loadBase.js';
import { batchRatesOf } from '../fit/callbacks/lrScheduler.js';
import { readMeta } from '../run/meta.js';
import { loadTrainState } from '../run/trainState.js';
import { makeTinyBase, makeTinyDataset } from '../testing/tinyRun.js';
import type { EpochLogs } from '../run/history.js';
import { SHARED } from '../testing/photos.js';
import { validateTrainOptions, withTrainDefaults, type TrainOptionsInput } from './options.js';
import { FINE_TUNE_DEFAULTS, FINETUNE_LEARNING_RATE, fineTunePlan, withRecipeDefaults } from './recipe.js';
import { train } from './train.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-recipe-'));
const dataReady = makeTinyDataset(path.join(root, 'data'), { train: 24, validation: 8 });
const baseReady = makeTinyBase(path.join(root, 'tiny-base'));
const quiet = { log: () => {} };

/** The tiny base (a fixed scaling conv, conv1, pool1) at 16x16: unfreeze 2 trains conv1 with the head; no dropout, so runs repeat exactly. */
async function options(out: string, extra: Partial<TrainOptionsInput> = {}): Promise<TrainOptionsInput> {
  return {
    data: await dataReady,
    base: await baseReady,
    out: path.join(root, out),
    recipe: 'fine-tune',
    unfreeze: 2,
    epochs: 2,
    batchSize: 16,
    headUnits: 8,
    dropout: 0,
    cacheDir: path.join(root, 'cache'),
    verbose: 0,
    ...extra,
  };
}

const required = { data: 'd', base: 'b', out: 'o' };
const planOf = (input: Partial<TrainOptionsInput>) => fineTunePlan(withTrainDefaults(withRecipeDefaults({ ...required, ...input })), 'api');

test("--recipe fine-tune fills in fastai's fine_tune defaults where nothing was given; what was given stays; the book's recipe adds none", () => {
  const filled = withRecipeDefaults({ ...required, recipe: 'fine-tune' });
  assert.deepEqual(filled, { ...FINE_TUNE_DEFAULTS, ...required, recipe: 'fine-tune' });
  assert.deepEqual(FINE_TUNE_DEFAULTS, {
    mode: 'finetune',
    optimizer: 'adamw',
    learningRate: 2e-3,
    schedule: 'one-cycle',
    lrMult: 100,
    freezeEpochs: 1,
    pooling: 'avg',
    headActivation: 'relu',
    augment: true,
    epochs: 8,
  });
  const given = withRecipeDefaults({ ...required, recipe: 'fine-tune', optimizer: 'sgd', learningRate: 0.01, lrMult: undefined });
  assert.equal(given.optimizer, 'sgd');
  assert.equal(given.learningRate, 0.01);
  assert.equal(given.lrMult, 100, 'undefined counts as not given');
  assert.deepEqual(withRecipeDefaults({ ...required, recipe: 'book' }), { ...required, recipe: 'book' });
  // With another mode it adds nothing, and train()'s checks name the recipe itself.
  const features = { ...required, recipe: 'fine-tune' as const, mode: 'features' as const };
  assert.deepEqual(withRecipeDefaults(features), features);
  assert.throws(
    () => validateTrainOptions(withTrainDefaults(withRecipeDefaults(features)), 'cli'),
    /^UserError: --recipe applies to --mode finetune only \(got --mode features\)/,
  );
  assert.deepEqual(withRecipeDefaults({ ...required }), required);
});

test("the plans: the book's phases (the optimizer's rate, then RMSprop 1e-5, one rate) and fastai's fine_tune (one-cycles at base_lr and base_lr/2, lr_mult 100)", () => {
  const book = planOf({ mode: 'finetune' });
  assert.equal(book.head.epochs, 20);
  assert.deepEqual(book.head.optimizer, { name: 'rmsprop', learningRate: undefined, schedule: { name: 'constant', warmup: 0 } });
  assert.equal(book.unfreeze.optimizer.learningRate, FINETUNE_LEARNING_RATE);
  assert.equal(book.unfreeze.lrMult, 1);
  assert.equal(planOf({ mode: 'finetune', freezeEpochs: 3, lrMult: 10 }).head.epochs, 3);
  assert.equal(planOf({ mode: 'finetune', lrMult: 10 }).unfreeze.lrMult, 10);

  assert.equal(planOf({ recipe: 'fine-tune' }).unfreeze.epochs, 8);
  const fastai = planOf({ recipe: 'fine-tune', epochs: 4 });
  assert.deepEqual(fastai.head, {
    epochs: 1,
    optimizer: { name: 'adamw', learningRate: 2e-3, schedule: { name: 'one-cycle', pctStart: 0.99 } },
    lrMult: 1,
  });
  assert.deepEqual(fastai.unfreeze, {
    epochs: 4,
    optimizer: { name: 'adamw', learningRate: 1e-3, schedule: { name: 'one-cycle', pctStart: 0.3, div: 5 } },
    lrMult: 100,
  });
  // fine_tune's own pct_start and div are the unfrozen phase's; div_final goes to both (fit_one_cycle's kwargs).
  const own = planOf({ recipe: 'fine-tune', pctStart: 0.5, div: 10, finalDiv: 1e4, learningRate: 4e-3, weightDecay: 0.1 });
  assert.deepEqual(own.head.optimizer, {
    name: 'adamw',
    learningRate: 4e-3,
    weightDecay: 0.1,
    schedule: { name: 'one-cycle', finalDiv: 1e4, pctStart: 0.99 },
  });
  assert.deepEqual(own.unfreeze.optimizer.schedule, { name: 'one-cycle', finalDiv: 1e4, pctStart: 0.5, div: 10 });
  assert.equal(own.unfreeze.optimizer.learningRate, 2e-3);
  // Another schedule given: both phases take it as it is.
  assert.deepEqual(planOf({ recipe: 'fine-tune', schedule: 'constant' }).unfreeze.optimizer.schedule, { name: 'constant', warmup: 0 });
});

/** Every batch's learning rate, epoch by epoch (LearningRateScheduler records them in the epoch's logs). */
function rateRecorder(): { rates: number[][]; callback: tfl.Callback } {
  const rates: number[][] = [];
  const callback = { onEpochEnd: (_e: number, logs?: EpochLogs) => void rates.push(batchRatesOf(logs) ?? []) };
  return { rates, callback: callback as unknown as tfl.Callback };
}

const near = (a: number, b: number, tol = 1e-6) => Math.abs(a - b) <= tol * Math.abs(b);

test('--recipe fine-tune from a fresh start: a one-cycle head epoch at 2e-3, then one-cycle fine-tuning at 1e-3 over layer groups, with AdamW; ONNX Runtime and tfjs give the same curve', async () => {
  const curves: Record<string, number[]> = {};
  for (const engine of ['ort', 'tfjs'] as const) {
    const { rates, callback } = rateRecorder();
    const lines: string[] = [];
    const r = await train(await options(`fresh-${engine}`, { engine, verbose: 1 }), { log: (l) => lines.push(l), callbacks: [callback] });
    assert.deepEqual(r.history.epoch, [0, 1, 2], 'freeze-epochs 1, then --epochs 2');
    assert.equal(r.history.fineTuneStartEpoch, 1);
    // 48 images, batches of 16: 3 steps an epoch. The head's cycle rises over 99% of its 3 steps from 2e-3/25.
    assert.equal(rates[0].length, 3);
    assert.ok(near(rates[0][0], 2e-3 / 25), `head: first rate ${rates[0][0]}`);
    assert.ok(Math.max(...rates[0]) <= 2e-3 * (1 + 1e-6), `head: peak ${Math.max(...rates[0])}`);
    // Fine-tuning: 6 steps from 1e-3/5 up to about 1e-3 (OneCycleLR's peak falls between steps 1 and 2 here), down to 1e-3/1e5.
    const tuned = [...rates[1], ...rates[2]];
    const peak = Math.max(...tuned);
    assert.ok(near(tuned[0], 1e-3 / 5), `fine-tuning: first rate ${tuned[0]}`);
    assert.ok(peak <= 1e-3 * (1 + 1e-6) && peak > 0.99e-3, `fine-tuning: peak ${peak}`);
    assert.ok(near(tuned.at(-1)!, 1e-3 / 1e5), `fine-tuning: last rate ${tuned.at(-1)}`);
    const said = lines.join('\n');
    assert.match(said, /Layer groups \(lrMult 100\): conv1\.\.pool1 at 1\.0e-5, the head at 1\.0e-3\./, said);
    if (engine === 'ort') assert.match(said, /train on ONNX Runtime/, said);
    const meta = await readMeta(path.join(root, `fresh-${engine}`));
    assert.equal(meta.options?.recipe, 'fine-tune');
    assert.equal(meta.options?.optimizer, 'adamw');
    curves[engine] = r.history.history.val_loss;
  }
  // A trainer that dropped the schedule or the multipliers (conv1 at 1e-3, not 1e-5) would part from tfjs here.
  curves.ort.forEach((v, i) => assert.ok(Math.abs(v - curves.tfjs[i]) <= 1e-4, `epoch ${i + 1}: ORT ${v}, tfjs ${curves.tfjs[i]}`));
});

test('--recipe fine-tune --from RUN skips the head phase: its one-cycle fine-tuning starts at once, after the run it came from', async () => {
  const head = path.join(root, 'from-head');
  await train({ ...(await options('from-head')), recipe: undefined, unfreeze: undefined, mode: 'features', epochs: 2 }, quiet);
  const { rates, callback } = rateRecorder();
  const r = await train(await options('from-tuned', { from: head }), { ...quiet, callbacks: [callback] });
  assert.deepEqual(r.history.epoch, [0, 1, 2, 3], "the source's 2 epochs, then 2 of fine-tuning");
  assert.equal(r.history.fineTuneStartEpoch, 2);
  assert.equal(rates.length, 2, 'no head phase ran');
  assert.ok(near(rates[0][0], 1e-3 / 5), `fine-tuning: first rate ${rates[0][0]}`);
});

/** A run stopped (Ctrl-C) after `batches` batches, then resumed: its val_loss curve, which must be the uninterrupted run's. */
async function stoppedAndResumed(
  out: string,
  batches: number,
  extra: Partial<TrainOptionsInput> = {},
): Promise<{ phase?: string; curve: number[] }> {
  const controller = new AbortController();
  let seen = 0;
  const stopper = { onBatchEnd: () => void (++seen === batches && controller.abort()) } as unknown as tfl.Callback;
  const stopped = await train(await options(out, { ...extra, signal: controller.signal }), { ...quiet, callbacks: [stopper] });
  assert.equal(stopped.interrupted, true);
  const phase = (await loadTrainState(path.join(root, out)))?.phase;
  const resumed = await train(await options(out, { ...extra, resume: true }), quiet);
  assert.equal(resumed.interrupted, false);
  return { phase, curve: resumed.history.history.val_loss };
}

test('--recipe fine-tune --resume continues either phase where it stopped: the same curve as an uninterrupted run (the schedules resume at their step)', async () => {
  const extra = { epochs: 3, freezeEpochs: 2 };
  const steady = (await train(await options('steady', extra), quiet)).history.history.val_loss;
  assert.equal(steady.length, 5);
  // 3 batches an epoch: stopped in the head's second epoch (after 4 batches), and in fine-tuning's second (after 6 + 4).
  for (const [out, batches, phase] of [
    ['stopped-head', 4, 'head'],
    ['stopped-tuning', 10, 'finetune'],
  ] as const) {
    const r = await stoppedAndResumed(out, batches, extra);
    assert.equal(r.phase, phase);
    assert.equal(r.curve.length, 5);
    steady.forEach((v, i) => assert.ok(Math.abs(v - r.curve[i]) < 1e-5, `${out}, epoch ${i + 1}: ${v} vs ${r.curve[i]}`));
  }
});

const SHARED_MOBILENET = path.join(SHARED, 'models/mobilenet_v1_1.0_224_imagenet_truncated');

/** conv_dw_13_bn's gamma and moving mean in the model that trains, after each epoch. */
function batchNormRecorder(): { seen: Float32Array[][]; callback: tfl.Callback } {
  const seen: Float32Array[][] = [];
  let model: tfl.LayersModel | undefined;
  const callback = {
    setModel: (m: tfl.LayersModel) => void (model = m),
    onEpochEnd: () => {
      const layer = model?.layers.find((l) => l.name === 'conv_dw_13_bn');
      const [gamma, , mean] = layer ? layer.getWeights() : [];
      seen.push(gamma ? [gamma, mean].map((w) => w.dataSync().slice() as Float32Array) : []);
    },
  };
  return { seen, callback: callback as unknown as tfl.Callback };
}

test("--train-bn: the unfrozen BatchNormalization layers train (a real MobileNet, the recipe's last two stages: gamma and moving mean change) on either engine, alike; where ONNX Runtime cannot, fine-tuning says so and trains on tfjs", async () => {
  const base = await loadBase({ base: SHARED_MOBILENET, imageSize: [32, 32] });
  const [gamma0, , mean0] = base.model
    .getLayer('conv_dw_13_bn')
    .getWeights()
    .map((w) => w.dataSync().slice() as Float32Array);
  base.model.dispose();
  const moved = (a: Float32Array, b: Float32Array) => a.some((v, i) => Math.abs(v - b[i]) > 1e-7);
  const mobile = { base: SHARED_MOBILENET, imageSize: 32, unfreeze: undefined, epochs: 1, verbose: 1 as const };
  const trained: Record<string, { loss: number[]; mean: Float32Array }> = {};
  for (const [trainBn, engine] of [
    [false, 'ort'],
    [true, 'ort'],
    [true, 'tfjs'],
  ] as const) {
    const lines: string[] = [];
    const { seen, callback } = batchNormRecorder();
    const r = await train(await options(`bn-${trainBn}-${engine}`, { ...mobile, trainBn, engine }), {
      log: (l) => lines.push(l),
      callbacks: [callback],
    });
    const said = lines.join('\n');
    // The fine-tuning epoch's (the head's model has no BatchNormalization).
    const [gamma, mean] = seen.at(-1)!;
    assert.ok(gamma && mean, 'the fine-tuned model holds conv_dw_13_bn');
    if (trainBn) {
      assert.ok(moved(gamma, gamma0), `gamma trained (${engine})`);
      assert.ok(moved(mean, mean0), `the moving mean followed the batches (${engine})`);
      if (engine === 'ort' && !/train on ONNX Runtime/.test(said))
        assert.match(said, /ONNX Runtime cannot train model 'finetune': BatchNormalization .*trains on tfjs instead/, said);
      trained[engine] = { loss: r.history.history.val_loss, mean };
    } else {
      assert.match(said, /train on ONNX Runtime/, said);
      // The recipe's unfreeze point: MobileNet's last two stages, two groups (lr/100, lr/10) before the head.
      assert.match(
        said,
        /Layer groups \(lrMult 100\): conv_pad_6\.\.conv_pw_11_relu at 1\.0e-5, conv_pad_12\.\.conv_dw_13_relu at 1\.0e-4, the head at 1\.0e-3\./,
        said,
      );
      assert.ok(!moved(gamma, gamma0) && !moved(mean, mean0), 'frozen BatchNormalization is untouched');
    }
  }
  // Both engines train BatchNormalization alike: the same val_loss and moving statistics.
  const { ort, tfjs } = trained;
  ort.loss.forEach((v, i) =>
    assert.ok(Math.abs(v - tfjs.loss[i]) <= 1e-3 * Math.max(1, Math.abs(v)), `val_loss ${i + 1}: ORT ${v}, tfjs ${tfjs.loss[i]}`),
  );
  const worst = Math.max(...ort.mean.map((v, i) => Math.abs(v - tfjs.mean[i])));
  assert.ok(worst <= 1e-3 * Math.max(...tfjs.mean.map(Math.abs)), `moving means apart by ${worst}`);
});
