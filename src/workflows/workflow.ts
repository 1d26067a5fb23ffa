import type { ConvBase } from '../applications/loadBase.js';
import type { DataDir } from '../data/splits.js';
import type { FeatureBase, OnnxFeatureBase } from '../features/frozenBase.js';
import type { FitCallback } from '../fit/fitLoop.js';
import { emptyHistory, type HistoryData } from '../run/history.js';
import type { HeadSpec, RunMeta, TrainMode } from '../run/meta.js';
import type { RunWriter } from '../run/runFolder.js';
import type { TrainState } from '../run/trainState.js';
import type { OptionNaming, TrainOptions } from './options.js';
import { newRunMeta, recordedOptions, RunRecords } from './records.js';

/** What every workflow gets from train(): checked options, the data folder, the open run folder. */
export interface WorkflowContext {
  opts: TrainOptions;
  /** How errors and notes name options: 'api' (`epochs`) or 'cli' (`--epochs`). */
  naming: OptionNaming;
  data: DataDir;
  run: RunWriter;
  /** When resuming: the run's meta and history as they were, and the saved training state. */
  resumed?: { meta: RunMeta; history: HistoryData; state?: TrainState };
  timings: Record<string, number>;
  log: (line: string) => void;
  /** The caller's own callbacks (any tfjs Callback), run in every training phase after tlkit's checkpoint, history and log. */
  callbacks?: FitCallback[];
  /** The ONNX base (--base model.onnx), loaded and checked by train() before the run folder opens. */
  onnxBase?: OnnxFeatureBase;
  /**
   * A tfjs base, loaded (weights downloaded) by train() before the run folder opens, so that
   * a misspelt base or a failed download leaves nothing behind; the first loadRunBase takes it.
   */
  preloadedBase?: ConvBase;
}

/** What building a phase's model and batches takes: a workflow's context, the run folder optional (lr-find opens none). */
export type BuildContext = Omit<WorkflowContext, 'run'> & { run?: Pick<RunWriter, 'dir'> };

export interface WorkflowResult {
  records: RunRecords;
  interrupted: boolean;
  stoppedEarly: boolean;
}

/** The records of a new run on `base`, or the resumed run's own (with today's options). */
export function startRecords(ctx: WorkflowContext, base: FeatureBase, mode: TrainMode, head: HeadSpec): RunRecords {
  const meta = ctx.resumed
    ? { ...ctx.resumed.meta, options: recordedOptions(ctx.opts), timings: ctx.timings }
    : newRunMeta({
        opts: ctx.opts,
        classNames: ctx.data.classNames,
        multiLabel: ctx.data.multiLabel,
        timings: ctx.timings,
        base,
        mode,
        head,
      });
  return new RunRecords(ctx.run, meta, ctx.resumed?.history ?? emptyHistory());
}
