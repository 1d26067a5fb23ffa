import { withAugmentationDefaults } from '../augment/params.js';
import { UserError } from '../errors.js';
import { ExtractionInterrupted } from '../features/extract.js';
import { isOnnxFeatureBase, type FeatureBase } from '../features/frozenBase.js';
import type { BatchSource } from '../fit/batchSources.js';
import { LrFinder, type SweepEnd } from '../fit/callbacks/lrFinder.js';
import { fit } from '../fit/fitLoop.js';
import { compileHeadForTraining } from '../fit/head.js';
import { suggestLearningRates, type LrSuggestions } from '../fit/lrSuggestions.js';
import { makeOptimizer } from '../fit/optimizer.js';
import { rateControlOf } from '../fit/stepRates.js';
import { ensureWritableDir } from '../io/writableDir.js';
import { isOnnxBasePath } from '../ort/onnxBase.js';
import type { RunMeta } from '../run/meta.js';
import { writeLrFindPlot, type LrFindPlotFiles } from '../report/lrFindPlot.js';
import { initBackend } from '../tfjs/backend.js';
import { registerWasmGradientKernels } from '../tfjs/gradients/index.js';
import { cachedFeatures, featureCacheRoot } from './featureCache.js';
import { unfrozenModel } from './finetune.js';
import { headSpec, newHead } from './head.js';
import { checkSweepOptions, type LrSweepOptions } from './lrFindOptions.js';
import { optionName, validateTrainOptions, withTrainDefaults, type OptionNaming, type TrainOptionsInput } from './options.js';
import { engineTrainer, type PhaseDescription } from './phase.js';
import { withRecipeDefaults } from './recipe.js';
import { loadFeatureBase, onnxBaseOfOptions } from './runBase.js';
import { phaseOptimizer } from './scheduleOptions.js';
import { withMultiLabelDefaults } from './multiLabelDefaults.js';
import { checkData, checkSourceRun } from './train.js';
import { augmentedTraining, featureSource } from './trainingBatches.js';
import type { BuildContext } from './workflow.js';

/**
 * What lrFind takes: train()'s options (what trains: data, base, mode, from, head,
 * optimizer, batch size, ...; `out` may be left out, nothing is written there) and the sweep's.
 */
export type LrFindOptionsInput = Omit<TrainOptionsInput, 'out'> & {
  out?: string;
  /** Where to write lr-find.png and lr-find.svg (the folder is created); none: no plot. */
  plotDir?: string;
} & Partial<LrSweepOptions>;

export interface LrFindHooks {
  /** Where notes and progress lines go; default stderr. */
  log?: (line: string) => void;
  /** How option names appear in errors: 'api' (default), 'cli' or 'form'. */
  naming?: OptionNaming;
}

export interface LrFindResult {
  /** The learning rate of each batch of the sweep. */
  rates: number[];
  /** The smoothed training loss after each batch. */
  losses: number[];
  /** fastai's suggestions; undefined when the sweep was interrupted or the loss diverged too early to read any. */
  suggestions?: LrSuggestions;
  /** Why the sweep ended: its steps done, the loss past 4x its minimum, a NaN loss, or Ctrl-C. */
  ended: SweepEnd | 'interrupted';
  /** What the sweep trained ('The head', 'Fine-tuning (conv_pw_13 + head)'). */
  what: string;
  /** The plot files, when plotDir was given (and the sweep was not interrupted). */
  plot?: LrFindPlotFiles;
  /** Seconds of the sweep itself, and of the whole call (loading the base and extracting features included). */
  sweepSeconds: number;
  seconds: number;
}

/** validateTrainOptions wants an out folder; lrFind writes none, so any name passes. */
const NO_RUN = 'lr-find (no run folder)';

/**
 * fastai's lr_find: train what `train()` would train with these options (the head on
 * cached features or on augmented images through the frozen base; with mode finetune
 * and `from`, that run's unfrozen suffix + head) for `steps` batches while the learning
 * rate grows exponentially from `start` to `end`, record the smoothed loss, and suggest
 * a rate (fastai's minimum/10, steepest descent and valley). What trains is a fresh copy,
 * disposed at the end: no run folder is written or changed (the feature cache may fill).
 *
 *   const { suggestions } = await lrFind({ data: 'data/cats_vs_dogs_small', base: 'mobilenet' });
 *   await train({ ..., learningRate: suggestions?.valley.rate });
 */
