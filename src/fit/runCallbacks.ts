import * as tfl from '@tensorflow/tfjs-layers';
import { ModelCheckpoint, type ModelCheckpointArgs } from './callbacks/index.js';
import { runPaths, writeMeta, type RunMeta } from '../run/runDir.js';

/** Every workflow checkpoints on the Keras book's choice: the lowest validation loss. */
export const MONITOR = 'val_loss';

/**
 * The callbacks that keep a run dir trustworthy while training: a best-val_loss
 * checkpoint of the full model, with meta.json recording the best epoch after each
 * save and the number of finished epochs after each epoch (what --resume reads).
 */
export function runDirCallbacks(
  out: string,
  meta: RunMeta,
  saveFull: (dir: string) => Promise<void>,
  resumeFrom?: Pick<ModelCheckpointArgs, 'initialBest' | 'initialBestEpoch'>,
): { checkpoint: ModelCheckpoint; epochCounter: tfl.CustomCallback } {
  const checkpoint = new ModelCheckpoint({
    dir: runPaths(out).model,
    monitor: MONITOR,
    ...resumeFrom,
    save: async (_model, dir) => saveFull(dir),
    onSave: async (epoch, value) => {
      meta.bestEpoch = epoch;
      meta.bestValLoss = value ?? null;
      await writeMeta(out, meta);
    },
  });
  const epochCounter = new tfl.CustomCallback({
    onEpochEnd: async (epoch, logs) => {
      if (logs && MONITOR in logs) {
        meta.epochsDone = epoch + 1;
        await writeMeta(out, meta);
      }
    },
  });
  return { checkpoint, epochCounter };
}
