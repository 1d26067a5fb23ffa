import { withAugmentationDefaults } from '../augment/params.js';
import { cachedFeatures } from './featureCache.js';
import { fullModelSaver } from './fullModelSaver.js';
import { headSpec, newHead } from './head.js';
import { runPhase } from './phase.js';
import { phaseOptimizer } from './scheduleOptions.js';
import { loadFeatureBase } from './runBase.js';
import { augmentedTraining, featureSource } from './trainingBatches.js';
import { startRecords, type WorkflowContext, type WorkflowResult } from './workflow.js';

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
  const records = startRecords(ctx, base, 'augment', headSpec(opts));
  const { validation } = await cachedFeatures(ctx, base, ['validation']);
  const { train, frozen } = await augmentedTraining(ctx, base, augmentation, 'frozenBaseSeconds');
  const multiLabel = Boolean(ctx.data.multiLabel);
  const models = newHead(validation.featureShape, records.meta.head, numClasses, opts.seed, multiLabel);
  if (opts.verbose) {
    ctx.log(
      `Training the head on augmented images (flip ${augmentation.flip}, rotation ${augmentation.rotation}, zoom ${augmentation.zoom}); the frozen base runs on ONNX Runtime for every batch.`,
    );
  }
  const saver = fullModelSaver(base, models.head);
  const outcome = await runPhase(ctx, records, {
    name: 'augment',
    what: 'The head',
    model: models.logits,
    numClasses,
    multiLabel,
    train,
    validation: featureSource(ctx, validation, false),
    optimizer: phaseOptimizer(opts, ctx.naming, opts.learningRate),
    firstEpoch: 0,
    epochs: opts.epochs,
    saver,
    meta: { augmentation },
    resume: ctx.resumed ? { state: ctx.resumed.state } : undefined,
    owns: [frozen, models.head, saver],
  });
  return { records, ...outcome };
}
