import { Callback } from '@tensorflow/tfjs-layers';

/**
 * Stops training after the current batch once `signal` is aborted (the CLI aborts
 * it on SIGINT). The unfinished epoch is then dropped by the other callbacks
 * (it has no validation numbers), so history, log and checkpoint stay consistent.
 */
export class StopOnAbort extends Callback {
  constructor(private readonly signal: AbortSignal) {
    super();
  }

  get interrupted(): boolean {
    return this.signal.aborted;
  }

  override async onBatchEnd(): Promise<void> {
    if (this.signal.aborted) this.model.stopTraining = true;
  }

  override async onEpochEnd(): Promise<void> {
    if (this.signal.aborted) this.model.stopTraining = true;
  }
}
