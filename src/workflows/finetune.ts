import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import * as tfl from '@tensorflow/tfjs-layers';
import { stageEndsOf } from '../applications/catalog.js';
import { hashWeights, type ConvBase } from '../applications/loadBase.js';
import { withAugmentationDefaults } from '../augment/params.js';
import { UserError } from '../errors.js';
import type { FrozenRunner } from '../features/frozenBase.js';
import { copyWeightsByName } from '../fit/assembleModel.js';
import type { BatchSource } from '../fit/batchSources.js';
import type { HeadModels } from '../fit/head.js';
import { describeLayerGroups, layerGroups, rateMultipliers, splitAtStageEnds } from '../fit/layerGroups.js';
import { buildSuffixModel, cutForUnfreeze, defaultUnfreeze, type BaseCut, type SuffixModel } from '../fit/suffixModel.js';
import { writeDirAtomic } from '../io/atomicWrite.js';
import { emptyHistory, saveHistory, type HistoryData } from '../run/history.js';
import { readMeta, type RunMeta } from '../run/meta.js';
import { runPaths } from '../run/paths.js';
import type { TrainState } from '../run/trainState.js';
import { readHistory } from '../run/runDir.js';
import { fileSystemIO } from '../weights/tfjsFiles.js';
import { cachedFeatures } from './featureCache.js';
import { headOnFeatures } from './features.js';
import { describeUnfreeze } from './fineTuneText.js';
import { fullModelSaver } from './fullModelSaver.js';
import { headSpec, newHead } from './head.js';
import { optionName } from './options.js';
import { runPhase, type PhaseOutcome } from './phase.js';
import { FINETUNE_LEARNING_RATE, fineTunePlan, recipeUnfreeze, type PhasePlan } from './recipe.js';
import { recordedOptions, RunRecords } from './records.js';
import { loadRunBase } from './runBase.js';
import { withoutTemperature } from './temperature.js';
import { augmentedTraining, featureSource } from './trainingBatches.js';
import { startRecords, type BuildContext, type WorkflowContext, type WorkflowResult } from './workflow.js';

type Phase = 'head' | 'finetune';

/**
 * Fine-tuning as fastai's fine_tune composes it: freeze (a head trained on the frozen base,
 * in this run folder, unless `from` names a run that has one), then unfreeze (the last N
 * layers of the base, default the family's last block, train with the head, over layer
 * groups when `lrMult` spreads their rates; BatchNormalization stays frozen in inference
 * mode unless `trainBn`). Each phase's epochs, optimizer and schedule come from the recipe
 * (recipe.ts: the book's RMSprop 1e-5, or fastai's one-cycles). The frozen prefix runs
 * on ONNX Runtime (its output cached on disk unless augmenting). The run holds both
 * phases' curves, fine-tuning marked, and keeps the best model over both: a fine-tuning
 * epoch replaces the head's model only when it beats it.
 */
export async function finetuneWorkflow(ctx: WorkflowContext): Promise<WorkflowResult> {
  const { opts } = ctx;
  const resumedPhase: Phase | undefined = ctx.resumed ? (ctx.resumed.meta.phase ?? 'finetune') : undefined;
  // The phase `resume` continues, with the state saved by its last whole epoch (none: it
  // starts again; stopped right after the head phase, fine-tuning starts from the head's end).
  const resumeOf = (phase: Phase) =>
    resumedPhase === phase ? { state: ctx.resumed?.state?.phase === phase ? ctx.resumed.state : undefined } : undefined;
  let records: RunRecords | undefined;
  const plan = fineTunePlan(opts, ctx.naming);

  // Fine-tuning a randomly initialised head would wreck the base's features: the head first.
  if (!opts.from && resumedPhase !== 'finetune') {
    const base = await loadRunBase(ctx);
    records = startRecords(ctx, base, 'finetune', headSpec(opts));
    if (opts.verbose && !ctx.resumed) {
      ctx.log(
        `No ${optionName('from', ctx.naming)} run given: first training a head on the frozen base (${plan.head.epochs} epoch${plan.head.epochs === 1 ? '' : 's'}), as Keras recommends before fine-tuning.`,
      );
    }
    const head = await headOnFeatures(ctx, base, records, 'head', resumeOf('head'), plan.head);
    base.model.dispose();
    if (head.interrupted) return { records, ...head };
  }
  return unfreezePhase(ctx, records, resumeOf('finetune'), plan.unfreeze);
}

