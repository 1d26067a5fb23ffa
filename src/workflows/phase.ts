import type * as tfl from '@tensorflow/tfjs-layers';
import { UserError } from '../errors.js';
import type { BatchSource } from '../fit/batchSources.js';
import { DivergenceGuard, EarlyStopping, MeanAveragePrecision, ProgressLogger } from '../fit/callbacks/index.js';
import { fit, type FitCallback } from '../fit/fitLoop.js';
import { compileHeadForTraining, labelSmoothingOf, trainableHead } from '../fit/head.js';
import { makeOptimizer, type OptimizerName } from '../fit/optimizer.js';
import type { ScheduleSpec } from '../fit/schedule.js';
import { OrtTrainer } from '../ortTraining/ortTrainer.js';
import { logitsTapOf, NotTrainableOnOrt } from '../ortTraining/trainingPlan.js';
import type { RunMeta } from '../run/meta.js';
import { runPaths } from '../run/paths.js';
import type { TrainState } from '../run/trainState.js';
import { fineTuneEpochLabel } from './fineTuneText.js';
import type { FullModelSaver } from './fullModelSaver.js';
import { optionName } from './options.js';
import { MONITOR, type RunRecords } from './records.js';
import { checkEngineFollows, phaseSchedulers } from './scheduleOptions.js';
import { calibrateSavedModel } from './temperature.js';
import { chooseSavedThresholds } from './thresholds.js';
import type { WorkflowContext } from './workflow.js';

/** The optimizer of a phase, built fresh when the phase starts. */
export interface PhaseOptimizer {
  name: OptimizerName;
  /** Undefined: the optimizer's Keras default. The peak of a schedule. */
  learningRate?: number;
  /** adamw's decoupled weight decay; undefined: its default. */
  weightDecay?: number;
  /** tfjs variable name to its rate multiplier (layer groups); absent names train at 1. */
  multipliers?: Record<string, number>;
  /** The rates before every batch (a callback this phase adds); undefined: constant. */
  schedule?: ScheduleSpec;
}

/** One training phase as data: what trains, on which batches, with which optimizer, for how long. */
export interface PhaseDescription {
  /** Tag of the resume state and the timings: 'features', 'augment', 'head' or 'finetune'. */
  name: 'features' | 'augment' | 'head' | 'finetune';
  /** What trains, for the note when ONNX Runtime cannot train it ("The head"). */
  what: string;
  /** The logits model that trains (the head, or the unfrozen suffix + head); compiled by the phase. */
  model: tfl.LayersModel;
  numClasses: number;
  /** One sigmoid a class against multi-hot targets: binary cross-entropy, mAP each epoch, thresholds at the end. */
  multiLabel?: boolean;
  train: BatchSource;
  validation: BatchSource;
  optimizer: PhaseOptimizer;
  /** Absolute index of the phase's first epoch (after an earlier phase's epochs) and how many it has. */
  firstEpoch: number;
  epochs: number;
  /** Writes the checkpoint (the full model: preprocess + base + head). */
  saver: FullModelSaver;
  /** Facts of this phase for meta.json (cut layer, augmentation, ...). */
  meta?: Partial<RunMeta>;
  /** Set when this phase is the one `resume` continues: its saved state, if an epoch of it had finished. */
  resume?: { state?: TrainState };
  /** Said (verbose) when ONNX Runtime trains it. */
  ortNote?: string;
  /** What the phase holds besides the trainer (models, the saver, a frozen runner): disposed when it ends, however it ends. */
  owns: Array<{ dispose(): unknown }>;
}

export interface PhaseOutcome {
  interrupted: boolean;
  stoppedEarly: boolean;
}

/** How notes name a phase. */
const PHASE_WORDS: Record<PhaseDescription['name'], string> = {
  features: 'training',
  augment: 'training',
  head: 'the head phase',
  finetune: 'fine-tuning',
};

/** The phases that end a run: when one ends (not interrupted), the saved model is calibrated (option calibration). */
const ENDS_RUN: Record<PhaseDescription['name'], boolean> = { features: true, augment: true, head: false, finetune: true };

/** What a phase needs of a workflow's context. */
export type PhaseContext = Pick<WorkflowContext, 'opts' | 'naming' | 'run' | 'log' | 'callbacks'>;

/**
 * Run one phase through the fit loop: compile its model, pick the engine that trains it,
 * put the run's records around the callbacks (the divergence guard and progress first,
 * the caller's after the checkpoint, history and log), fit, and dispose what it holds.
 * A phase that diverged is a UserError naming the checkpoint that is kept. The phase that
 * ends a run calibrates its saved model (calibrateSavedModel) unless it was interrupted.
 */
