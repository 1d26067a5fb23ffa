import { existsSync, promises as fsp } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { UserError } from '../errors.js';
import { writeFileAtomic } from '../io/atomicWrite.js';
import { truncateHistory, type EpochLogs, type HistoryData } from '../run/history.js';
import { writeMeta, type RunMeta } from '../run/meta.js';
import { runPaths } from '../run/paths.js';
import type { RunWriter } from '../run/runFolder.js';
import { saveTrainState, type NamedArray, type TrainState } from '../run/trainState.js';
import { writeHistoryPlots } from '../report/plots.js';
import type { BatchSource } from './batchSources.js';
import { CSVLogger, EarlyStopping, HistoryRecorder, ModelCheckpoint, ProgressLogger, StopOnAbort } from './callbacks/index.js';
import { DivergenceGuard } from './callbacks/divergenceGuard.js';
import { kerasName } from './callbacks/logs.js';

/** Every workflow checkpoints on the Keras book's choice: the lowest validation loss. */
export const MONITOR = 'val_loss';

/**
 * The curves (SVG + PNG, about 0.1 s to render) are redrawn after an epoch at most this
 * often, and at the end of every phase however it ended; finish() draws them when the last
 * phase ran no epoch. Short
 * epochs (a head on cached features) would otherwise spend as long drawing as training.
 */
export const CURVES_INTERVAL_MS = 5000;

/**
 * A trainer that computes elsewhere what a compiled tfjs model would (ortTraining/'s
 * OrtTrainer trains the head, or fine-tuning's suffix + head, on ONNX Runtime) and keeps `layersModel` in step:
 * callbacks see `layersModel`, whose weights are current after `syncWeights()`, which
 * the loop calls before each epoch's callbacks (so the checkpoint saves them).
 */
export interface EngineTrainer {
  readonly layersModel: tfl.LayersModel;
  readonly metricsNames: string[];
  readonly trainableWeights: tfl.LayersModel['trainableWeights'];
  readonly optimizer: Pick<tf.Optimizer, 'getWeights' | 'setWeights'>;
  stopTraining: boolean;
  trainOnBatch(x: tf.Tensor, y: tf.Tensor): Promise<number | number[]>;
  evaluate(x: tf.Tensor, y: tf.Tensor, args: { batchSize: number; verbose: 0 }): Promise<tf.Scalar | tf.Scalar[]>;
  syncWeights(): Promise<void>;
  /** The weights and optimizer slots as the resume state stores them, straight from the engine (no round trip through tfjs). */
  trainState?(): Promise<Pick<TrainState, 'weights' | 'optimizer'>>;
}

/** What the loop trains: a compiled tfjs model, or an engine trainer standing in for one. */
export type TrainableModel = tfl.LayersModel | EngineTrainer;

function isEngineTrainer(m: TrainableModel): m is EngineTrainer {
  return 'layersModel' in m && 'syncWeights' in m;
}

/** What a workflow hands the loop for one training phase. */
export interface TrainingPhase {
  /** Tag stored with the resume state ('features', 'augment', 'head', 'finetune'). */
  name: string;
  /** The compiled model that trains (head alone, or base suffix + head), logits out; or an engine trainer of it. */
  model: TrainableModel;
  train: BatchSource;
  validation: BatchSource;
  /** Writes the full model (RGB in: preprocess + base + head) into a folder; the checkpoint calls it. */
  saveFull(dir: string): Promise<void>;
  /** Absolute index of the phase's first epoch (after an earlier phase's epochs) and its length. */
  firstEpoch: number;
  epochs: number;
  /** Facts of this phase for meta.json (cut layer, augmentation, ...). */
  meta?: Partial<RunMeta>;
}

export interface PhaseOutcome {
  interrupted: boolean;
  stoppedEarly: boolean;
}

export interface FitSettings {
  signal?: AbortSignal;
  verbose: boolean;
  earlyStoppingPatience: number;
  log: (line: string) => void;
  /** The caller's own callbacks (any tfjs Callback), run after tlkit's. */
  callbacks?: tfl.Callback[];
}

