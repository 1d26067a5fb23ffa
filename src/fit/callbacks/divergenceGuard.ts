import * as tf from '@tensorflow/tfjs-core';
import type { Logs } from '@tensorflow/tfjs-layers/dist/logs.js';
import { TerminateOnNaN } from './terminateOnNaN.js';

export interface DivergenceGuardArgs {
  /**
   * Also check the model's weights after every batch (default true). Off when another
   * engine trains (the head on ONNX Runtime): the tfjs copy is only synced at epoch
   * ends, and that engine's loss is computed from the real weights.
   */
  weights?: boolean;
  /** How the caller names the learning rate in the message ('learningRate' or '--learning-rate'). */
  learningRateOption?: string;
}

/**
 * TerminateOnNaN that also stops after a batch that left a trainable weight NaN or
 * infinite. The weights need checking too on tfjs: the losses clip the predictions
 * (epsilon .. 1 - epsilon) and the wasm ClipByValue maps NaN into that range, so a
 * network of NaNs reports a finite loss. Stopping inside the epoch means the loop
 * skips its validation, so the checkpoint never sees the broken epoch and the last
 * good checkpoint stays on disk.
 */
export class DivergenceGuard extends TerminateOnNaN {
  private readonly checkWeights: boolean;

  constructor(args: DivergenceGuardArgs = {}) {
    super({ learningRateOption: args.learningRateOption });
    this.checkWeights = args.weights ?? true;
  }

  override async onBatchEnd(batch: number, rawLogs?: Logs): Promise<void> {
    await super.onBatchEnd(batch, rawLogs);
    if (this.message || !this.checkWeights) return;
    const bad = this.firstNonFiniteWeight();
    if (bad) this.stop(batch, `the weights of ${bad} became NaN or infinite`);
  }

  private firstNonFiniteWeight(): string | null {
    const weights = this.model.trainableWeights;
    if (weights.length === 0) return null;
    // One scalar for all weights: NaN or Inf anywhere makes the sum non-finite.
    const total = tf.tidy(() => tf.addN(weights.map((w) => tf.sum(tf.abs(w.read())))).dataSync()[0]);
    if (Number.isFinite(total)) return null;
    const bad = weights.find((w) => tf.tidy(() => !Number.isFinite(tf.sum(tf.abs(w.read())).dataSync()[0])));
    return bad ? bad.originalName : 'some layer';
  }
}
