import * as tf from '@tensorflow/tfjs-core';
import { Callback } from '@tensorflow/tfjs-layers';
import type { Logs } from '@tensorflow/tfjs-layers/dist/logs.js';
import { resolveLogs } from './logs.js';

/**
 * Stops training at the first batch whose loss is NaN/infinite OR after which
 * a trainable weight is. The weights need checking too: the losses clip the
 * predictions (epsilon .. 1 - epsilon) and the wasm ClipByValue maps NaN into
 * that range, so a network of NaNs reports a finite loss. Stopping inside the
 * epoch means tfjs skips its validation, so the checkpoint callback never
 * sees the broken epoch and the last good checkpoint stays on disk.
 */
export class DivergenceGuard extends Callback {
  message: string | null = null;

  override async onBatchEnd(batch: number, rawLogs?: Logs): Promise<void> {
    const logs = await resolveLogs(rawLogs);
    const loss = logs.loss;
    let problem: string | null = null;
    if (loss !== undefined && !Number.isFinite(loss)) {
      problem = `the loss became ${loss}`;
    } else {
      const bad = this.firstNonFiniteWeight();
      if (bad) problem = `the weights of ${bad} became NaN or infinite`;
    }
    if (problem) {
      this.message =
        `Training diverged: ${problem} at batch ${batch + 1}, so training was stopped. ` +
        'Lower the learning rate (--learning-rate, e.g. by 10x), and check the data (labels, images) and the preprocessing of the base.';
      this.model.stopTraining = true;
    }
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
