import { Callback, type LayersModel } from '@tensorflow/tfjs-layers';
import type { Logs } from '@tensorflow/tfjs-layers/dist/logs.js';
import { writeDirAtomic } from '../../io/atomicWrite.js';
import { fileSystemIO } from '../../weights/tfjsFiles.js';
import { isImprovement, isPartialEpoch, resolveLogs, resolveMode } from './logs.js';
import type { EpochLogs } from '../../run/history.js';

export interface ModelCheckpointArgs {
  /** Folder the model is saved into (model.json + weights), replaced atomically on every save. */
  dir: string;
  /** Default 'val_loss'. */
  monitor?: string;
  /** Default 'auto' (max for accuracy-like metrics, min otherwise). */
  mode?: 'auto' | 'min' | 'max';
  /** Default true: save only when the monitored value improves. */
  saveBestOnly?: boolean;
  /**
   * What to write into the (temporary) folder; default `model.save(fileSystemIO(dir))`.
   * Features mode passes a function that saves base + trained head as one model.
   */
  save?: (model: LayersModel, dir: string, epoch: number) => Promise<void>;
  /** The best value so far when resuming a run. */
  initialBest?: number;
  initialBestEpoch?: number;
  /** Called after every save (e.g. to print or record it). */
  onSave?: (epoch: number, value: number | undefined, dir: string) => void | Promise<void>;
}

/**
 * Keras's ModelCheckpoint: after each epoch, save the model when the monitored
 * value improved (or always, without saveBestOnly). The folder is written beside
 * the target and renamed over it, so an interruption at any moment leaves the
 * previous checkpoint complete and loadable.
 */
export class ModelCheckpoint extends Callback {
  readonly dir: string;
  readonly monitor: string;
  readonly mode: 'min' | 'max';
  readonly saveBestOnly: boolean;
  best: number;
  bestEpoch: number;
  private readonly saveFn: (model: LayersModel, dir: string, epoch: number) => Promise<void>;
  private readonly onSave?: ModelCheckpointArgs['onSave'];

  constructor(args: ModelCheckpointArgs) {
    super();
    this.dir = args.dir;
    this.monitor = args.monitor ?? 'val_loss';
    this.mode = resolveMode(this.monitor, args.mode ?? 'auto');
    this.saveBestOnly = args.saveBestOnly ?? true;
    this.best = args.initialBest ?? (this.mode === 'min' ? Infinity : -Infinity);
    this.bestEpoch = args.initialBestEpoch ?? -1;
    this.saveFn =
      args.save ??
      (async (model, dir) => {
        await model.save(fileSystemIO(dir));
      });
    this.onSave = args.onSave;
  }

  override async onEpochEnd(epoch: number, rawLogs?: Logs): Promise<void> {
    const logs: EpochLogs = await resolveLogs(rawLogs);
    if (isPartialEpoch(this.params, logs)) return;
    const value = logs[this.monitor];
    if (this.saveBestOnly) {
      if (value === undefined) {
        throw new Error(
          `ModelCheckpoint monitors '${this.monitor}' but the epoch logs only have ${Object.keys(logs).join(', ') || 'nothing'} (pass validation data, or monitor another metric).`,
        );
      }
      if (!Number.isFinite(value) || !isImprovement(this.mode, value, this.best)) return;
      this.best = value;
      this.bestEpoch = epoch;
    }
    await writeDirAtomic(this.dir, (tmp) => this.saveFn(this.model, tmp, epoch));
    await this.onSave?.(epoch, value, this.dir);
  }
}
