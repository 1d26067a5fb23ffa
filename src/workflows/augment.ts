import { withAugmentationDefaults } from '../augment/params.js';
import { featureBatches } from '../fit/batchSources.js';
import { buildHeadForTraining, compileHeadForTraining } from '../fit/head.js';
import { makeOptimizer } from '../fit/optimizer.js';
import { augmentedTraining, cachedFeatures, engineTrainer, fullModelSaver, headOptions, headSpec, loadFeatureBase, newFitLoop, runMeta, type WorkflowContext, type WorkflowResult } from './context.js';

/**
 * The book's "feature extraction together with data augmentation":
 * augmentation -> preprocess -> frozen base -> head, trained end to end. The frozen
 * base runs on ONNX Runtime batch by batch after the augmentation, so only the head
 * trains. Validation features (no augmentation) come from the features cache. The
 * saved model is preprocess + base + head: augmentation is inactive at inference.
 */
export async function augmentWorkflow(ctx: WorkflowContext): Promise<WorkflowResult> {
  const { opts } = ctx;
  const augmentation = withAugmentationDefaults(ctx.resumed?.meta.augmentation ?? opts.augmentation);
  const base = await loadFeatureBase(ctx);
  const numClasses = ctx.data.classNames.length;
  const loop = newFitLoop(ctx, runMeta(ctx, base, 'augment', headSpec(opts)));
  const { validation } = await cachedFeatures(ctx, base, ['validation']);
  const { train, frozen } = await augmentedTraining(ctx, base, augmentation, 'frozenBaseSeconds');
  // Trained on logits (stable cross-entropy, as Keras does); saved with its sigmoid/softmax.
  const models = buildHeadForTraining(validation.featureShape, headOptions(loop.meta.head, numClasses, opts.seed));
  compileHeadForTraining(models.logits, numClasses, makeOptimizer(opts.optimizer, opts.learningRate));
  const trainer = await engineTrainer(ctx, models.logits, 'The head');
  if (opts.verbose) {
    ctx.log(`Training the head on augmented images (flip ${augmentation.flip}, rotation ${augmentation.rotation}, zoom ${augmentation.zoom}); the frozen base runs on ONNX Runtime for every batch.`);
  }
  const saver = fullModelSaver(base, models.head);
  try {
    const outcome = await loop.fitPhase(
      {
        name: 'augment',
        model: trainer ?? models.logits,
        train,
        validation: featureBatches(validation, { batchSize: opts.batchSize, numClasses, seed: opts.seed, shuffle: false }),
        saveFull: (dir) => saver.save(dir),
        firstEpoch: 0,
        epochs: opts.epochs,
        meta: { augmentation },
      },
      ctx.resumed?.state,
    );
    return { loop, ...outcome };
  } finally {
    await frozen.dispose();
    await trainer?.dispose();
    models.head.dispose();
    saver.dispose();
  }
}
