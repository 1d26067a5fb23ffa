import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import * as tfl from '@tensorflow/tfjs-layers';
import { UserError } from '../errors.js';
import { hashWeights } from '../applications/loadBase.js';
import { withAugmentationDefaults } from '../augment/params.js';
import type { FrozenRunner } from '../features/frozenBase.js';
import { featureBatches, type BatchSource } from '../fit/batchSources.js';
import type { FitLoop } from '../fit/fitLoop.js';
import { buildHeadForTraining, compileHeadForTraining } from '../fit/head.js';
import { makeOptimizer } from '../fit/optimizer.js';
import { buildSuffixModel, cutForUnfreeze, defaultUnfreeze } from '../fit/suffixModel.js';
import { writeDirAtomic } from '../io/atomicWrite.js';
import { emptyHistory, type HistoryData } from '../run/history.js';
import { readMeta, type RunMeta } from '../run/meta.js';
import { runPaths } from '../run/paths.js';
import { readHistory } from '../run/runDir.js';
import { fileSystemIO } from '../weights/tfjsFiles.js';
import { augmentedTraining, cachedFeatures, copyWeightsByName, engineTrainer, headOptions, headSpec, recordedOptions, loadRunBase, newFitLoop, runMeta, fullModelSaver, type WorkflowContext, type WorkflowResult } from './context.js';
import { trainHeadOnFeatures } from './features.js';

/** The book's fine-tuning learning rate (RMSprop). */
export const FINETUNE_LEARNING_RATE = 1e-5;

/**
 * The book's fine-tuning: unfreeze the last N layers of the base (default: the
 * family's last block), keep BatchNormalization frozen in inference mode, recompile
 * with RMSprop 1e-5 and continue from the head of `from` (or, without it, train a
 * head first in this run folder, as Keras recommends). The frozen prefix runs on ONNX
 * Runtime (its output cached on disk unless augmenting); the suffix and the head
 * train. The run holds both phases' curves, fine-tuning marked, and keeps the best
 * model over both: a fine-tuning epoch replaces the head's model only when it beats it.
 */