type CallbackLike = tfl.Callback & { setParams(p: Record<string, unknown>): void; setModel(m: tfl.LayersModel): void };

/**
 * The one training loop of tlkit: every mode (features, augment, finetune and its head
 * phase) trains through `fitPhase`. It owns the run folder's records while training:
 * meta.json, history.json, log.csv and the curves after every epoch, the best
 * checkpoint (lowest val_loss over the whole run, earlier phases included), the resume
 * state, and the divergence guard. A phase stopped inside an epoch (Ctrl-C, divergence)
 * drops that epoch: records and checkpoint stay those of the last whole epoch.
 */
export class FitLoop {
  constructor(
    readonly run: RunWriter,
    readonly meta: RunMeta,
    public history: HistoryData,
    private readonly settings: FitSettings,
  ) {}

  /** Whether the curves on disk show this.history, and when they were last drawn. */
  private curvesDrawn = false;
  private curvesDrawnAt = -Infinity;

  async fitPhase(phase: TrainingPhase, resume?: TrainState): Promise<PhaseOutcome> {
    const { model } = phase;
    const out = this.run.dir;
    const paths = runPaths(out);
    const last = phase.firstEpoch + phase.epochs;
    const initialEpoch = resume?.epoch ?? phase.firstEpoch;
    if (resume) await restoreTrainState(model, resume);

    Object.assign(this.meta, phase.meta ?? {});
    this.meta.epochsDone = initialEpoch;
    this.meta.finished = false;
    this.meta.interrupted = false;
    this.curvesDrawn = false;
    this.history = truncateHistory(this.history, initialEpoch);
    await writeMeta(out, this.meta);
    await truncateCsv(paths.log, initialEpoch);

    const stopper = new StopOnAbort(this.settings.signal ?? new AbortController().signal);
    // With another engine training, the tfjs weights are a copy synced at epoch ends: nothing to check per batch.
    const guard = new DivergenceGuard({ weights: !isEngineTrainer(model) });
    const history = new HistoryRecorder({ file: paths.history, initial: this.history });
    const checkpoint = new ModelCheckpoint({
      dir: paths.model,
      monitor: MONITOR,
      // The best so far counts epochs of earlier phases too: fine-tuning replaces the head's model only when it beats it.
      initialBest: this.meta.bestValLoss ?? undefined,
      initialBestEpoch: this.meta.bestEpoch,
      save: async (_m, dir) => phase.saveFull(dir),
      onSave: async (epoch, value) => {
        this.meta.bestEpoch = epoch;
        this.meta.bestValLoss = value ?? null;
        await writeMeta(out, this.meta);
        await this.run.checkpointSaved();
      },
    });
    const callbacks: CallbackLike[] = [
      stopper,
      guard,
      ...(this.settings.verbose ? [new ProgressLogger({ epochs: last })] : []),
      checkpoint,
      history,
      new CSVLogger({ file: paths.log, append: initialEpoch > 0 }),
      ...(this.settings.earlyStoppingPatience > 0 ? [new EarlyStopping({ monitor: MONITOR, patience: this.settings.earlyStoppingPatience })] : []),
      ...(this.settings.callbacks ?? []),
    ] as unknown as CallbackLike[];
    const params = { epochs: last, initialEpoch, steps: phase.train.size, samples: phase.train.samples, verbose: 0, doValidation: true, metrics: ['loss', 'accuracy', 'val_loss', 'val_accuracy'] };
    const layersModel = isEngineTrainer(model) ? model.layersModel : model;
    for (const cb of callbacks) {
      cb.setModel(layersModel);
      cb.setParams(params);
    }
    const each = async (f: (cb: CallbackLike) => Promise<void> | void) => {
      for (const cb of callbacks) await f(cb);
    };

    model.stopTraining = false;
    if (initialEpoch >= last) this.settings.log(`${out} already has ${initialEpoch} of ${last} epochs; nothing to train (raise the epochs to train more).`);
    const t0 = performance.now();
    await each((cb) => cb.onTrainBegin());
    for (let epoch = initialEpoch; epoch < last && !model.stopTraining; epoch++) {
      await each((cb) => cb.onEpochBegin(epoch));
      const sums: EpochLogs = {};
      let seen = 0;
      let batch = 0;
      for await (const { xs, ys } of phase.train.batches(epoch)) {
        const size = xs.shape[0];
        await each((cb) => cb.onBatchBegin(batch, { batch, size }));
        let values: number[];
        try {
          const r = await model.trainOnBatch(xs, ys);
          values = Array.isArray(r) ? r : [r];
        } finally {
          tf.dispose([xs, ys]);
        }
        const logs = namedLogs(model, values);
        for (const [k, v] of Object.entries(logs)) sums[k] = (sums[k] ?? 0) + v * size;
        seen += size;
        await each((cb) => cb.onBatchEnd(batch, { ...logs, batch, size }));
        batch++;
        if (model.stopTraining) break;
      }
      // Stopped inside the epoch (Ctrl-C, divergence): no validation, no records of it.
      if (model.stopTraining) break;
      const logs: EpochLogs = Object.fromEntries(Object.entries(sums).map(([k, v]) => [k, v / Math.max(seen, 1)]));
      const val = await evaluateOn(model, phase.validation);
      for (const [k, v] of Object.entries(val)) logs[`val_${k}`] = v;
      if (isEngineTrainer(model)) await model.syncWeights();
      await each((cb) => cb.onEpochEnd(epoch, logs));
      this.history = history.data;
      await saveTrainState(out, await captureTrainState(model, phase.name, epoch + 1));
      this.meta.epochsDone = epoch + 1;
      await writeMeta(out, this.meta);
      this.curvesDrawn = false;
      if (performance.now() - this.curvesDrawnAt >= CURVES_INTERVAL_MS) await this.drawCurves();
    }
    await each((cb) => cb.onTrainEnd());
    this.history = history.data;
    // The phase's last epochs (however it ended: done, stopped early, interrupted, diverged).
    if (!this.curvesDrawn && this.history.epoch.length > 0) await this.drawCurves();
    const seconds = (performance.now() - t0) / 1000;
    const epochsRun = this.meta.epochsDone - initialEpoch;
    const timings = this.meta.timings;
    timings[`${phase.name}TrainSeconds`] = (timings[`${phase.name}TrainSeconds`] ?? 0) + seconds;
    timings.trainSeconds = (timings.trainSeconds ?? 0) + seconds;
    // Wall time of whole epochs, validation included: what a user waits for.
    if (epochsRun > 0) timings[`${phase.name}ImagesPerSecond`] = (phase.train.samples * epochsRun) / seconds;

    const outcome = { interrupted: stopper.interrupted, stoppedEarly: !stopper.interrupted && !guard.message && this.meta.epochsDone < last };
    this.meta.interrupted = outcome.interrupted;
    await writeMeta(out, this.meta);
    if (guard.message) {
      throw new UserError(
        `${guard.message} ${this.meta.bestEpoch >= 0 ? `The best model so far (epoch ${this.meta.bestEpoch + 1}, val_loss ${fmt(this.meta.bestValLoss)}) is kept in ${paths.model}.` : 'No checkpoint was saved before that.'}`,
      );
    }
    return outcome;
  }

