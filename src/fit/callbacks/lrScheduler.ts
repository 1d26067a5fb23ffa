import type { EpochLogs } from '../../run/history.js';
import type { FitCallback, FitParams } from '../fitLoop.js';
import { rateControlOf, type RateControl, type StepRates } from '../stepRates.js';
import type { TrainableModel } from '../trainable.js';

export interface LearningRateSchedulerArgs {
  /** What trains: its rates are set through rateControlOf (the engine trainer, or the tfjs model's optimizer). */
  model: TrainableModel;
  /** The rates at global step `step` of `total` (schedule.ts's scheduleRates). */
  schedule: (step: number, total: number) => StepRates;
  /** Absolute index of the phase's first epoch: the schedule's step 0 is that epoch's first batch. */
  firstEpoch: number;
}

/**
 * Keras's LearningRateScheduler, per batch: before every batch the rates of the global step
 * (epoch - firstEpoch) x batches an epoch + batch, over the phase's (epochs - firstEpoch) x
 * batches steps, are set. The step comes from the epoch and batch indexes alone, so a run
 * resumed at a saved epoch continues the schedule exactly where it was.
 * At an epoch's end it writes into the epoch's logs (one object that every callback gets in
 * turn) `lr`, the rate of its last batch, and the rates of all its batches (batchRatesOf):
 * placed before HistoryRecorder and CSVLogger, they record them.
 */
export class LearningRateScheduler implements FitCallback {
  private params?: FitParams;
  private control?: RateControl;
  private epoch = 0;
  private rates: number[] = [];

  constructor(private readonly args: LearningRateSchedulerArgs) {}

  setParams(params: FitParams): void {
    this.params = params;
  }

  onTrainBegin(): void {
    this.control = rateControlOf(this.args.model);
  }

  onEpochBegin(epoch: number): void {
    this.epoch = epoch;
    this.rates = [];
  }

  onBatchBegin(batch: number): void {
    const { params, control } = this;
    if (!params || !control) throw new Error('LearningRateScheduler: the fit loop gave no params before the first batch.');
    const step = (this.epoch - this.args.firstEpoch) * params.steps + batch;
    const total = (params.epochs - this.args.firstEpoch) * params.steps;
    const rates = this.args.schedule(step, total);
    control.setStepRates(rates);
    this.rates.push(rates.learningRate);
  }

  onEpochEnd(_epoch: number, logs?: EpochLogs): void {
    if (!logs || this.rates.length === 0) return;
    logs.lr = this.rates[this.rates.length - 1];
    // Not enumerable: the logs' numbers (CSV columns, progress, charts) stay numbers.
    Object.defineProperty(logs, BATCH_RATES, { value: [...this.rates], enumerable: false, configurable: true });
  }
}

const BATCH_RATES = Symbol('batch rates');

/** The rate of every batch of the epoch whose logs these are, when a LearningRateScheduler set them. */
export function batchRatesOf(logs: object | undefined): number[] | undefined {
  return (logs as { [BATCH_RATES]?: number[] } | undefined)?.[BATCH_RATES];
}
