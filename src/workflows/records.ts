import path from 'node:path';
import { BackupAndRestore, CSVLogger, HistoryRecorder, ModelCheckpoint } from '../fit/callbacks/index.js';
import type { FitCallback } from '../fit/fitLoop.js';
import { headLabelMode } from '../fit/head.js';
import type { TrainableModel } from '../fit/trainable.js';
import { isOnnxFeatureBase, type FeatureBase, type OnnxFeatureBase } from '../features/frozenBase.js';
import { writeFileAtomic } from '../io/atomicWrite.js';
import type { CalibrationRecord } from '../ort/int8.js';
import { writeHistoryPlots } from '../report/plots.js';
import { truncateHistory, type HistoryData } from '../run/history.js';
import { META_VERSION, writeMeta, type HeadSpec, type RunMeta, type TrainMode } from '../run/meta.js';
import { runPaths } from '../run/paths.js';
import type { RunWriter } from '../run/runFolder.js';
import { saveTrainState, type TrainState } from '../run/trainState.js';
import type { TrainOptions } from './options.js';
import { initialThresholds } from './thresholds.js';

/** Every workflow checkpoints on the Keras book's choice: the lowest validation loss. */
export const MONITOR = 'val_loss';

/**
 * The curves (SVG + PNG, about 0.1 s to render) are redrawn after an epoch at most this
 * often, and at the end of every phase however it ended (RunRecords.finish draws them when
 * the last phase ran no epoch). Short epochs (a head on cached features) would otherwise
 * spend as long drawing as training.
 */
export const CURVES_INTERVAL_MS = 5000;

/** What a phase hands its records. */
export interface PhaseRecordArgs {
  /** Tag of the resume state and of the timings ('features', 'augment', 'head', 'finetune'). */
  name: string;
  /** What trains (the resume state is taken from it). */
  model: TrainableModel;
  /** The phase's first epoch here (a resumed phase: the saved state's). */
  initialEpoch: number;
  /** Training samples an epoch (for images/s). */
  samples: number;
  /** Writes the full model into the checkpoint's (temporary) folder. */
  save(dir: string): Promise<void>;
  /** The saved state to continue from. */
  restore?: TrainState;
  /** The resume option as the caller names it ('resume' or '--resume'). */
  resumeOption: string;
  /** Facts of this phase for meta.json (cut layer, augmentation, ...). */
  meta?: Partial<RunMeta>;
}

/** A phase's record keepers, placed around the other callbacks. */
export interface PhaseRecords {
  /** The checkpoint, history.json and log.csv: before the caller's callbacks, which may read them at an epoch's end. */
  early: FitCallback[];
  /** The resume state, the curves, the timings and meta.json: after every other callback. */
  late: FitCallback[];
}

/**
 * The records of one run folder over all its phases: meta.json, history.json, log.csv,
 * the best checkpoint (lowest val_loss over the whole run, earlier phases included), the
 * resume state, the curves and the timings, each kept by a callback of the fit loop.
 */
export class RunRecords {
  private recorder?: HistoryRecorder;
  private readonly curves: CurvesRecorder;

  constructor(
    readonly run: RunWriter,
    readonly meta: RunMeta,
    private readonly initialHistory: HistoryData,
  ) {
    this.curves = new CurvesRecorder(run.dir, () => this.history);
  }

  /** The run's history so far (the last phase's recorder's, once a phase has run). */
  get history(): HistoryData {
    return this.recorder?.data ?? this.initialHistory;
  }

  forPhase(args: PhaseRecordArgs): PhaseRecords {
    const { dir } = this.run;
    const paths = runPaths(dir);
    // First: a saved state that does not fit is refused before any record changes.
    const backup = new BackupAndRestore({
      model: args.model,
      phase: args.name,
      restore: args.restore,
      save: (s) => saveTrainState(dir, s),
      resumeOption: args.resumeOption,
    });
    const checkpoint = new ModelCheckpoint({
      dir: paths.model,
      monitor: MONITOR,
      // Fine-tuning replaces the head phase's model only when it beats it.
      initialBest: this.meta.bestValLoss ?? undefined,
      initialBestEpoch: this.meta.bestEpoch,
      save: async (_m, tmp) => args.save(tmp),
      onSave: async (epoch, value) => {
        this.meta.bestEpoch = epoch;
        this.meta.bestValLoss = value ?? null;
        // A new checkpoint holds the raw model: it is calibrated when training ends.
        delete this.meta.calibration;
        await writeMeta(dir, this.meta);
        await this.run.checkpointSaved();
      },
    });
    // Epochs past a resume point are trained again: their rows go.
    this.recorder = new HistoryRecorder({ file: paths.history, initial: truncateHistory(this.history, args.initialEpoch) });
    const csv = new CSVLogger({ file: paths.log, append: args.initialEpoch > 0, keepEpochs: args.initialEpoch });
    return {
      early: [checkpoint, this.recorder, csv],
      late: [backup, this.curves, new TimingsRecorder(this.meta.timings, args.name, args.samples), new MetaRecorder(dir, this.meta, args)],
    };
  }

  /** Mark the run finished (every phase done) and write the final records. */
  async finish(outcome: { interrupted: boolean }): Promise<void> {
    this.meta.finished = !outcome.interrupted;
    await writeMeta(this.run.dir, this.meta);
    await this.curves.drawIfStale();
  }
}

