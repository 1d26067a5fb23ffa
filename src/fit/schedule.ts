import type { StepRates } from './stepRates.js';

/**
 * Learning-rate schedules as pure functions of the step: step 0 is a phase's first batch,
 * `total` its number of batches (epochs x batches an epoch). Each equals a PyTorch
 * scheduler stepped once after every batch (docs/training.md, "Schedules", has the mapping):
 *
 *   constant   lr, after an optional linear warmup
 *   cosine     linear warmup, then cosine annealing to 0 (SequentialLR(LinearLR, CosineAnnealingLR))
 *   one-cycle  OneCycleLR (anneal_strategy 'cos', three_phase False), with fastai's
 *              fit_one_cycle defaults; the momentum term is cycled inversely
 */
export type ScheduleName = 'constant' | 'one-cycle' | 'cosine';

export interface ScheduleSpec {
  name: ScheduleName;
  /** constant and cosine: the fraction of the steps that warm up linearly. Default 0. */
  warmup?: number;
  /** one-cycle: the first rate is lr / div. Default 25. */
  div?: number;
  /** one-cycle: the last rate is lr / finalDiv (fastai's div_final). Default 1e5. */
  finalDiv?: number;
  /** one-cycle: the fraction of the steps that rise to lr. Default 0.25 (fastai's fit_one_cycle). */
  pctStart?: number;
}

/** fastai's fit_one_cycle defaults; the momentum bounds are fastai's moms (0.95, 0.85, 0.95). */
export const ONE_CYCLE = { div: 25, finalDiv: 1e5, pctStart: 0.25, maxMomentum: 0.95, baseMomentum: 0.85 } as const;

/** Whether the schedule changes any rate during training (a constant rate without warmup does not). */
export function changesRates(spec: ScheduleSpec | undefined): boolean {
  return spec !== undefined && (spec.name !== 'constant' || (spec.warmup ?? 0) > 0);
}

/** The rates of `spec` peaking at `learningRate`, as a function of (step, total steps). */
export function scheduleRates(spec: ScheduleSpec, learningRate: number): (step: number, total: number) => StepRates {
  switch (spec.name) {
    case 'constant':
      return (step, total) => ({ learningRate: constantRate(step, total, learningRate, spec.warmup ?? 0) });
    case 'cosine':
      return (step, total) => ({ learningRate: cosineRate(step, total, learningRate, spec.warmup ?? 0) });
    case 'one-cycle':
      return (step, total) => oneCycleRates(step, total, learningRate, spec);
  }
}

/** Steps of a warmup over the fraction `warmup` of `total` steps. */
export function warmupSteps(total: number, warmup: number): number {
  return Math.min(total, Math.round(warmup * total));
}

/**
 * lr after a linear warmup over W steps: lr (s + 1) / (W + 1) for s < W, so that no step
 * trains at 0 and step W is the first at lr. PyTorch: LinearLR(start_factor=1/(W+1), total_iters=W).
 */
export function constantRate(step: number, total: number, lr: number, warmup: number): number {
  const w = warmupSteps(total, warmup);
  return step < w ? (lr * (step + 1)) / (w + 1) : lr;
}

/**
 * The warmup of constantRate over W steps, then cosine annealing from lr to 0 over the
 * T = total - W steps left: lr (1 + cos(pi (s - W) / T)) / 2 (PyTorch's CosineAnnealingLR,
 * T_max = T, eta_min 0), so the last step trains at a small rate above 0.
 */
export function cosineRate(step: number, total: number, lr: number, warmup: number): number {
  const w = warmupSteps(total, warmup);
  if (step < w) return constantRate(step, total, lr, warmup);
  return (lr * (1 + Math.cos((Math.PI * (step - w)) / (total - w)))) / 2;
}

/**
 * PyTorch's OneCycleLR, two phases, cosine annealing, step for step. Phase 1 ends at step
 * pctStart total - 1: the rate rises from lr / div to lr while the momentum term falls from
 * 0.95 to 0.85; phase 2 ends at step total - 1: the rate falls to lr / finalDiv (PyTorch's
 * final_div_factor is finalDiv / div, relative to the first rate) and the momentum rises back.
 */
export function oneCycleRates(step: number, total: number, lr: number, o: Omit<ScheduleSpec, 'name'> = {}): StepRates {
  const div = o.div ?? ONE_CYCLE.div;
  const finalDiv = o.finalDiv ?? ONE_CYCLE.finalDiv;
  const pctStart = o.pctStart ?? ONE_CYCLE.pctStart;
  // The same arithmetic as PyTorch, so that the values agree to the last bit or two.
  const initial = lr / div;
  const min = initial / (finalDiv / div);
  const { maxMomentum, baseMomentum } = ONE_CYCLE;
  const end1 = pctStart * total - 1;
  const end2 = total - 1;
  if (step <= end1) {
    const pct = fraction(step, 0, end1);
    return { learningRate: cosAnneal(initial, lr, pct), momentum: cosAnneal(maxMomentum, baseMomentum, pct) };
  }
  const pct = fraction(step, end1, end2);
  return { learningRate: cosAnneal(lr, min, pct), momentum: cosAnneal(baseMomentum, maxMomentum, pct) };
}

/** How far `step` is from `start` to `end`; a phase of no length is at its end (PyTorch would divide by 0). */
function fraction(step: number, start: number, end: number): number {
  return end > start ? (step - start) / (end - start) : 1;
}

/** From `start` to `end` along half a cosine as pct goes from 0 to 1. */
function cosAnneal(start: number, end: number, pct: number): number {
  return end + ((start - end) / 2) * (Math.cos(Math.PI * pct) + 1);
}
