/**
 * fastai's learning-rate suggestions (fastai/callback/schedule.py: minimum, steep, valley),
 * read off the smoothed loss of a learning-rate sweep. Each returns the suggested rate and
 * the point of the curve to mark on the plot.
 */

/** A point of the curve: a rate and the smoothed loss there. */
export interface CurvePoint {
  rate: number;
  loss: number;
}

export interface Suggestion {
  /** The suggested learning rate. */
  rate: number;
  /** Where the plot marks it (minimum: at the lowest loss, ten times the suggested rate). */
  point: CurvePoint;
}

export interface LrSuggestions {
  /** The rate at the lowest loss, divided by 10. */
  minimum: Suggestion;
  /** Where the loss falls fastest per factor of rate. */
  steep: Suggestion;
  /** Two thirds of the way down the longest run of falling losses (fastai's default). */
  valley: Suggestion;
}

/** The rate a tenth of the one at the lowest loss. */
export function minimum(rates: readonly number[], losses: readonly number[]): Suggestion {
  let at = 0;
  for (let i = 1; i < losses.length; i++) if (losses[i] < losses[at]) at = i;
  return { rate: rates[at] / 10, point: { rate: rates[at], loss: losses[at] } };
}

/** The rate that starts the steepest fall of the loss against log(rate). */
export function steep(rates: readonly number[], losses: readonly number[]): Suggestion {
  let at = 0;
  let best = Infinity;
  for (let i = 0; i + 1 < losses.length; i++) {
    const slope = (losses[i + 1] - losses[i]) / (Math.log(rates[i + 1]) - Math.log(rates[i]));
    if (slope < best) {
      best = slope;
      at = i;
    }
  }
  return { rate: rates[at], point: { rate: rates[at], loss: losses[at] } };
}

/**
 * fastai's valley: the longest strictly decreasing subsequence of the losses (counted by
 * dynamic programming, as fastai does, including its bookkeeping of where it starts), and
 * the point half a third past a third of the way along it. fastai can index -1 (the last
 * point) when that run is two points long and starts at the first one; here it is 0.
 */
export function valley(rates: readonly number[], losses: readonly number[]): Suggestion {
  const n = losses.length;
  const lds = new Array<number>(n).fill(1);
  let maxStart = 0;
  let maxEnd = 0;
  for (let i = 1; i < n; i++) {
    for (let j = 0; j < i; j++) {
      if (losses[i] < losses[j] && lds[i] < lds[j] + 1) lds[i] = lds[j] + 1;
      if (lds[maxEnd] < lds[i]) {
        maxEnd = i;
        maxStart = maxEnd - lds[maxEnd];
      }
    }
  }
  const sections = (maxEnd - maxStart) / 3;
  const at = Math.max(0, maxStart + Math.trunc(sections) + Math.trunc(sections / 2));
  return { rate: rates[at], point: { rate: rates[at], loss: losses[at] } };
}

/**
 * The suggestions of a sweep of `steps` batches, as fastai's lr_find makes them: the first
 * tenth of the steps and the last 5 points are left out (the loss has not started moving,
 * and the last are where it blows up), and so is everything from the first NaN (or
 * infinity) on.
 * Undefined when fewer than 2 points are left (the loss diverged too early).
 */
export function suggestLearningRates(rates: readonly number[], losses: readonly number[], steps: number): LrSuggestions | undefined {
  const from = Math.floor(steps / 10);
  let to = Math.max(from, losses.length - 5);
  const firstNaN = losses.findIndex((l, i) => i >= from && i < to && !Number.isFinite(l));
  if (firstNaN >= 0) to = firstNaN;
  const r = rates.slice(from, to);
  const l = losses.slice(from, to);
  if (l.length < 2) return undefined;
  return { minimum: minimum(r, l), steep: steep(r, l), valley: valley(r, l) };
}
