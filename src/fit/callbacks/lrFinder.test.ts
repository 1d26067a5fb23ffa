import { test } from 'node:test';
import assert from 'node:assert/strict';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { StepRates } from '../stepRates.js';
import { LrFinder, type LrFinderArgs } from './lrFinder.js';

/** An LrFinder over a recording rate control, fed `losses` batch by batch until it stops the model. */
function sweep(losses: number[], args: Partial<LrFinderArgs> = {}) {
  const set: number[] = [];
  const control = {
    setStepRates: (r: StepRates) => set.push(r.learningRate),
    stepRates: () => ({ learningRate: set.at(-1) ?? 0 }),
  };
  const finder = new LrFinder(control, { start: 1e-7, end: 10, steps: 100, stopDiv: true, ...args });
  const model = { stopTraining: false } as tfl.LayersModel;
  finder.setModel(model);
  let batches = 0;
  for (const loss of losses) {
    finder.onBatchBegin();
    finder.onBatchEnd(batches, { loss, batch: batches, size: 32 });
    batches++;
    if (model.stopTraining) break;
  }
  return { finder, set, batches };
}

test('the rate grows exponentially from start, one step a batch, and is set before each batch', () => {
  const { finder, set } = sweep(new Array(100).fill(0.7));
  assert.equal(set.length, 100);
  assert.equal(set[0], 1e-7);
  // 8 decades over 100 steps: step 50 is 1e-3; the last step is one short of the end, as in fastai.
  assert.ok(Math.abs(set[50] / 1e-3 - 1) < 1e-9);
  assert.ok(Math.abs(set[99] / (1e-7 * 10 ** ((8 * 99) / 100)) - 1) < 1e-9);
  assert.deepEqual(finder.rates, set, 'each recorded rate is the one its batch trained at');
  assert.equal(finder.ended, 'steps');
});

test('the loss is smoothed with beta 0.98 and debiased, as fastai smooths the loss it plots', () => {
  const { finder } = sweep([1, 3, 2], { steps: 3 });
  // (0.02 * 1) / (1 - 0.98) = 1; (0.98 * 0.02 + 0.02 * 3) / (1 - 0.98^2); then one more step.
  const a1 = 0.02;
  const a2 = 0.98 * a1 + 0.02 * 3;
  const a3 = 0.98 * a2 + 0.02 * 2;
  const expected = [a1 / 0.02, a2 / (1 - 0.98 ** 2), a3 / (1 - 0.98 ** 3)];
  finder.losses.forEach((l, i) => assert.ok(Math.abs(l - expected[i]) < 1e-12, `${l} vs ${expected[i]}`));
  // A constant loss stays itself (the debiasing removes the pull towards 0 at the start).
  for (const l of sweep(new Array(20).fill(0.7), { steps: 20 }).finder.losses) assert.ok(Math.abs(l - 0.7) < 1e-12);
});

test('it stops when the smoothed loss passes 4x its lowest value, unless stopDiv is off', () => {
  // Falls to 0.1, then climbs steeply: the smoothed loss passes 0.4 some batches later.
  const losses = [...Array.from({ length: 30 }, (_, i) => 1 - i * 0.03), ...Array.from({ length: 70 }, (_, i) => 0.1 + i * 2)];
  const { finder, batches } = sweep(losses);
  assert.equal(finder.ended, 'diverged');
  assert.ok(batches > 30 && batches < 100, String(batches));
  const best = Math.min(...finder.losses);
  assert.ok(finder.losses.at(-1)! > 4 * best);
  assert.ok(
    finder.losses.slice(0, -1).every((l) => l <= 4 * best),
    'stopped at the first batch past 4x',
  );

  const on = sweep(losses, { stopDiv: false });
  assert.equal(on.batches, 100);
  assert.equal(on.finder.ended, 'steps');
});

test('a NaN loss stops the sweep even with stopDiv off', () => {
  const { finder, batches } = sweep([0.7, 0.6, Number.NaN, 0.5, 0.5], { stopDiv: false });
  assert.equal(batches, 3);
  assert.equal(finder.ended, 'nan');
  assert.ok(Number.isNaN(finder.losses[2]));
});
