import type { FeatureBase } from '../features/frozenBase.js';
import type { TrainState } from '../run/trainState.js';
import { cachedFeatures } from './featureCache.js';
import { fullModelSaver } from './fullModelSaver.js';
import { headSpec, newHead } from './head.js';
import { runPhase, type PhaseDescription, type PhaseOutcome } from './phase.js';
import { phaseOptimizer } from './scheduleOptions.js';
import type { RunRecords } from './records.js';
import { loadFeatureBase } from './runBase.js';
import { featureSource } from './trainingBatches.js';
import { startRecords, type WorkflowContext, type WorkflowResult } from './workflow.js';

/**
 * The book's fast feature extraction: the frozen base runs once over train and
 * validation on ONNX Runtime (cached on disk), then the head trains on the features.
 */
export async function featuresWorkflow(ctx: WorkflowContext): Promise<WorkflowResult> {
  const base = await loadFeatureBase(ctx);
  const records = startRecords(ctx, base, 'features', headSpec(ctx.opts));
  const outcome = await headOnFeatures(ctx, base, records, 'features', ctx.resumed ? { state: ctx.resumed.state } : undefined);
  return { records, ...outcome };
}

/** The phase that trains a fresh head on cached features of `base` (features mode, and finetune's first phase). */
export async function headOnFeatures(
  ctx: WorkflowContext,
  base: FeatureBase,
  records: RunRecords,
  name: 'features' | 'head',
  resume?: { state?: TrainState },
  // Finetune's head phase: its epochs and optimizer as the recipe sets them (recipe.ts).
  plan?: Pick<PhaseDescription, 'epochs' | 'optimizer'>,
): Promise<PhaseOutcome> {
  const { opts } = ctx;
  const numClasses = ctx.data.classNames.length;
  const { train, validation } = await cachedFeatures(ctx, base, ['train', 'validation']);
  const multiLabel = Boolean(ctx.data.multiLabel);
  const models = newHead(validation.featureShape, records.meta.head, numClasses, opts.seed, multiLabel);
  const saver = fullModelSaver(base, models.head);
  return runPhase(ctx, records, {
    name,
    what: 'The head',
    model: models.logits,
    numClasses,
    multiLabel,
    train: featureSource(ctx, train!, true),
    validation: featureSource(ctx, validation, false),
    optimizer: plan?.optimizer ?? phaseOptimizer(opts, ctx.naming, opts.learningRate),
    firstEpoch: 0,
    epochs: plan?.epochs ?? opts.epochs,
    saver,
    // Finetune's head phase: meta.json says so, so that resume continues the right phase.
    meta: name === 'head' ? { phase: 'head' } : undefined,
    resume,
    owns: [models.head, saver],
  });
}
