import { existsSync, promises as fsp } from 'node:fs';
import type * as tfl from '@tensorflow/tfjs-layers';
import path from 'node:path';
import { loadBase, type ConvBase } from '../applications/loadBase.js';
import { UserError } from '../errors.js';
import { ExtractionInterrupted } from '../features/extract.js';
import { CalibrationInterrupted } from '../features/interrupted.js';
import type { DataDir } from '../data/splits.js';
import { resolveData } from '../data/tableData.js';
import { initBackend } from '../tfjs/backend.js';
import { isOnnxBasePath } from '../ort/onnxBase.js';
import { registerWasmGradientKernels } from '../tfjs/gradients/index.js';
import { ensureWritableDir } from '../io/writableDir.js';
import { emptyHistory } from '../run/history.js';
import { readMeta, type RunMeta, type TrainMode } from '../run/meta.js';
import { runPaths } from '../run/paths.js';
import { readHistory } from '../run/runDir.js';
import { RunWriter } from '../run/runFolder.js';
import { loadTrainState } from '../run/trainState.js';
import { augmentWorkflow } from './augment.js';
import { featureCacheRoot } from './featureCache.js';
import { featuresWorkflow } from './features.js';
import { finetuneWorkflow } from './finetune.js';
import { knnWorkflow } from './knn.js';
import { withMultiLabelDefaults } from './multiLabelDefaults.js';
import { withRecipeDefaults } from './recipe.js';
import { onnxBaseOfOptions } from './runBase.js';
import type { WorkflowContext, WorkflowResult } from './workflow.js';
import {
  optionName,
  validateTrainOptions,
  withTrainDefaults,
  type OptionNaming,
  type TrainOptions,
  type TrainOptionsInput,
  type TrainResult,
} from './options.js';

/** The workflow of each mode. A new mode is a row here and a file beside this one. */
export const MODES: Record<TrainMode, (ctx: WorkflowContext) => Promise<WorkflowResult>> = {
  features: featuresWorkflow,
  augment: augmentWorkflow,
  finetune: finetuneWorkflow,
  knn: knnWorkflow,
};

export interface TrainHooks {
  /** Where notes and progress lines go; default stderr. */
  log?: (line: string) => void;
  /** How option names appear in errors: 'api' (default) or 'cli'. */
  naming?: OptionNaming;
  /** Extra tfjs callbacks (Keras's `callbacks=[...]`), called with Keras-named logs after tlkit's checkpoint, history and log (meta.json then says whether the epoch was saved). */
  callbacks?: tfl.Callback[];
}

/**
 * Train a classifier: Keras's chapter 8.3 workflows behind one call. Fills in every
 * default, checks every option and path before any minutes of work start, then runs
 * the mode's workflow through the one fit loop. The run folder (`out`) is locked while
 * written and never loses a finished model (see RunWriter).
 *
 *   const result = await train({ data: 'data/cats_vs_dogs_small', base: 'vgg16', out: 'runs/features' });
 */
export async function train(input: TrainOptionsInput, hooks: TrainHooks = {}): Promise<TrainResult> {
  const naming = hooks.naming ?? 'api';
  const log = hooks.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  // fastai's recipe fills in its own defaults first (recipe.ts); the book's fill in the rest.
  const given = withRecipeDefaults(input);
  const defaulted = withTrainDefaults(given);
  validateTrainOptions(defaulted, naming);
  const data = checkData(defaulted, naming);
  const opts = withMultiLabelDefaults(defaulted, given, data);
  const source = opts.from !== undefined ? await checkSourceRun(opts, data, naming) : undefined;
  ensureWritableDir(optionName('cacheDir', naming), featureCacheRoot(opts.cacheDir));
  if (opts.resume && !existsSync(runPaths(opts.out).meta) && !existsSync(runPaths(opts.out).replaced)) {
    throw new UserError(
      `${optionName('resume', naming)}: ${opts.out} holds no run to continue (no meta.json). Drop ${optionName('resume', naming)} to start a new run there.`,
    );
  }
  // Every check before the run folder is created: whether it can be, and the base (a typo, a failed download).
  const createsOut = !existsSync(opts.out);
  ensureWritableDir(optionName('out', naming), opts.out, { keep: false });
  // The run to resume (unless a crashed replacement holds it aside, which opening the folder repairs) must match first.
  const recorded = opts.resume && existsSync(runPaths(opts.out).meta) ? await readMeta(opts.out) : undefined;
  if (recorded) checkSameRun(recorded, opts, data, optionName('resume', naming));
  const runSize = source?.imageSize ?? recorded?.imageSize;
  const onnxBase = isOnnxBasePath(opts.base) ? onnxBaseOfOptions(opts, naming, runSize) : undefined;
  await initBackend();
  registerWasmGradientKernels();
  let preloadedBase = onnxBase ? undefined : await loadTfjsBase(opts, runSize);
  // Fine-tuning a run in its own folder continues it: nothing is set aside.
  const inPlace = opts.from !== undefined && path.resolve(opts.from) === path.resolve(opts.out);
  let run: RunWriter;
  try {
    run = await RunWriter.open(opts.out, { resume: opts.resume || inPlace, log, flag: optionName('out', naming) });
  } catch (e) {
    preloadedBase?.model.dispose();
    throw e;
  }
  try {
    const resumed = opts.resume ? await resumeState(opts, data, naming) : undefined;
    const timings: Record<string, number> = { ...(resumed?.meta.timings ?? {}) };
    const context: WorkflowContext = {
      opts,
      naming,
      data,
      run,
      resumed,
      timings,
      log,
      callbacks: hooks.callbacks,
      onnxBase,
      preloadedBase,
    };
    let result: WorkflowResult;
    try {
      result = await MODES[opts.mode](context);
    } catch (e) {
      if (!(e instanceof ExtractionInterrupted)) throw e;
      // What the stopped calibration kept (nothing); extraction's own stop is told by the result.
      if (e instanceof CalibrationInterrupted) log(e.message);
      return await interruptedBeforeTraining(opts.out, timings);
    } finally {
      preloadedBase = context.preloadedBase;
    }
    const outcome = { interrupted: result.interrupted, stoppedEarly: result.stoppedEarly };
    await result.records.finish(outcome);
    const { meta, history } = result.records;
    const knn = meta.knn ? { knn: meta.knn } : {};
    return {
      runDir: opts.out,
      bestEpoch: meta.bestEpoch,
      bestValue: meta.bestValLoss ?? NaN,
      history,
      ...outcome,
      timings: meta.timings,
      ...knn,
    };
  } finally {
    preloadedBase?.model.dispose();
    await run.close();
    // A run that stopped before writing anything leaves no empty folder behind.
    if (createsOut) await fsp.rmdir(opts.out).catch(() => {});
  }
}