export async function finetuneWorkflow(ctx: WorkflowContext): Promise<WorkflowResult> {
  const { opts } = ctx;
  const resumedPhase = ctx.resumed ? (ctx.resumed.meta.phase ?? 'finetune') : undefined;
  // The saved state belongs to the phase that last finished an epoch (stopped right after
  // the head phase, the fine-tuning phase starts afresh from the head's end).
  const stateFor = (phase: string) => (ctx.resumed?.state?.phase === phase ? ctx.resumed.state : undefined);
  let loop: FitLoop | undefined;

  // Phase 1: the head. Fine-tuning a randomly initialised head would wreck the base's features.
  if (!opts.from && resumedPhase !== 'finetune') {
    const base = await loadRunBase(ctx);
    loop = newFitLoop(ctx, { ...runMeta(ctx, base, 'finetune', headSpec(opts)), phase: 'head' });
    if (opts.verbose && !ctx.resumed) ctx.log(`No --from run given: first training a head on the frozen base (${opts.epochs} epochs), as Keras recommends before fine-tuning.`);
    const head = await trainHeadOnFeatures(ctx, base, loop, 'head', stateFor('head'));
    base.model.dispose();
    if (head.interrupted) return { loop, ...head };
  }
  const sourceDir = opts.from ?? opts.out;
  const source = await sourceRun(ctx, sourceDir, loop);

  const base = await loadRunBase(ctx, source.meta.imageSize);
  // The source's base weights (changed by an earlier fine-tuning) and its head; a resumed run's own.
  const sourceModel = await tfl.loadLayersModel(fileSystemIO(runPaths(resumedPhase === 'finetune' ? opts.out : sourceDir).model));
  copyWeightsByName(sourceModel, base.model);
  const numClasses = ctx.data.classNames.length;
  const featureShape = base.model.outputs[0].shape.slice(1) as number[];
  const models = buildHeadForTraining(featureShape, headOptions(source.meta.head, numClasses, opts.seed));
  const missing = models.head.layers.filter((l) => l.weights.length > 0 && !sourceModel.layers.some((s) => s.name === l.name));
  if (missing.length > 0) {
    throw new UserError(`--from ${sourceDir}: its model has no layer ${missing[0].name}; it was not trained by tlkit with the same head options.`);
  }
  copyWeightsByName(sourceModel, models.head);
  sourceModel.dispose();

  // Phase 2: cut the base; suffix + head train together.
  const unfreeze = opts.unfreeze ?? (ctx.resumed?.meta.unfrozen?.length || undefined) ?? defaultUnfreeze(base.model, base.family);
  const cut = cutForUnfreeze(base.model, unfreeze);
  // The prefix's cached output depends on the prefix's weights only (a fine-tuned source changed the suffix).
  base.weightsHash = hashWeights(base.model, (name) => !cut.unfrozen.includes(name));
  const suffix = buildSuffixModel(base.model, cut);
  // Suffix -> head logits trains (stable cross-entropy); `models.head` (with its sigmoid/softmax) is what gets saved.
  const trainable = tfl.model({ inputs: suffix.model.inputs, outputs: models.logits.apply(suffix.model.outputs[0]) as tfl.SymbolicTensor, name: 'finetune' });
  const learningRate = opts.learningRate ?? FINETUNE_LEARNING_RATE;
  compileHeadForTraining(trainable, numClasses, makeOptimizer(opts.optimizer, learningRate));
  const frozenInSuffix = cut.unfrozen.filter((n) => !suffix.trainable.includes(n));
  if (opts.verbose) {
    ctx.log(
      `Fine-tuning ${cut.unfrozen.length} layers of ${base.source} (${cut.unfrozen.join(', ')}); trainable: ${suffix.trainable.join(', ') || 'none'} + head` +
        `${frozenInSuffix.length ? ` (${frozenInSuffix.join(', ')}: no trainable weights${frozenInSuffix.some((n) => /bn|batch/i.test(n)) ? '; BatchNormalization stays frozen, in inference mode' : ''})` : ''}. ` +
        `Frozen prefix up to ${cut.cutLayer} on ONNX Runtime; learning rate ${learningRate}.`,
    );
  }

  const augment = opts.augment || Boolean(ctx.resumed?.meta.augmentation);
  const augmentation = augment ? withAugmentationDefaults(ctx.resumed?.meta.augmentation ?? opts.augmentation) : undefined;
  const cached = await cachedFeatures(ctx, base, augmentation ? ['validation'] : ['train', 'validation'], cut.cutLayer);
  let frozen: FrozenRunner | undefined;
  let train: BatchSource;
  if (augmentation) {
    ({ train, frozen } = await augmentedTraining(ctx, base, augmentation, 'frozenPrefixSeconds', cut.cutLayer));
  } else {
    train = featureBatches(cached.train!, { batchSize: opts.batchSize, numClasses, seed: opts.seed, shuffle: true });
  }

  const trainer = await engineTrainer(ctx, trainable, `Fine-tuning (${suffix.trainable.join(', ') || 'no base layer'} + head)`);
  if (trainer && opts.verbose) ctx.log('The unfrozen layers and the head train on ONNX Runtime (generated training graphs; --engine tfjs trains them on tfjs).');
  loop ??= await loopContinuing(ctx, source);
  const firstEpoch = resumedPhase === 'finetune' ? (loop.meta.fineTuneStartEpoch ?? 0) : loop.history.epoch.length;
  loop.history.fineTuneStartEpoch = firstEpoch;
  const saver = fullModelSaver(base, models.head, suffix.model);
  try {
    const outcome = await loop.fitPhase(
      {
        name: 'finetune',
        model: trainer ?? trainable,
        train,
        validation: featureBatches(cached.validation, { batchSize: opts.batchSize, numClasses, seed: opts.seed, shuffle: false }),
        saveFull: (dir) => saver.save(dir),
        firstEpoch,
        epochs: opts.epochs,
        meta: {
          phase: 'finetune',
          fineTuneStartEpoch: firstEpoch,
          from: path.resolve(sourceDir),
          cutLayer: cut.cutLayer,
          unfrozen: cut.unfrozen,
          trainableLayers: suffix.trainable,
          ...(augmentation ? { augmentation } : {}),
        },
      },
      stateFor('finetune'),
    );
    return { loop, ...outcome };
  } finally {
    await frozen?.dispose();
    await trainer?.dispose();
    trainable.dispose();
    saver.dispose();
  }
}

interface SourceRun {
  meta: RunMeta;
  history: HistoryData;
}

/** The run fine-tuning starts from: this folder's own head phase, a resumed run, or `--from`. */
async function sourceRun(ctx: WorkflowContext, dir: string, loop: FitLoop | undefined): Promise<SourceRun> {
  if (loop) return { meta: loop.meta, history: loop.history };
  if (ctx.resumed) return { meta: ctx.resumed.meta, history: ctx.resumed.history };
  const meta = await readMeta(dir);
  if (meta.classes.join('\n') !== ctx.data.classNames.join('\n')) {
    throw new UserError(`--from ${dir} was trained on classes [${meta.classes.join(', ')}], the data has [${ctx.data.classNames.join(', ')}]. Use the run trained on this data.`);
  }
  return { meta, history: (await readHistory(dir)) ?? emptyHistory() };
}

/**
 * The fit loop when fine-tuning starts from another run (or resumes): that run's best
 * model, its curves and its best val_loss come into this folder first, so that the
 * model kept here is always the best of both phases.
 */
async function loopContinuing(ctx: WorkflowContext, source: SourceRun): Promise<FitLoop> {
  if (ctx.resumed) return newFitLoop(ctx, { ...ctx.resumed.meta, options: recordedOptions(ctx.opts), timings: ctx.timings });
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
    await ctx.run.checkpointSaved();
  }
  return newFitLoop(ctx, meta, source.history);
}
