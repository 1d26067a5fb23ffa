import type { FeatureBase } from '../features/frozenBase.js';
import { featureBatches } from '../fit/batchSources.js';
import type { FitLoop, PhaseOutcome } from '../fit/fitLoop.js';
import { buildHeadForTraining, compileHeadForTraining } from '../fit/head.js';
import { makeOptimizer } from '../fit/optimizer.js';
import { NotTrainableOnOrt, OrtHeadTrainer } from '../engine/training/ortHead.js';
import type { TrainState } from '../run/trainState.js';
import { cachedFeatures, headOptions, headSpec, loadFeatureBase, newFitLoop, runMeta, saveFullModel, type WorkflowContext, type WorkflowResult } from './context.js';

/**
 * The book's fast feature extraction: the frozen base runs once over train and
 * validation on ONNX Runtime (cached on disk), then the head trains on the features.
 */
export async function featuresWorkflow(ctx: WorkflowContext): Promise<WorkflowResult> {
  const base = await loadFeatureBase(ctx);
  const loop = newFitLoop(ctx, runMeta(ctx, base, 'features', headSpec(ctx.opts)));
  const outcome = await trainHeadOnFeatures(ctx, base, loop, 'features', ctx.resumed?.state);
  return { loop, ...outcome };
}

/** Train the head on cached features of `base` (features mode, and finetune's first phase). */
export async function trainHeadOnFeatures(ctx: WorkflowContext, base: FeatureBase, loop: FitLoop, phase: string, resume?: TrainState): Promise<PhaseOutcome> {
  const { opts } = ctx;
  const numClasses = ctx.data.classNames.length;
  const { train, validation } = await cachedFeatures(ctx, base, ['train', 'validation']);
  const models = buildHeadForTraining(validation.featureShape, headOptions(loop.meta.head, numClasses, opts.seed));
  compileHeadForTraining(models.logits, numClasses, makeOptimizer(opts.optimizer, opts.learningRate));
  const trainer = opts.engine === 'ort' ? await ortTrainer(ctx, models.logits) : undefined;
  try {
    return await loop.fitPhase(
      {
        name: phase,
        model: trainer ?? models.logits,
        train: featureBatches(train!, { batchSize: opts.batchSize, numClasses, seed: opts.seed, shuffle: true }),
        validation: featureBatches(validation, { batchSize: opts.batchSize, numClasses, seed: opts.seed, shuffle: false }),
        saveFull: (dir) => saveFullModel(base, models.head, dir),
        firstEpoch: 0,
        epochs: opts.epochs,
      },
      resume,
    );
  } finally {
    await trainer?.dispose();
    models.head.dispose();
  }
}

/** The head's trainer on ONNX Runtime, or undefined (tfjs trains it) when its graphs cannot express this head; said once. */
async function ortTrainer(ctx: WorkflowContext, logits: Parameters<typeof OrtHeadTrainer.create>[0]): Promise<OrtHeadTrainer | undefined> {
  try {
    return await OrtHeadTrainer.create(logits);
  } catch (e) {
    if (!(e instanceof NotTrainableOnOrt)) throw e;
    ctx.log(`${e.message} The head trains on tfjs instead.`);
    return undefined;
  }
}