  /** Mark the run finished (every phase done) and write the final records. */
  async finish(outcome: PhaseOutcome): Promise<void> {
    this.meta.finished = !outcome.interrupted;
    await writeMeta(this.run.dir, this.meta);
    // Drawn at the end of every phase; a phase that ran no epoch (stopped at once, nothing left to train) leaves them to here.
    if (!this.curvesDrawn && this.history.epoch.length > 0) await this.drawCurves();
  }

  private async drawCurves(): Promise<void> {
    await writeHistoryPlots(this.history, this.run.dir);
    this.curvesDrawnAt = performance.now();
    this.curvesDrawn = true;
  }
}

function fmt(v: number | null): string {
  if (v === null) return 'none';
  return Math.abs(v) >= 1e-3 ? v.toFixed(4) : v.toExponential(2);
}

/** trainOnBatch/evaluate values under Keras's names (loss, accuracy). */
function namedLogs(model: Pick<tfl.LayersModel, 'metricsNames'>, values: number[]): EpochLogs {
  const names = model.metricsNames.length === values.length ? model.metricsNames : ['loss', ...values.slice(1).map((_, i) => `metric_${i}`)];
  return Object.fromEntries(names.map((n, i) => [kerasName(n), values[i]]));
}

/** Loss and metrics over a whole source (sample-weighted means), inference mode. */
export async function evaluateOn(model: TrainableModel, source: BatchSource): Promise<EpochLogs> {
  const sums: EpochLogs = {};
  let n = 0;
  for await (const { xs, ys } of source.batches(0)) {
    const size = xs.shape[0];
    const args = { batchSize: size, verbose: 0 } as const;
    const r = isEngineTrainer(model) ? await model.evaluate(xs, ys, args) : model.evaluate(xs, ys, args);
    const scalars = Array.isArray(r) ? r : [r];
    const values = await Promise.all(scalars.map(async (s) => (await s.data())[0]));
    tf.dispose([xs, ys, ...scalars]);
    for (const [k, v] of Object.entries(namedLogs(model, values))) sums[k] = (sums[k] ?? 0) + v * size;
    n += size;
  }
  return Object.fromEntries(Object.entries(sums).map(([k, v]) => [k, v / Math.max(n, 1)]));
}

