import { Callback } from '@tensorflow/tfjs-layers';
import type { Logs } from '@tensorflow/tfjs-layers/dist/logs.js';
import { resolveLogs } from './logs.js';

/**
 * Keras's TerminateOnNaN, with a message saying what to do: stops training after the
 * first batch whose loss is NaN or infinite. `message` is set so the caller can report
 * it (the last checkpoint, from a finite epoch, stays as it was).
 */
export class TerminateOnNaN extends Callback {
  message: string | null = null;
  private readonly learningRateOption?: string;

  /** `learningRateOption`: how the caller names the learning rate ('learningRate' from code, '--learning-rate' from the CLI). */
  constructor(args: { learningRateOption?: string } = {}) {
    super();
    this.learningRateOption = args.learningRateOption;
  }

  override async onBatchEnd(batch: number, rawLogs?: Logs): Promise<void> {
    const logs = await resolveLogs(rawLogs);
    const loss = logs.loss;
    if (loss !== undefined && !Number.isFinite(loss)) this.stop(batch, `the loss became ${loss}`);
  }

  /** Stop training after this batch, saying what went wrong and what to do. */
  protected stop(batch: number, problem: string): void {
    this.message =
      `Training diverged: ${problem} at batch ${batch + 1}, so training was stopped. ` +
      `Lower the learning rate (${this.learningRateOption ? `${this.learningRateOption}, ` : ''}e.g. by 10x), and check the data (labels, images) and the preprocessing of the base.`;
    this.model.stopTraining = true;
  }
}