/** meta.json through a phase: its facts and the epochs done; whether Ctrl-C stopped it. */
class MetaRecorder implements FitCallback {
  private interrupted = false;

  constructor(
    private readonly dir: string,
    private readonly meta: RunMeta,
    private readonly phase: Pick<PhaseRecordArgs, 'initialEpoch' | 'meta'>,
  ) {}

  async onTrainBegin(): Promise<void> {
    Object.assign(this.meta, this.phase.meta ?? {});
    this.meta.epochsDone = this.phase.initialEpoch;
    this.meta.finished = false;
    this.meta.interrupted = false;
    this.interrupted = false;
    await writeMeta(this.dir, this.meta);
  }

  async onEpochEnd(epoch: number): Promise<void> {
    this.meta.epochsDone = epoch + 1;
    await writeMeta(this.dir, this.meta);
  }

  onInterrupt(): void {
    this.interrupted = true;
  }

  async onTrainEnd(): Promise<void> {
    this.meta.interrupted = this.interrupted;
    await writeMeta(this.dir, this.meta);
  }
}

/** Seconds of a phase (and of all training), and its images/s over whole epochs, validation included: what a user waits for. */
class TimingsRecorder implements FitCallback {
  private t0 = 0;
  private epochs = 0;

  constructor(
    private readonly timings: Record<string, number>,
    private readonly phase: string,
    private readonly samples: number,
  ) {}

  onTrainBegin(): void {
    this.t0 = performance.now();
    this.epochs = 0;
  }

  onEpochEnd(): void {
    this.epochs++;
  }

  onTrainEnd(): void {
    const seconds = (performance.now() - this.t0) / 1000;
    const t = this.timings;
    t[`${this.phase}TrainSeconds`] = (t[`${this.phase}TrainSeconds`] ?? 0) + seconds;
    t.trainSeconds = (t.trainSeconds ?? 0) + seconds;
    if (this.epochs > 0) t[`${this.phase}ImagesPerSecond`] = (this.samples * this.epochs) / seconds;
  }
}

/** accuracy/loss .png/.svg: after an epoch at most every CURVES_INTERVAL_MS, and at every phase's end. One for the whole run. */
class CurvesRecorder implements FitCallback {
  private drawn = false;
  private drawnAt = -Infinity;

  constructor(
    private readonly dir: string,
    private readonly history: () => HistoryData,
  ) {}

  onTrainBegin(): void {
    this.drawn = false;
  }

  async onEpochEnd(): Promise<void> {
    this.drawn = false;
    if (performance.now() - this.drawnAt >= CURVES_INTERVAL_MS) await this.draw();
  }

  async onTrainEnd(): Promise<void> {
    await this.drawIfStale();
  }

  /** Draw unless the curves on disk already show the history (or there is none). */
  async drawIfStale(): Promise<void> {
    if (!this.drawn && this.history().epoch.length > 0) await this.draw();
  }

  private async draw(): Promise<void> {
    await writeHistoryPlots(this.history(), this.dir);
    this.drawnAt = performance.now();
    this.drawn = true;
  }
}

/** The options as meta.json records them (the abort signal is no data). */
export function recordedOptions(opts: TrainOptions): Record<string, unknown> {
  const { signal: _signal, ...options } = opts;
  return options;
}

/** meta.json of a new run, before its first epoch. */
export function newRunMeta(args: {
  opts: TrainOptions;
  classNames: string[];
  /** One sigmoid a class: labelMode 'multi-label', with thresholds (0.5, or the given one, until training ends). */
  multiLabel?: boolean;
  timings: Record<string, number>;
  base: FeatureBase;
  mode: TrainMode;
  head: HeadSpec;
}): RunMeta {
  const { opts, base } = args;
  return {
    version: META_VERSION,
    tool: 'tlkit',
    classes: args.classNames,
    labelMode: headLabelMode(args.classNames.length, args.multiLabel),
    ...(args.multiLabel ? initialThresholds(args.classNames.length, opts.threshold) : {}),
    preprocessing: base.preprocessing,
    imageSize: base.imageSize,
    base: opts.base,
    baseFamily: base.family,
    baseSource: base.source,
    weightsHash: base.weightsHash,
    ...(isOnnxFeatureBase(base) ? { onnxBase: onnxBaseRecord(base) } : {}),
    data: path.resolve(opts.data),
    mode: args.mode,
    head: args.head,
    bestEpoch: -1,
    bestValLoss: null,
    epochsDone: 0,
    finished: false,
    precision: opts.precision,
    options: recordedOptions(opts),
    timings: args.timings,
    createdAt: new Date().toISOString(),
    updatedAt: '',
  };
}

/** What meta.json records of an ONNX base: inference finds, checks and runs it again from this. */
function onnxBaseRecord(base: OnnxFeatureBase): NonNullable<RunMeta['onnxBase']> {
  const { file, sha256, inputName, outputName, upTo, layout, batch, preprocess } = base.onnx.info;
  return { file: path.resolve(file), sha256, inputName, outputName, upTo, layout, batch, preprocess };
}

/** The run keeps the calibration of its frozen graph: evaluate and predict quantize the saved model with it. */
export async function saveCalibration(runDir: string, record: CalibrationRecord): Promise<void> {
  await writeFileAtomic(runPaths(runDir).int8Calibration, `${JSON.stringify(record)}\n`);
}