export async function lrFind(input: LrFindOptionsInput, hooks: LrFindHooks = {}): Promise<LrFindResult> {
  const naming = hooks.naming ?? 'api';
  const log = hooks.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const { start, end, steps, stopDiv, plotDir, ...trainInput } = input;
  const sweep = checkSweepOptions({ start, end, steps, stopDiv }, naming);
  const name = (k: string) => optionName(k, naming);
  if (trainInput.resume) {
    throw new UserError(
      `${name('resume')} does not apply to lr-find, which starts no run. Drop it; to sweep from a trained run's model, use ${name('mode')} finetune with ${name('from')} RUN.`,
    );
  }
  // As train(): a recipe's defaults first (recipe.ts), so that the sweep trains what that run would.
  const given = withRecipeDefaults({ ...trainInput, out: trainInput.out ?? NO_RUN });
  const defaulted = withTrainDefaults(given);
  validateTrainOptions(defaulted, naming);
  const data = checkData(defaulted, naming);
  const opts = withMultiLabelDefaults(defaulted, given, data);
  const source = opts.from !== undefined ? await checkSourceRun(opts, data, naming) : undefined;
  ensureWritableDir(name('cacheDir'), featureCacheRoot(opts.cacheDir));
  if (plotDir !== undefined) ensureWritableDir(naming === 'cli' ? '--plot-dir' : 'plotDir', plotDir, { keep: false });
  const onnxBase = isOnnxBasePath(opts.base) ? onnxBaseOfOptions(opts, naming, source?.imageSize) : undefined;
  await initBackend();
  registerWasmGradientKernels();

  const ctx: BuildContext = { opts, naming, data, timings: {}, log, onnxBase };
  const t0 = performance.now();
  const seconds = () => (performance.now() - t0) / 1000;
  let phase: SweptPhase;
  try {
    phase = await sweptPhase(ctx, source);
  } catch (e) {
    if (!(e instanceof ExtractionInterrupted)) throw e;
    return {
      rates: [],
      losses: [],
      ended: 'interrupted',
      what: 'nothing (stopped while the frozen base ran)',
      sweepSeconds: 0,
      seconds: seconds(),
    };
  }
  const { finder, sweepSeconds } = await runSweep(ctx, phase, sweep);
  const ended = finder.ended ?? 'interrupted';
  const rates = finder.rates;
  const losses = finder.losses;
  const suggestions = ended === 'interrupted' ? undefined : suggestLearningRates(rates, losses, sweep.steps);
  let plot: LrFindPlotFiles | undefined;
  if (plotDir !== undefined && ended !== 'interrupted') {
    // fastai leaves the last 5 points out of the plot too: the loss shooting up there would flatten the rest.
    const shown = losses.length > 5 ? losses.length - 5 : losses.length;
    const marks = suggestions
      ? [
          { label: `valley ${fmtRate(suggestions.valley.rate)}`, ...suggestions.valley.point },
          { label: `steep ${fmtRate(suggestions.steep.rate)}`, ...suggestions.steep.point },
          { label: `minimum/10 ${fmtRate(suggestions.minimum.rate)}`, ...suggestions.minimum.point },
        ]
      : [];
    plot = await writeLrFindPlot({ rates: rates.slice(0, shown), losses: losses.slice(0, shown), marks }, plotDir);
  }
  return { rates, losses, suggestions, ended, what: phase.what, plot, sweepSeconds, seconds: seconds() };
}

/** A learning rate in a few characters: 3.0e-4. */
export function fmtRate(rate: number): string {
  return rate.toExponential(1);
}

type SweptPhase = Pick<PhaseDescription, 'what' | 'model' | 'numClasses' | 'multiLabel' | 'train' | 'owns'>;

/**
 * The phase train() would run first with these options, without its records: a fresh
 * head on cached features (features mode; finetune without `from`, whose first phase
 * trains the head), a fresh head on augmented images through the frozen base (augment),
 * or the unfrozen suffix + head of the run `from` names (finetune).
 */
