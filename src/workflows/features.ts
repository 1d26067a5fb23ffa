import type { FeatureBase } from '../features/frozenBase.js';
import { featureBatches } from '../fit/batchSources.js';
import type { FitLoop, PhaseOutcome } from '../fit/fitLoop.js';
import { buildHeadForTraining, compileHeadForTraining } from '../fit/head.js';
import { makeOptimizer } from '../fit/optimizer.js';
import type { TrainState } from '../run/trainState.js';
import { cachedFeatures, engineTrainer, fullModelSaver, headOptions, headSpec, loadFeatureBase, newFitLoop, runMeta, type WorkflowContext, type WorkflowResult } from './context.js';

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
  const trainer = await engineTrainer(ctx, models.logits, 'The head');
  const saver = fullModelSaver(base, models.head);
  try {
    return await loop.fitPhase(
      {
        name: phase,
        model: trainer ?? models.logits,
        train: featureBatches(train!, { batchSize: opts.batchSize, numClasses, seed: opts.seed, shuffle: true }),
        validation: featureBatches(validation, { batchSize: opts.batchSize, numClasses, seed: opts.seed, shuffle: false }),
        saveFull: (dir) => saver.save(dir),
        firstEpoch: 0,
        epochs: opts.epochs,
      },
      resume,
    );
  } finally {
    await trainer?.dispose();
    models.head.dispose();
    saver.dispose();
  }
}
