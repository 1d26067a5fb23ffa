import type * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { isUserError } from '../errors.js';
import type { ConvInputGradient } from './gradientRules.js';
import { buildHeadGraphs, type HeadGraphSpec } from './headGraph.js';
import { buildModelGraphs, type ModelGraphs } from './modelGraph.js';
import { NotDifferentiable } from './notDifferentiable.js';
import type { OptimizerSpec, UpdateSite } from './trainingOps.js';
import type { TrainableHead } from './trainableHead.js';

/** Thrown when the ORT training graphs cannot express a model (a layer, op or optimizer); the caller falls back to tfjs. */
export class NotTrainableOnOrt extends Error {}

/** What the trainer runs: graphs, the tfjs variables they train, and how weights map between the two. */
export type TrainingPlan = Omit<ModelGraphs, 'dropout'> & { dropout?: ModelGraphs['dropout'] };

export function headPlan(
  model: tfl.LayersModel,
  head: TrainableHead,
  optimizer: OptimizerSpec,
  dense: HeadGraphSpec['dense'],
  update: UpdateSite,
): TrainingPlan {
  const fail = (why: string) => new NotTrainableOnOrt(`ONNX Runtime cannot train model '${model.name}' as a head: ${why}.`);
  const spec = headSpec(model, head, fail);
  const graphs = buildHeadGraphs({ ...spec, optimizer, dense, update });
  // The graph's params are the model's trainable weights, in order: the declared head must be the whole model.
  const variables = model.trainableWeights;
  const shapes = (list: Array<{ shape: unknown }>) => JSON.stringify(list.map((v) => v.shape));
  if (shapes(variables) !== shapes(graphs.params))
    throw fail(`its trainable weights ${shapes(variables)} are not those of the head it declares ${shapes(graphs.params)}`);
  const width = spec.units > 0 ? spec.units : graphs.params[0].shape[0];
  return {
    ...graphs,
    variables,
    layouts: graphs.params.map(() => undefined),
    dropout: head.dropout ? { rate: head.dropout.rate, seed: head.dropout.seed, width } : undefined,
  };
}

export function modelPlan(
  model: tfl.LayersModel,
  optimizer: OptimizerSpec,
  update: UpdateSite,
  convInputGradient?: ConvInputGradient,
): TrainingPlan {
  try {
    return buildModelGraphs(model, { optimizer, update, convInputGradient });
  } catch (e) {
    // NotDifferentiable: an op without a gradient rule; UserError: a layer the exporter cannot write.
    if (e instanceof NotDifferentiable || isUserError(e))
      throw new NotTrainableOnOrt(`ONNX Runtime cannot train model '${model.name}': ${(e as Error).message.replace(/\.$/, '')}.`);
    throw e;
  }
}

/** The head graph's spec for a declared head on `model`'s one input. */
function headSpec(
  model: tfl.LayersModel,
  head: TrainableHead,
  fail: (why: string) => Error,
): Omit<HeadGraphSpec, 'optimizer' | 'dense' | 'gradients' | 'update'> {
  if (model.inputs.length !== 1 || model.outputs.length !== 1) throw fail('it has several inputs or outputs');
  const featureShape = model.inputs[0].shape.slice(1);
  if (featureShape.some((d) => d === null)) throw fail(`its input shape ${JSON.stringify(model.inputs[0].shape)} is not fixed`);
  if (featureShape.length > 1 && head.pooling === 'none') throw fail('its features are not pooled or flattened');
  if (head.dropout && !(head.dropout.rate > 0 && head.dropout.rate < 1))
    throw fail(`its dropout rate ${head.dropout.rate} is not in (0, 1)`);
  return {
    featureShape: featureShape as number[],
    pooling: head.pooling,
    units: head.hidden ? head.hidden.units : 0,
    hiddenActivation: head.hidden?.activation === 'linear' ? 'linear' : 'relu',
    dropout: head.dropout !== undefined,
    outputs: head.output.units,
  };
}

/** The update rule of a compiled tfjs optimizer: KerasRMSprop, tfjs Adam, tfjs SGD. */
export function optimizerSpec(optimizer: tf.Optimizer | undefined): OptimizerSpec {
  if (!optimizer) throw new NotTrainableOnOrt('ONNX Runtime training needs a compiled model (no optimizer).');
  const cls = optimizer.getClassName();
  const cfg = optimizer.getConfig() as Record<string, number>;
  if (cls === 'KerasRMSprop') return { kind: 'rmsprop', learningRate: cfg.learningRate, rho: cfg.decay, epsilon: cfg.epsilon };
  if (cls === 'Adam') return { kind: 'adam', learningRate: cfg.learningRate, beta1: cfg.beta1, beta2: cfg.beta2, epsilon: cfg.epsilon };
  if (cls === 'SGD') return { kind: 'sgd', learningRate: cfg.learningRate };
  throw new NotTrainableOnOrt(`ONNX Runtime training has no update rule for optimizer ${cls} (it has KerasRMSprop, Adam and SGD).`);
}