async function sweptPhase(ctx: BuildContext, source: RunMeta | undefined): Promise<SweptPhase> {
  const { opts } = ctx;
  const numClasses = ctx.data.classNames.length;
  const owns: SweptPhase['owns'] = [];
  const ownBase = (base: FeatureBase) => {
    if (!isOnnxFeatureBase(base)) owns.push(base.model);
  };
  try {
    if (opts.mode === 'finetune' && source && opts.from) {
      const m = await unfrozenModel(ctx, opts.from, opts.from, source);
      // The suffix's layers are the base's own (2 references: the base, the suffix), and the head's
      // go with `trainable`: disposing the base and `trainable` frees every weight once.
      owns.push(m.base.model, m.trainable);
      let train: BatchSource;
      if (opts.augment) {
        const augmented = await augmentedTraining(
          ctx,
          m.base,
          withAugmentationDefaults(opts.augmentation),
          'frozenPrefixSeconds',
          m.cut.cutLayer,
        );
        owns.push(augmented.frozen);
        train = augmented.train;
      } else {
        train = featureSource(ctx, (await cachedFeatures(ctx, m.base, ['train'], m.cut.cutLayer)).train!, true);
      }
      return {
        what: `Fine-tuning (${m.suffix.trainable.join(', ') || 'no base layer'} + head)`,
        model: m.trainable,
        numClasses,
        multiLabel: Boolean(ctx.data.multiLabel),
        train,
        owns,
      };
    }
    if (opts.mode === 'finetune' && opts.verbose) {
      ctx.log(
        `No ${optionName('from', ctx.naming)} run given: fine-tuning would first train a head on the frozen base, so this sweep is that head's. Sweep again with ${optionName('from', ctx.naming)} RUN for the fine-tuning itself.`,
      );
    }
    const base = await loadFeatureBase(ctx);
    ownBase(base);
    let train: BatchSource;
    let featureShape: number[];
    if (opts.mode === 'augment') {
      // The head's input shape from the validation features, which an augment run caches anyway.
      featureShape = (await cachedFeatures(ctx, base, ['validation'])).validation.featureShape;
      const augmented = await augmentedTraining(ctx, base, withAugmentationDefaults(opts.augmentation), 'frozenBaseSeconds');
      owns.push(augmented.frozen);
      train = augmented.train;
    } else {
      const features = (await cachedFeatures(ctx, base, ['train'])).train!;
      featureShape = features.featureShape;
      train = featureSource(ctx, features, true);
    }
    const multiLabel = Boolean(ctx.data.multiLabel);
    const models = newHead(featureShape, headSpec(opts), numClasses, opts.seed, multiLabel);
    owns.push(models.head);
    return { what: 'The head', model: models.logits, numClasses, multiLabel, train, owns };
  } catch (e) {
    await disposeAll(owns);
    throw e;
  }
}

/** Train the phase through the fit loop with the LrFinder callback (no validation), then dispose what it holds. */
async function runSweep(ctx: BuildContext, phase: SweptPhase, sweep: LrSweepOptions): Promise<{ finder: LrFinder; sweepSeconds: number }> {
  const { opts } = ctx;
  let trainer: Awaited<ReturnType<typeof engineTrainer>>;
  // The rule, decay and loss of the phase train() would run; the sweep sets the rate, not a schedule.
  const { name, weightDecay } = phaseOptimizer(opts, ctx.naming, sweep.start);
  // The model does not dispose an optimizer it was given: its slots (tfjs engine) go here.
  const optimizer = makeOptimizer({ name, learningRate: sweep.start, weightDecay });
  try {
    if (phase.train.size === 0) throw new UserError(`${opts.data} has no training images to sweep the learning rate on.`);
    compileHeadForTraining(phase.model, phase.numClasses, optimizer, opts.labelSmoothing, phase.multiLabel);
    trainer = await engineTrainer(ctx, phase.model, phase.what);
    const model = trainer ?? phase.model;
    if (opts.verbose) {
      ctx.log(
        `lr-find: ${phase.what} trains for up to ${sweep.steps} batches of ${opts.batchSize} (${phase.train.size} an epoch) with ${opts.optimizer}, the learning rate growing from ${sweep.start} to ${sweep.end}.`,
      );
    }
    let lastPrint = 0;
    const finder = new LrFinder(rateControlOf(model), {
      ...sweep,
      onStep: (step, rate, loss) => {
        const now = performance.now();
        if (!opts.verbose || (now - lastPrint < 1000 && step + 1 < sweep.steps)) return;
        lastPrint = now;
        ctx.log(`  batch ${step + 1}/${sweep.steps}: learning rate ${fmtRate(rate)}, smoothed loss ${loss.toFixed(4)}`);
      },
    });
    // No validation (fastai cancels it): an empty source.
    const none: BatchSource = { size: 0, samples: 0, batches: async function* () {} };
    const t0 = performance.now();
    await fit(model, {
      train: phase.train,
      validation: none,
      initialEpoch: 0,
      epochs: Math.ceil(sweep.steps / phase.train.size),
      callbacks: [finder],
      signal: opts.signal,
    });
    return { finder, sweepSeconds: (performance.now() - t0) / 1000 };
  } finally {
    await trainer?.dispose();
    optimizer.dispose();
    await disposeAll(phase.owns);
  }
}

/** Dispose each, newest first (a model built on another's layers goes before them). */
async function disposeAll(owns: Array<{ dispose(): unknown }>): Promise<void> {
  for (const o of [...owns].reverse()) await o.dispose();
}
