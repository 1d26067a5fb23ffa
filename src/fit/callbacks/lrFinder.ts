import type * as tfl from '@tensorflow/tfjs-layers';
import type { BatchLogs, FitCallback } from '../fitLoop.js';
import type { RateControl } from '../stepRates.js';

export interface LrFinderArgs {
  /** The rate of the first batch (fastai: 1e-7). */
  start: number;
  /** The rate the sweep heads for; batch i of `steps` trains at start * (end / start)^(i / steps) (fastai: 10). */
  end: number;
  /** Batches in the sweep (fastai's num_it: 100). */
  steps: number;
  /** Stop once the smoothed loss passes 4x its minimum (fastai's stop_div: true). A NaN loss always stops. */
  stopDiv: boolean;
  /** After each batch: its index in the sweep (0-based), its rate and the smoothed loss. */
  onStep?: (step: number, rate: number, smoothedLoss: number) => void;
}

/** fastai's Recorder smooths the loss it plots with this exponential moving average. */
export const SMOOTHING_BETA = 0.98;

/** Why the sweep ended: all its steps, the loss passed 4x its minimum, or a NaN loss. */
export type SweepEnd = 'steps' | 'diverged' | 'nan';

/**
 * fastai's LRFinder as a callback of the fit loop: before each batch it sets the learning
 * rate (exponentially from `start` towards `end`), after it records the rate and the
 * smoothed loss (a moving average with beta 0.98, debiased as Adam's moments are), and it
 * stops training after `steps` batches, when the smoothed loss passes 4x the lowest so
 * far, or on a NaN. Validation is the caller's to skip (give the loop an empty source).
 */
export class LrFinder implements FitCallback {
  readonly rates: number[] = [];
  /** The smoothed loss after each batch. */
  readonly losses: number[] = [];
  ended: SweepEnd | undefined;
  private model?: tfl.LayersModel;
  private average = 0;
  private best = Infinity;

  constructor(
    private readonly control: RateControl,
    private readonly args: LrFinderArgs,
  ) {}

  /** The rate of step `i` of the sweep. */
  rateAt(i: number): number {
    const { start, end, steps } = this.args;
    return start * (end / start) ** (i / steps);
  }

  setModel(model: tfl.LayersModel): void {
    this.model = model;
  }

  onBatchBegin(): void {
    this.control.setStepRates({ learningRate: this.rateAt(this.rates.length) });
  }

  onBatchEnd(_batch: number, logs?: BatchLogs): void {
    const step = this.rates.length;
    const loss = Number(logs?.loss);
    this.average = SMOOTHING_BETA * this.average + (1 - SMOOTHING_BETA) * loss;
    const smoothed = this.average / (1 - SMOOTHING_BETA ** (step + 1));
    this.rates.push(this.rateAt(step));
    this.losses.push(smoothed);
    this.args.onStep?.(step, this.rateAt(step), smoothed);
    if (smoothed < this.best) this.best = smoothed;
    if (Number.isNaN(smoothed)) this.ended = 'nan';
    else if (this.args.stopDiv && smoothed > 4 * this.best) this.ended = 'diverged';
    else if (step + 1 >= this.args.steps) this.ended = 'steps';
    if (this.ended && this.model) this.model.stopTraining = true;
  }
}