/** The top of the base and the head of the source run, trained together. */
async function unfreezePhase(
  ctx: WorkflowContext,
  headRecords: RunRecords | undefined,
  resume: { state?: TrainState } | undefined,
  plan: PhasePlan,
): Promise<WorkflowResult> {
  const { opts } = ctx;
  const name = (k: string) => optionName(k, ctx.naming);
  const sourceDir = opts.from ?? opts.out;
  const source = await sourceRun(ctx, sourceDir, headRecords);

  // The source's base weights (changed by an earlier fine-tuning) and its head; a resumed run's own.
  const { base, models, cut, suffix, trainable } = await unfrozenModel(ctx, sourceDir, resume ? opts.out : sourceDir, source.meta);
  const numClasses = ctx.data.classNames.length;
  const learningRate = plan.optimizer.learningRate ?? FINETUNE_LEARNING_RATE;
  // Discriminative rates: the unfrozen layers in groups at the family's stage ends, the head last.
  const groups = layerGroups(trainable, splitAtStageEnds(cut.unfrozen, stageEndsOf(base.family)), plan.lrMult);
  if (opts.verbose) {
    ctx.log(
      describeUnfreeze({ source: base.source, unfrozen: cut.unfrozen, trainable: suffix.trainable, cutLayer: cut.cutLayer, learningRate }),
    );
    if (plan.lrMult !== 1) ctx.log(`Layer groups (${name('lrMult')} ${plan.lrMult}): ${describeLayerGroups(groups, learningRate)}.`);
  }

  const augment = opts.augment || Boolean(ctx.resumed?.meta.augmentation);
  const augmentation = augment ? withAugmentationDefaults(ctx.resumed?.meta.augmentation ?? opts.augmentation) : undefined;
  const cached = await cachedFeatures(ctx, base, augmentation ? ['validation'] : ['train', 'validation'], cut.cutLayer);
  let frozen: FrozenRunner | undefined;
  let train: BatchSource;
  if (augmentation) ({ train, frozen } = await augmentedTraining(ctx, base, augmentation, 'frozenPrefixSeconds', cut.cutLayer));
  else train = featureSource(ctx, cached.train!, true);

  const records = headRecords ?? (await recordsContinuing(ctx, source));
  const firstEpoch = resume ? (records.meta.fineTuneStartEpoch ?? 0) : records.history.epoch.length;
  records.history.fineTuneStartEpoch = firstEpoch;
  const saver = fullModelSaver(base, models.head, suffix.model);
  const outcome: PhaseOutcome = await runPhase(ctx, records, {
    name: 'finetune',
    what: `Fine-tuning (${suffix.trainable.join(', ') || 'no base layer'} + head)`,
    model: trainable,
    numClasses,
    multiLabel: Boolean(ctx.data.multiLabel),
    train,
    validation: featureSource(ctx, cached.validation, false),
    optimizer: { ...plan.optimizer, multipliers: rateMultipliers(trainable, groups) },
    firstEpoch,
    epochs: plan.epochs,
    saver,
    meta: {
      phase: 'finetune',
      fineTuneStartEpoch: firstEpoch,
      from: path.resolve(sourceDir),
      cutLayer: cut.cutLayer,
      unfrozen: cut.unfrozen,
      trainableLayers: suffix.trainable,
      ...(augmentation ? { augmentation } : {}),
    },
    resume,
    ortNote: `The unfrozen layers and the head train on ONNX Runtime (generated training graphs; ${name('engine')} tfjs trains them on tfjs).`,
    owns: [...(frozen ? [frozen] : []), trainable, saver],
  });
  return { records, ...outcome };
}

/** What fine-tuning trains, built from a run's model. */
export interface UnfrozenModel {
  base: ConvBase;
  /** The run's head (saved) and its logits (trained). */
  models: HeadModels;
  cut: BaseCut;
  suffix: SuffixModel;
  /** The unfrozen suffix -> the head's logits, one model. */
  trainable: tfl.LayersModel;
}

/**
 * The run's base with the weights of the model in `weightsDir` (that run's meta: `meta`),
 * cut where `unfreeze` says, and the unfrozen suffix + that model's head as one logits
 * model. `sourceDir` is the run that errors name.
 */