export async function runPhase(ctx: PhaseContext, records: RunRecords, phase: PhaseDescription): Promise<PhaseOutcome> {
  const { opts } = ctx;
  const name = (k: string) => optionName(k, ctx.naming);
  let trainer: OrtTrainer | undefined;
  try {
    const optimizer = makeOptimizer(phase.optimizer);
    compileHeadForTraining(phase.model, phase.numClasses, optimizer, opts.labelSmoothing, phase.multiLabel);
    trainer = await engineTrainer(ctx, phase.model, phase.what);
    checkEngineFollows(trainer, phase.optimizer, ctx.naming);
    if (trainer && phase.ortNote && opts.verbose) ctx.log(phase.ortNote);
    const model = trainer ?? phase.model;
    const state = phase.resume?.state;
    const initialEpoch = state?.epoch ?? phase.firstEpoch;
    const last = phase.firstEpoch + phase.epochs;
    if (phase.resume && !state) {
      ctx.log(
        `${name('resume')}: no epoch of ${PHASE_WORDS[phase.name]} had finished in ${opts.out}, so it starts again from its first epoch.`,
      );
    }
    if (initialEpoch >= last)
      ctx.log(`${opts.out} already has ${initialEpoch} of ${last} epochs; nothing to train (raise ${name('epochs')} to train more).`);

    const { early, late } = records.forPhase({
      name: phase.name,
      model,
      initialEpoch,
      samples: phase.train.samples,
      save: (dir) => phase.saver.save(dir),
      restore: state,
      resumeOption: name('resume'),
      meta: phase.meta,
    });
    // With another engine training, the tfjs weights are a copy synced at epoch ends: nothing to check per batch.
    const guard = new DivergenceGuard({ weights: !trainer, learningRateOption: name('learningRate') });
    const tap = logitsTapOf(phase.model);
    const callbacks: FitCallback[] = [
      // First: it adds map and val_map to the epoch's logs, which every later callback reads.
      ...(phase.multiLabel && tap ? [new MeanAveragePrecision(tap, phase.numClasses)] : []),
      guard,
      ...(opts.verbose === 1 ? [new ProgressLogger({ epochs: last, header: epochHeader(phase, last) })] : []),
      // After the progress line (a rate is no metric to average), before the history and log that record it.
      ...phaseSchedulers(phase, model, optimizer.stepRates().learningRate),
      ...early,
      ...(opts.earlyStoppingPatience > 0 ? [new EarlyStopping({ monitor: MONITOR, patience: opts.earlyStoppingPatience })] : []),
      ...(ctx.callbacks ?? []),
      ...late,
    ];
    const result = await fit(model, {
      train: phase.train,
      validation: phase.validation,
      initialEpoch,
      epochs: last,
      callbacks,
      signal: opts.signal,
    });
    if (guard.message) {
      const { bestEpoch, bestValLoss } = records.meta;
      throw new UserError(
        `${guard.message} ${bestEpoch >= 0 ? `The best model so far (epoch ${bestEpoch + 1}, val_loss ${fmt(bestValLoss)}) is kept in ${runPaths(ctx.run.dir).model}.` : 'No checkpoint was saved before that.'}`,
      );
    }
    // Training ends here: the best model gets its temperature (docs/calibration.md), or multi-label its thresholds.
    if (ENDS_RUN[phase.name] && !result.interrupted) {
      if (phase.multiLabel) await chooseSavedThresholds(ctx, records.meta, phase);
      else await calibrateSavedModel(ctx, records, phase);
    }
    return { interrupted: result.interrupted, stoppedEarly: result.stopped };
  } finally {
    await trainer?.dispose();
    for (const o of phase.owns) await o.dispose();
  }
}

/**
 * The trainer of a compiled logits model on ONNX Runtime (engine 'ort', the default), or
 * undefined when tfjs trains it: engine 'tfjs', or a model the generated graphs cannot
 * express (said once, naming what is missing, e.g. "The head trains on tfjs instead.").
 */
export async function engineTrainer(
  ctx: Pick<PhaseContext, 'opts' | 'log'>,
  logits: tfl.LayersModel,
  what: string,
): Promise<OrtTrainer | undefined> {
  if (ctx.opts.engine !== 'ort') return undefined;
  try {
    // The loss as compiled (compileHeadForTraining): the same label smoothing on both engines.
    return await OrtTrainer.create(logits, { head: trainableHead(logits), labelSmoothing: labelSmoothingOf(logits) });
  } catch (e) {
    if (!(e instanceof NotTrainableOnOrt)) throw e;
    ctx.log(`${e.message} ${what} trains on tfjs instead.`);
    return undefined;
  }
}

/** Fine-tuning after earlier epochs counts its own from 1 (`Epoch 1/2 (fine-tuning; 21 overall)`); other phases, Keras's header. */
function epochHeader(phase: PhaseDescription, last: number): ((epoch: number) => string) | undefined {
  if (phase.name !== 'finetune' || phase.firstEpoch === 0) return undefined;
  return (epoch) => fineTuneEpochLabel(epoch, phase.firstEpoch, last);
}

function fmt(v: number | null): string {
  if (v === null) return 'none';
  return Math.abs(v) >= 1e-3 ? v.toFixed(4) : v.toExponential(2);
}
