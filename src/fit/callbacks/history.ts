import { Callback } from '@tensorflow/tfjs-layers';
import type { Logs } from '@tensorflow/tfjs-layers/dist/logs.js';
import { saveHistory, type HistoryData } from '../../run/history.js';
import { isPartialEpoch, resolveLogs } from './logs.js';
import { batchRatesOf } from './lrScheduler.js';

export interface HistoryRecorderArgs {
  /** When set, history.json is rewritten (atomically) after every epoch. */
  file?: string;
  /** Epochs of an earlier, resumed run: new epochs are appended to them. */
  initial?: HistoryData;
}

/**
 * Keras's History (epoch -> metrics), kept as plain numbers and saved as
 * history.json after each epoch so an interrupted run keeps its curves. The rate of each
 * batch, when a LearningRateScheduler before it set them, goes into `lrs`, one list an
 * epoch, as fastai's Recorder keeps them.
 */
export class HistoryRecorder extends Callback {
  readonly data: HistoryData;
  private readonly file?: string;

  constructor(args: HistoryRecorderArgs = {}) {
    super();
    this.file = args.file;
    this.data = args.initial
      ? {
          ...args.initial,
          epoch: [...args.initial.epoch],
          history: Object.fromEntries(Object.entries(args.initial.history).map(([k, v]) => [k, [...v]])),
          ...(args.initial.lrs ? { lrs: args.initial.lrs.map((l) => [...l]) } : {}),
        }
      : { epoch: [], history: {} };
  }

  override async onEpochEnd(epoch: number, rawLogs?: Logs): Promise<void> {
    const logs = await resolveLogs(rawLogs);
    if (isPartialEpoch(this.params, logs)) return;
    const n = this.data.epoch.length;
    this.data.epoch.push(epoch);
    // Once one epoch has rates, every epoch has a list (empty at a fixed rate), aligned with `epoch`.
    const rates = batchRatesOf(rawLogs);
    if (rates || this.data.lrs) {
      const lrs = (this.data.lrs ??= []);
      while (lrs.length < n) lrs.push([]);
      lrs.push(rates ? [...rates] : []);
    }
    for (const [key, value] of Object.entries(logs)) {
      // A metric first seen now (e.g. after resuming) gets NaN for the epochs before.
      const series = (this.data.history[key] ??= new Array<number>(n).fill(NaN));
      series.push(value);
    }
    for (const series of Object.values(this.data.history)) {
      while (series.length < n + 1) series.push(NaN);
    }
    if (this.file) await saveHistory(this.file, this.data);
  }
}
