import * as tf from '@tensorflow/tfjs-core';
import { Callback } from '@tensorflow/tfjs-layers';
import type { Logs } from '@tensorflow/tfjs-layers/dist/logs.js';
import { isImprovement, isPartialEpoch, resolveLogs, resolveMode } from './logs.js';

export interface EarlyStoppingArgs {
  /** Default 'val_loss'. */
  monitor?: string;
  /** Default 'auto'. */
  mode?: 'auto' | 'min' | 'max';
  /** Epochs without improvement before stopping. Default 0 (Keras's default). */
  patience?: number;
  /** Smallest change that counts as an improvement. Default 0. */
  minDelta?: number;
  /** Put the weights of the best epoch back when training stops. Default false. */
  restoreBestWeights?: boolean;
}

/** Keras's EarlyStopping, including restore_best_weights (which tfjs's own lacks). */
export class EarlyStopping extends Callback {
  readonly monitor: string;
  readonly mode: 'min' | 'max';
  readonly patience: number;
  readonly minDelta: number;
  readonly restoreBestWeights: boolean;
  best = NaN;
  bestEpoch = -1;
  stoppedEpoch = -1;
  private wait = 0;
  private bestWeights: tf.Tensor[] | null = null;

  constructor(args: EarlyStoppingArgs = {}) {
    super();
    this.monitor = args.monitor ?? 'val_loss';
    this.mode = resolveMode(this.monitor, args.mode ?? 'auto');
    this.patience = args.patience ?? 0;
    this.minDelta = Math.abs(args.minDelta ?? 0);
    this.restoreBestWeights = args.restoreBestWeights ?? false;
  }

  override async onTrainBegin(): Promise<void> {
    this.wait = 0;
    this.stoppedEpoch = -1;
    this.best = this.mode === 'min' ? Infinity : -Infinity;
    this.bestEpoch = -1;
    this.disposeBest();
  }

  override async onEpochEnd(epoch: number, rawLogs?: Logs): Promise<void> {
    const logs = await resolveLogs(rawLogs);
    if (isPartialEpoch(this.params, logs)) return;
    const value = logs[this.monitor];
    if (value === undefined) {
      throw new Error(`EarlyStopping monitors '${this.monitor}' but the epoch logs only have ${Object.keys(logs).join(', ')}.`);
    }
    if (isImprovement(this.mode, value, this.best, this.minDelta)) {
      this.best = value;
      this.bestEpoch = epoch;
      this.wait = 0;
      if (this.restoreBestWeights) {
        this.disposeBest();
        this.bestWeights = this.model.getWeights().map((w) => tf.clone(w));
      }
      return;
    }
    // Keras counts non-improving epochs and stops once there are `patience` of them.
    this.wait += 1;
    if (this.wait >= this.patience && epoch > 0) {
      this.stoppedEpoch = epoch;
      this.model.stopTraining = true;
    }
  }

  override async onTrainEnd(): Promise<void> {
    if (this.restoreBestWeights && this.bestWeights && this.stoppedEpoch >= 0) {
      this.model.setWeights(this.bestWeights);
    }
    this.disposeBest();
  }

  private disposeBest(): void {
    if (this.bestWeights) tf.dispose(this.bestWeights);
    this.bestWeights = null;
  }
}