/** The tfjs base of a run (a family, nsfwjs, a tfjs folder, a .h5) at the size the options or the run fine-tuned or resumed give. */
async function loadTfjsBase(opts: TrainOptions, runSize: [number, number] | undefined): Promise<ConvBase> {
  const size = opts.imageSize;
  const base = await loadBase({ base: opts.base, weights: opts.weights, imageSize: size ? [size, size] : undefined });
  if (size || !runSize || base.imageSize.join('x') === runSize.join('x')) return base;
  base.model.dispose();
  return loadBase({ base: opts.base, weights: opts.weights, imageSize: runSize });
}

/**
 * Ctrl-C while the frozen base extracted features: no epoch of this call ran. The run folder
 * holds what earlier phases or calls saved (if anything): that is the result.
 */
async function interruptedBeforeTraining(out: string, timings: Record<string, number>): Promise<TrainResult> {
  const meta = existsSync(runPaths(out).meta) ? await readMeta(out) : undefined;
  const history = (meta && (await readHistory(out))) || emptyHistory();
  const bestEpoch = meta && existsSync(path.join(runPaths(out).model, 'model.json')) ? meta.bestEpoch : -1;
  return {
    runDir: out,
    bestEpoch,
    bestValue: bestEpoch >= 0 ? (meta?.bestValLoss ?? NaN) : NaN,
    history,
    interrupted: true,
    stoppedEarly: false,
    timings: meta?.timings ?? timings,
  };
}

export function checkData(opts: TrainOptions, naming: OptionNaming): DataDir {
  const data = resolveData(opts.data, opts, opts.multiLabel);
  if (opts.threshold !== undefined && !data.multiLabel) {
    throw new UserError(
      `${optionName('threshold', naming)} sets the decision threshold of a multi-label run, and ${data.table?.file ?? opts.data} gives one label an image. Add ${optionName('multiLabel', naming)} to train one sigmoid a class, or drop ${optionName('threshold', naming)}.`,
    );
  }
  if (data.table && !data.splits.validation && opts.mode !== 'knn' && (opts.mode !== 'features' || !opts.validationSplit)) {
    throw new UserError(
      `${data.table.file} has no validation column${opts.mode === 'features' ? '' : `, which mode ${opts.mode} needs`}. Add a true/false column (e.g. is_valid) and name it with ${optionName('validColumn', naming)}${opts.mode === 'features' ? `, or pass ${optionName('validationSplit', naming)} 0.2 to hold out part of the rows` : ''}.`,
    );
  }
  if (data.classNames.length < 2) {
    const where = data.layout === 'splits' ? path.join(opts.data, 'train') : opts.data;
    throw new UserError(
      `${where} has one class folder ('${data.classNames[0]}'); a classifier needs at least 2 classes. Add a folder of images for each other class${data.layout === 'splits' ? ' in every split (train/, validation/, test/)' : ''}.`,
    );
  }
  // A kNN run trains nothing: validation only reports how it scores.
  if (!data.splits.validation && opts.mode !== 'knn') {
    if (opts.mode !== 'features') {
      throw new UserError(
        `${opts.data} has no validation/ folder, which mode ${opts.mode} needs. Add one beside train/ with the same class folders.`,
      );
    }
    if (!opts.validationSplit) {
      throw new UserError(
        `${opts.data} has no validation/ folder. Add one (with the same class folders as train/), or pass ${optionName('validationSplit', naming)} 0.2 to hold out part of train.`,
      );
    }
  }
  return data;
}