async function captureTrainState(model: TrainableModel, phase: string, epoch: number): Promise<TrainState> {
  if (isEngineTrainer(model) && model.trainState) return { epoch, phase, ...(await model.trainState()) };
  const toArray = async (name: string, t: tf.Tensor): Promise<NamedArray> => {
    const dtype = t.dtype === 'int32' ? 'int32' : 'float32';
    const data = (await t.data()) as Float32Array | Int32Array;
    return { name, shape: t.shape, dtype, data: dtype === 'int32' ? Int32Array.from(data) : Float32Array.from(data) };
  };
  const weights = await Promise.all(model.trainableWeights.map((w) => toArray(w.originalName, w.read())));
  const optimizer = await Promise.all((await model.optimizer.getWeights()).map((w) => toArray(w.name, w.tensor)));
  return { epoch, phase, weights, optimizer };
}

async function restoreTrainState(model: TrainableModel, state: TrainState): Promise<void> {
  const vars = model.trainableWeights;
  const mismatch =
    vars.length !== state.weights.length ? `${state.weights.length} weights saved, ${vars.length} to train` : vars.map((v, i) => (v.shape.join('x') !== state.weights[i].shape.join('x') ? `${v.originalName} is ${v.shape.join('x')}, saved ${state.weights[i].shape.join('x')}` : '')).find(Boolean);
  if (mismatch) {
    throw new UserError(`--resume: the saved training state does not fit this model (${mismatch}). Train with the options the run was started with, or drop --resume.`);
  }
  vars.forEach((v, i) => {
    const t = tf.tensor(state.weights[i].data, state.weights[i].shape, state.weights[i].dtype);
    v.write(t);
    t.dispose();
  });
  const slots = state.optimizer.map((w) => ({ name: w.name, tensor: tf.tensor(w.data, w.shape, w.dtype) }));
  await model.optimizer.setWeights(slots);
  tf.dispose(slots.map((s) => s.tensor));
}

/** Keep the header and the first `epochs` rows of log.csv (rows past a resume point are replayed). */
async function truncateCsv(file: string, epochs: number): Promise<void> {
  if (!existsSync(file)) return;
  if (epochs === 0) {
    await fsp.rm(file, { force: true });
    return;
  }
  const lines = (await fsp.readFile(file, 'utf8')).split('\n');
  const kept = [lines[0], ...lines.slice(1).filter((l) => l.trim() !== '' && Number(l.split(',')[0]) < epochs)];
  await writeFileAtomic(file, `${kept.join('\n')}\n`);
}