export async function unfrozenModel(ctx: BuildContext, sourceDir: string, weightsDir: string, meta: RunMeta): Promise<UnfrozenModel> {
  const { opts } = ctx;
  const name = (k: string) => optionName(k, ctx.naming);
  const base = await loadRunBase(ctx, meta.imageSize);
  const sourceModel = await tfl.loadLayersModel(fileSystemIO(runPaths(weightsDir).model));
  // Fine-tuning continues the model as it trained: a temperature folded into it comes out.
  await withoutTemperature(sourceModel, weightsDir, meta);
  copyWeightsByName(sourceModel, base.model);
  const featureShape = base.model.outputs[0].shape.slice(1) as number[];
  const models = newHead(featureShape, meta.head, ctx.data.classNames.length, opts.seed, meta.labelMode === 'multi-label');
  const missing = models.head.layers.filter((l) => l.weights.length > 0 && !sourceModel.layers.some((s) => s.name === l.name));
  if (missing.length > 0) {
    throw new UserError(
      `${name('from')} ${sourceDir}: its model has no layer ${missing[0].name}; it was not trained by tlkit with the same head options.`,
    );
  }
  copyWeightsByName(sourceModel, models.head);
  sourceModel.dispose();

  const unfreeze =
    opts.unfreeze ??
    (ctx.resumed?.meta.unfrozen?.length || undefined) ??
    (opts.recipe === 'fine-tune' ? recipeUnfreeze(base.model, base.family) : undefined) ??
    defaultUnfreeze(base.model, base.family);
  const cut = cutForUnfreeze(base.model, unfreeze, name('unfreeze'));
  // The prefix's cached output depends on the prefix's weights only (a fine-tuned source changed the suffix).
  base.weightsHash = hashWeights(base.model, (layer) => !cut.unfrozen.includes(layer));
  const suffix = buildSuffixModel(base.model, cut, { unfreezeOption: name('unfreeze'), trainBn: opts.trainBn });
  // Suffix -> head logits trains (stable cross-entropy); `models.head` (with its sigmoid/softmax) is what gets saved.
  const trainable = tfl.model({
    inputs: suffix.model.inputs,
    outputs: models.logits.apply(suffix.model.outputs[0]) as tfl.SymbolicTensor,
    name: 'finetune',
  });
  return { base, models, cut, suffix, trainable };
}

interface SourceRun {
  meta: RunMeta;
  history: HistoryData;
}

/** The run fine-tuning starts from: this folder's own head phase, a resumed run, or `from`. */
async function sourceRun(ctx: WorkflowContext, dir: string, records: RunRecords | undefined): Promise<SourceRun> {
  if (records) return { meta: records.meta, history: records.history };
  if (ctx.resumed) return { meta: ctx.resumed.meta, history: ctx.resumed.history };
  const meta = await readMeta(dir);
  if (meta.classes.join('\n') !== ctx.data.classNames.join('\n')) {
    throw new UserError(
      `${optionName('from', ctx.naming)} ${dir} was trained on classes [${meta.classes.join(', ')}], the data has [${ctx.data.classNames.join(', ')}]. Use the run trained on this data.`,
    );
  }
  return { meta, history: (await readHistory(dir)) ?? emptyHistory() };
}

/**
 * The records when fine-tuning starts from another run (or resumes): that run's best
 * model, its log and history and its best val_loss come into this folder first, so that
 * the model kept here is always the best of both phases, and a run stopped before its
 * first fine-tuning epoch resumes with the source's curve.
 */
async function recordsContinuing(ctx: WorkflowContext, source: SourceRun): Promise<RunRecords> {
  if (ctx.resumed)
    return new RunRecords(ctx.run, { ...ctx.resumed.meta, options: recordedOptions(ctx.opts), timings: ctx.timings }, source.history);
  const { opts } = ctx;
  const from = runPaths(opts.from!);
  const here = runPaths(opts.out);
  const meta: RunMeta = {
    ...source.meta,
    mode: 'finetune',
    data: path.resolve(opts.data),
    options: recordedOptions(ctx.opts),
    timings: ctx.timings,
    finished: false,
    createdAt: new Date().toISOString(),
  };
  if (path.resolve(opts.from!) !== path.resolve(opts.out)) {
    await writeDirAtomic(here.model, (tmp) => fsp.cp(from.model, tmp, { recursive: true }));
    if (existsSync(from.log)) await fsp.copyFile(from.log, here.log);
    await saveHistory(here.history, source.history);
    await ctx.run.checkpointSaved();
  }
  return new RunRecords(ctx.run, meta, source.history);
}