/** The run `from` names, checked against the options and the data: its meta. */
export async function checkSourceRun(opts: TrainOptions, data: DataDir, naming: OptionNaming): Promise<RunMeta> {
  const from = opts.from!;
  const p = runPaths(from);
  if (!existsSync(p.meta) || !existsSync(path.join(p.model, 'model.json'))) {
    throw new UserError(
      `${optionName('from', naming)} ${from}: not a finished tlkit run (expected ${p.meta} and ${p.model}/model.json). Give the out folder of a \`tlkit train\` run.`,
    );
  }
  return readMeta(from).then((meta) => {
    if (meta.onnxBase) {
      throw new UserError(
        `${optionName('from', naming)} ${from} was trained on the ONNX base ${meta.onnxBase.file}, a frozen graph that cannot be fine-tuned. Fine-tune a run trained on a Keras family (e.g. ${optionName('base', naming)} resnet50).`,
      );
    }
    if ((meta.labelMode === 'multi-label') !== Boolean(data.multiLabel)) {
      throw new UserError(
        `${optionName('from', naming)} ${from} is a ${meta.labelMode} run and this data is ${data.multiLabel ? '' : 'not '}multi-label. Fine-tune a run trained on the same labels (${optionName('multiLabel', naming)} as it had).`,
      );
    }
    if (meta.classes.join('\n') !== data.classNames.join('\n')) {
      throw new UserError(
        `${optionName('from', naming)} ${from} was trained on classes [${meta.classes.join(', ')}], the data has [${data.classNames.join(', ')}]. Use the run trained on this data.`,
      );
    }
    if (opts.imageSize !== undefined && opts.imageSize !== meta.imageSize[0]) {
      throw new UserError(
        `${optionName('from', naming)} ${from} takes ${meta.imageSize.join('x')} images, but ${optionName('imageSize', naming)} is ${opts.imageSize}. Drop ${optionName('imageSize', naming)} (fine-tuning uses the run's size).`,
      );
    }
    return meta;
  });
}

/** The run to continue was trained with the same mode, base, image size and classes. */
function checkSameRun(meta: RunMeta, opts: TrainOptions, data: DataDir, flag: string): void {
  const differences: string[] = [];
  if (meta.mode !== opts.mode) differences.push(`mode ${meta.mode}, not ${opts.mode}`);
  if (meta.base !== opts.base) differences.push(`base ${meta.base}, not ${opts.base}`);
  if (opts.imageSize !== undefined && meta.imageSize[0] !== opts.imageSize)
    differences.push(`image size ${meta.imageSize.join('x')}, not ${opts.imageSize}`);
  if (meta.classes.join('\n') !== data.classNames.join('\n'))
    differences.push(`classes [${meta.classes.join(', ')}], not [${data.classNames.join(', ')}]`);
  if ((meta.labelMode === 'multi-label') !== Boolean(data.multiLabel))
    differences.push(`labels ${meta.labelMode}, not ${data.multiLabel ? 'multi-label' : 'one an image'}`);
  if (differences.length > 0) {
    throw new UserError(
      `${flag}: ${opts.out} was trained with ${differences.join('; ')}. Resume with the run's own settings, or drop ${flag} (and choose another out folder) to start anew.`,
    );
  }
}

/** The run to continue: same mode, base, image size and classes, and its saved training state. */
async function resumeState(opts: TrainOptions, data: DataDir, naming: OptionNaming): Promise<WorkflowContext['resumed']> {
  const flag = optionName('resume', naming);
  if (!existsSync(runPaths(opts.out).meta)) {
    throw new UserError(`${flag}: ${opts.out} holds no run to continue (no meta.json). Drop ${flag} to start a new run there.`);
  }
  const meta: RunMeta = await readMeta(opts.out);
  checkSameRun(meta, opts, data, flag);
  const state = await loadTrainState(opts.out);
  // A phase with no whole epoch yet has no state of its own (fine-tuning from another run, stopped in its first epoch): it starts again.
  const phaseStart = meta.phase === 'finetune' ? (meta.fineTuneStartEpoch ?? 0) : 0;
  if (!state && meta.epochsDone > phaseStart) {
    throw new UserError(
      `${flag}: ${opts.out} has no saved training state (it was written by an older tlkit). Train again without ${flag}.`,
    );
  }
  return { meta, history: (await readHistory(opts.out)) ?? emptyHistory(), state };
}
