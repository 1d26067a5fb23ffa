import { test } from 'node:test';
import assert from 'node:assert/strict';
import { changesRates, scheduleRates, type ScheduleSpec } from './schedule.js';

// Every step of a 3-epoch run of 7 batches against PyTorch's formulas, written out here from
// torch/optim/lr_scheduler.py (OneCycleLR.get_lr, LinearLR and CosineAnnealingLR's closed
// forms), not from schedule.ts.

const EPOCHS = 3;
const STEPS = 7;
const TOTAL = EPOCHS * STEPS;

function near(got: number | undefined, want: number, what: string): void {
  assert.ok(got !== undefined && Math.abs(got - want) <= 1e-7 * Math.abs(want) + 1e-18, `${what}: ${got} vs ${want}`);
}

/** torch.optim.lr_scheduler.OneCycleLR(max_lr, total_steps, pct_start, anneal_strategy='cos', div_factor, final_div_factor), step s. */
function torchOneCycle(s: number, o: { maxLr: number; total: number; pctStart: number; divFactor: number; finalDivFactor: number }) {
  const initialLr = o.maxLr / o.divFactor;
  const minLr = initialLr / o.finalDivFactor;
  const [maxMomentum, baseMomentum] = [0.95, 0.85];
  const phases = [
    { end: o.pctStart * o.total - 1, lr: [initialLr, o.maxLr], mom: [maxMomentum, baseMomentum] },
    { end: o.total - 1, lr: [o.maxLr, minLr], mom: [baseMomentum, maxMomentum] },
  ];
  const cos = (start: number, end: number, pct: number) => end + ((start - end) / 2) * (Math.cos(Math.PI * pct) + 1);
  let start = 0;
  for (const [i, p] of phases.entries()) {
    if (s <= p.end || i === phases.length - 1) {
      const pct = (s - start) / (p.end - start);
      return { lr: cos(p.lr[0], p.lr[1], pct), momentum: cos(p.mom[0], p.mom[1], pct) };
    }
    start = p.end;
  }
  throw new Error('unreachable');
}

test('one-cycle: every step of 3 epochs x 7 batches equals OneCycleLR (cos, two phases) with fastai defaults mapped to PyTorch (final_div_factor = div_final / div)', () => {
  for (const o of [
    { lr: 1e-3, spec: { name: 'one-cycle' } as ScheduleSpec, div: 25, finalDiv: 1e5, pctStart: 0.25 },
    { lr: 0.3, spec: { name: 'one-cycle', div: 10, finalDiv: 1e4, pctStart: 0.3 } as ScheduleSpec, div: 10, finalDiv: 1e4, pctStart: 0.3 },
  ]) {
    const rates = scheduleRates(o.spec, o.lr);
    for (let s = 0; s < TOTAL; s++) {
      const want = torchOneCycle(s, {
        maxLr: o.lr,
        total: TOTAL,
        pctStart: o.pctStart,
        divFactor: o.div,
        finalDivFactor: o.finalDiv / o.div,
      });
      const got = rates(s, TOTAL);
      near(got.learningRate, want.lr, `lr at step ${s}`);
      near(got.momentum, want.momentum, `momentum at step ${s}`);
    }
    // fastai's ends: lr / div first, lr / div_final last, momentum 0.95 at both ends.
    near(rates(0, TOTAL).learningRate, o.lr / o.div, 'first rate');
    near(rates(TOTAL - 1, TOTAL).learningRate, o.lr / o.finalDiv, 'last rate');
    near(rates(0, TOTAL).momentum, 0.95, 'first momentum');
    near(rates(TOTAL - 1, TOTAL).momentum, 0.95, 'last momentum');
  }
  // The peak: step 4 of 21 is the last before pct_start x 21 - 1 = 4.25 (rising), step 5 the first falling.
  const r = scheduleRates({ name: 'one-cycle' }, 1);
  assert.ok(r(4, TOTAL).learningRate > r(3, TOTAL).learningRate && r(5, TOTAL).learningRate > r(6, TOTAL).learningRate);
  assert.ok((r(4, TOTAL).momentum as number) < 0.86);
});

/** SequentialLR([LinearLR(start_factor=1/(W+1), total_iters=W), CosineAnnealingLR(T_max=total-W, eta_min=0)], milestones=[W]), closed forms. */
function torchWarmupCosine(s: number, lr: number, total: number, w: number): number {
  if (s < w) {
    const startFactor = 1 / (w + 1);
    return lr * (startFactor + ((1 - startFactor) * Math.min(w, s)) / w);
  }
  const tMax = total - w;
  return 0 + ((lr - 0) * (1 + Math.cos((Math.PI * (s - w)) / tMax))) / 2;
}

test('cosine with warmup: every step equals LinearLR then CosineAnnealingLR (eta_min 0) at the milestone W = round(warmup x steps)', () => {
  for (const [warmup, w] of [
    [0.2, 4],
    [0, 0],
    [0.5, 11],
  ] as const) {
    const rates = scheduleRates({ name: 'cosine', warmup }, 2e-3);
    for (let s = 0; s < TOTAL; s++) {
      const got = rates(s, TOTAL);
      near(got.learningRate, torchWarmupCosine(s, 2e-3, TOTAL, w), `warmup ${warmup}, step ${s}`);
      assert.equal(got.momentum, undefined, 'cosine leaves the momentum term alone');
    }
  }
  // Warmup rises to the full rate at step W; no step trains at 0.
  const r = scheduleRates({ name: 'cosine', warmup: 0.2 }, 1);
  near(r(0, TOTAL).learningRate, 1 / 5, 'first warmup step');
  near(r(4, TOTAL).learningRate, 1, 'step W');
  assert.ok(r(TOTAL - 1, TOTAL).learningRate > 0 && r(TOTAL - 1, TOTAL).learningRate < 0.01);
});

test('constant: the rate throughout, after the same linear warmup when asked; changesRates says when a callback is needed', () => {
  const r = scheduleRates({ name: 'constant', warmup: 0.2 }, 0.1);
  for (let s = 0; s < TOTAL; s++) near(r(s, TOTAL).learningRate, s < 4 ? torchWarmupCosine(s, 0.1, TOTAL, 4) : 0.1, `step ${s}`);
  const flat = scheduleRates({ name: 'constant' }, 0.1);
  for (let s = 0; s < TOTAL; s++) assert.deepEqual(flat(s, TOTAL), { learningRate: 0.1 });
  assert.equal(changesRates(undefined), false);
  assert.equal(changesRates({ name: 'constant', warmup: 0 }), false);
  assert.equal(changesRates({ name: 'constant', warmup: 0.1 }), true);
  assert.equal(changesRates({ name: 'cosine' }), true);
  assert.equal(changesRates({ name: 'one-cycle' }), true);
});

test('one-cycle on very few steps stays finite (a phase of no length is at its end, where PyTorch would divide by zero)', () => {
  for (const total of [1, 2, 4]) {
    const r = scheduleRates({ name: 'one-cycle' }, 1);
    for (let s = 0; s < total; s++) {
      const { learningRate, momentum } = r(s, total);
      assert.ok(Number.isFinite(learningRate) && learningRate > 0 && learningRate <= 1, `total ${total} step ${s}: ${learningRate}`);
      assert.ok(Number.isFinite(momentum));
    }
  }
});
