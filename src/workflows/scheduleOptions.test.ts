import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isUserError } from '../errors.js';
import { scheduleRates } from '../fit/schedule.js';
import { makeTinyBase, makeTinyDataset } from '../testing/tinyRun.js';
import { initBackend } from '../tfjs/backend.js';
import { withTrainDefaults, type TrainOptionsInput } from './options.js';
import { checkEngineFollows, checkScheduleOptions, phaseOptimizer } from './scheduleOptions.js';
import { train } from './train.js';

// 32 training images (4 batches of 8 an epoch) and 16 validation images through a tiny conv base.
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-schedule-'));
const ready = (async () => {
  await initBackend('cpu');
  const data = await makeTinyDataset(path.join(root, 'data'), { train: 16, validation: 8 });
  const base = await makeTinyBase(path.join(root, 'base'));
  return { data, base };
})();
const quiet = { log: () => {} };

async function options(out: string, extra: Partial<TrainOptionsInput> = {}): Promise<TrainOptionsInput> {
  const { data, base } = await ready;
  return {
    data,
    base,
    out: path.join(root, out),
    epochs: 3,
    batchSize: 8,
    headUnits: 16,
    learningRate: 0.01,
    verbose: 0,
    seed: 5,
    calibration: 'none',
    cacheDir: path.join(root, 'cache'),
    ...extra,
  };
}

const userError = (pattern: RegExp) => (e: unknown) => isUserError(e) && pattern.test((e as Error).message);

test('train with a schedule: every batch at its one-cycle rate, on tfjs and on ONNX Runtime; history.json lrs and log.csv lr record them', async () => {
  const want = Array.from({ length: 12 }, (_, s) => scheduleRates({ name: 'one-cycle' }, 0.01)(s, 12).learningRate);
  for (const engine of ['tfjs', 'ort'] as const) {
    const r = await train(await options(`one-cycle-${engine}`, { schedule: 'one-cycle', engine }), quiet);
    assert.deepEqual(r.history.lrs, [want.slice(0, 4), want.slice(4, 8), want.slice(8)], engine);
    const log = fs.readFileSync(path.join(r.runDir, 'log.csv'), 'utf8').trim().split('\n');
    const lr = log[0].split(',').indexOf('lr');
    assert.ok(lr > 0, log[0]);
    assert.deepEqual(
      log.slice(1).map((row) => Number(row.split(',')[lr])),
      [want[3], want[7], want[11]],
    );
  }
  // The book's constant rate: no scheduler, no lrs, no lr column.
  const plain = await train(await options('constant', { epochs: 1 }), quiet);
  assert.equal(plain.history.lrs, undefined);
  assert.ok(!fs.readFileSync(path.join(plain.runDir, 'log.csv'), 'utf8').split('\n')[0].includes('lr'));
});

test('train with label smoothing 0.2: the training loss stays above the entropy of the smoothed targets (0.325) while the plain loss falls below it', async () => {
  const entropy = -(0.9 * Math.log(0.9) + 0.1 * Math.log(0.1));
  const smooth = await train(await options('smooth', { epochs: 6, labelSmoothing: 0.2, engine: 'tfjs' }), quiet);
  const plain = await train(await options('plain', { epochs: 6, engine: 'tfjs' }), quiet);
  assert.ok(
    smooth.history.history.loss.every((l) => l > entropy),
    `smoothed ${smooth.history.history.loss}`,
  );
  assert.ok((plain.history.history.loss.at(-1) as number) < entropy - 0.1, `plain ${plain.history.history.loss}`);
});

test('options that another optimizer or schedule reads are refused, naming the fix; the phase optimizer carries what the options ask', async () => {
  const cli = (extra: Partial<TrainOptionsInput>) => withTrainDefaults({ data: 'd', base: 'b', out: 'o', ...extra });
  assert.throws(
    () => checkScheduleOptions(cli({ weightDecay: 0.1 }), 'cli'),
    userError(
      /^--weight-decay applies to --optimizer adamw \(got --optimizer rmsprop\)\. Use --optimizer adamw, or drop --weight-decay\.$/,
    ),
  );
  assert.throws(
    () => checkScheduleOptions(cli({ schedule: 'cosine', div: 10, pctStart: 0.3 }), 'cli'),
    userError(/^--div, --pct-start apply to --schedule one-cycle \(got --schedule cosine\)/),
  );
  assert.throws(
    () => checkScheduleOptions(cli({ schedule: 'one-cycle', warmup: 0.1 }), 'api'),
    userError(/^warmup applies to schedule constant or cosine/),
  );
  checkScheduleOptions(cli({ optimizer: 'adamw', weightDecay: 0.1, schedule: 'one-cycle', finalDiv: 1e4 }), 'cli');
  assert.deepEqual(phaseOptimizer(cli({ optimizer: 'adamw', weightDecay: 0.05, schedule: 'one-cycle', div: 5 }), 'cli', 1e-3), {
    name: 'adamw',
    learningRate: 1e-3,
    weightDecay: 0.05,
    schedule: { name: 'one-cycle', warmup: 0, div: 5 },
  });
  // Through train(): refused before any epoch trains.
  await assert.rejects(
    train(await options('refused', { schedule: 'constant', pctStart: 0.5 }), quiet),
    userError(/pctStart applies to schedule one-cycle/),
  );

  // An engine that cannot change its rates fails with a schedule (or a warmup), and passes at a constant rate.
  const opt = (schedule: Parameters<typeof checkEngineFollows>[1]['schedule']) => ({ name: 'rmsprop' as const, schedule });
  assert.throws(
    () => checkEngineFollows({}, opt({ name: 'cosine' }), 'cli'),
    userError(/^--schedule cosine: the ONNX Runtime trainer cannot change its rates between batches\. Use --engine tfjs/),
  );
  assert.throws(() => checkEngineFollows({}, opt({ name: 'constant', warmup: 0.1 }), 'cli'), userError(/^--warmup 0\.1: /));
  checkEngineFollows({}, opt({ name: 'constant', warmup: 0 }), 'cli');
  checkEngineFollows({ setStepRates() {}, stepRates() {} }, opt({ name: 'one-cycle' }), 'cli');
  checkEngineFollows(undefined, opt({ name: 'one-cycle' }), 'cli');
});
