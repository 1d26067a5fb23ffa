import type * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { isUserError } from '../errors.js';
import type { ConvInputGradient } from './gradientRules.js';
import { buildHeadGraphs, outerGradientFits, type HeadGraphs, type HeadGraphSpec } from './headGraph.js';
import { OUTER_COLUMNS } from './outerProductKernels.js';
import { buildModelGraphs, type ModelGraphs } from './modelGraph.js';
import { NotDifferentiable } from './notDifferentiable.js';
import type { OptimizerSpec, UpdateSite } from './trainingOps.js';
import type { TrainableHead } from './trainableHead.js';

/** Thrown when the ORT training graphs cannot express a model (a layer, op or optimizer); the caller falls back to tfjs. */
export class NotTrainableOnOrt extends Error {}

/** What the trainer runs: graphs, the tfjs variables they train, and how weights map between the two. */
export type TrainingPlan = Omit<ModelGraphs, 'dropout'> & { dropout?: ModelGraphs['dropout']; outer?: HeadGraphs['outer'] };

/** What every plan is built with besides the model. */
export interface PlanOptions {
  optimizer: OptimizerSpec;
  update: UpdateSite;
  /** Keras's label smoothing of the loss (0: none). */
  labelSmoothing: number;
  /** Sigmoid units against multi-hot targets (binary cross-entropy over every output). */
  multiLabel?: boolean;
  /** Head graphs with a host update: form the hidden kernel's gradient in the update where the head allows (HeadGraphSpec.outerKernelGradient). */
  outerGradient?: boolean;
}

export function headPlan(
  model: tfl.LayersModel,
  head: TrainableHead,
  dense: HeadGraphSpec['dense'],
  { optimizer, update, labelSmoothing, multiLabel, outerGradient }: PlanOptions,
): TrainingPlan {
  const fail = (why: string) => new NotTrainableOnOrt(`ONNX Runtime cannot train model '${model.name}' as a head: ${why}.`);
  const spec = headSpec(model, head, fail);
  const outerKernelGradient = outerGradient === true && update === 'host' && outerGradientFits(spec, OUTER_COLUMNS);
  const graphs = buildHeadGraphs({ ...spec, optimizer, dense, update, labelSmoothing, multiLabel, outerKernelGradient });
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

export function modelPlan(model: tfl.LayersModel, plan: PlanOptions, convInputGradient?: ConvInputGradient): TrainingPlan {
  try {
    return buildModelGraphs(model, { ...plan, convInputGradient });
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
): Omit<HeadGraphSpec, 'optimizer' | 'dense' | 'gradients' | 'update' | 'labelSmoothing' | 'multiLabel'> {
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

/**
 * The update rule of a compiled tfjs optimizer: tlkit's (getConfig() is an OptimizerConfig,
 * fit/optimizerConfig.ts: kind rmsprop | adam | adamw | sgd) or the classes tlkit used before
 * (KerasRMSprop with `decay`, tfjs's Adam and SGD).
 */
export function optimizerSpec(optimizer: tf.Optimizer | undefined): OptimizerSpec {
  if (!optimizer) throw new NotTrainableOnOrt('ONNX Runtime training needs a compiled model (no optimizer).');
  const cls = optimizer.getClassName();
  const cfg = optimizer.getConfig() as Record<string, unknown>;
  if (typeof cfg.kind === 'string') return fromOptimizerConfig(cls, cfg);
  const n = (k: string) => cfg[k] as number;
  if (cls === 'KerasRMSprop') return { kind: 'rmsprop', learningRate: n('learningRate'), rho: n('decay'), epsilon: n('epsilon') };
  if (cls === 'Adam') return { kind: 'adam', learningRate: n('learningRate'), beta1: n('beta1'), beta2: n('beta2'), epsilon: n('epsilon') };
  if (cls === 'SGD') return { kind: 'sgd', learningRate: n('learningRate') };
  throw new NotTrainableOnOrt(`ONNX Runtime training has no update rule for optimizer ${cls} (it has RMSprop, Adam, AdamW and SGD).`);
}

function fromOptimizerConfig(cls: string, cfg: Record<string, unknown>): OptimizerSpec {
  const kind = cfg.kind as string;
  const number = (k: string): number => {
    const v = cfg[k];
    if (typeof v !== 'number' || !Number.isFinite(v))
      throw new NotTrainableOnOrt(`ONNX Runtime training cannot read optimizer ${cls}'s config: its ${kind} ${k} is ${String(v)}.`);
    return v;
  };
  const multipliers = (cfg.multipliers ?? {}) as Record<string, number>;
  const common = { learningRate: number('learningRate'), multipliers };
  switch (kind) {
    case 'rmsprop':
      return { kind, ...common, rho: number('rho'), epsilon: number('epsilon') };
    case 'adam':
      return { kind, ...common, beta1: number('beta1'), beta2: number('beta2'), epsilon: number('epsilon') };
    case 'adamw':
      return {
        kind,
        ...common,
        beta1: number('beta1'),
        beta2: number('beta2'),
        epsilon: number('epsilon'),
        weightDecay: number('weightDecay'),
      };
    case 'sgd':
      return { kind, ...common };
    default:
      throw new NotTrainableOnOrt(
        `ONNX Runtime training has no update rule for optimizer ${cls} of kind ${kind} (it has rmsprop, adam, adamw and sgd).`,
      );
  }
}

/**
 * Each trained variable's rate multiplier, in the plan's order (1 where the config names none).
 * A name that is no trained variable is refused, as the tfjs optimizer refuses it.
 */
export function planMultipliers(plan: TrainingPlan, spec: OptimizerSpec): number[] {
  const given = spec.multipliers ?? {};
  const names = plan.variables.map((v) => v.name);
  const unknown = Object.keys(given).filter((n) => !names.includes(n));
  if (unknown.length > 0)
    throw new Error(
      `Rate multipliers were given for ${unknown.join(', ')}, which the model does not train (it trains ${names.join(', ')}).`,
    );
  return names.map((n) => given[n] ?? 1);
}

/**
 * Where a multi-label loss hands each batch's targets and logits (row-major n x k) as it
 * trains or evaluates on either engine, so that an epoch's mAP needs no pass of its own.
 * The listener must copy what it keeps: the arrays are reused.
 */
export interface LogitsTap {
  listener?: (targets: Float32Array, logits: Float32Array) => void;
}

/** The logits tap a compiled loss carries (fit/head.ts's multi-label HeadLoss), if any. */
export function logitsTapOf(model: tfl.LayersModel): LogitsTap | undefined {
  return (model.loss as unknown as { logitsTap?: LogitsTap } | undefined)?.logitsTap;
}

/** Whether the compiled loss is multi-label (fit/head.ts's HeadLoss says so): sigmoid cross-entropy over k units. */
export function multiLabelFor(model: tfl.LayersModel): boolean {
  return (model.loss as unknown as { multiLabel?: unknown } | undefined)?.multiLabel === true;
}

/** The label smoothing to train with: the option, which must agree with the compiled loss's own when it carries one. */
export function labelSmoothingFor(model: tfl.LayersModel, option: number | undefined): number {
  const compiled = (model.loss as unknown as { labelSmoothing?: unknown } | undefined)?.labelSmoothing;
  const fromLoss = typeof compiled === 'number' ? compiled : undefined;
  if (option !== undefined && fromLoss !== undefined && option !== fromLoss)
    throw new Error(`OrtTrainer: labelSmoothing ${option} differs from the ${fromLoss} model '${model.name}' was compiled with.`);
  const ls = option ?? fromLoss ?? 0;
  if (!(ls >= 0 && ls < 1)) throw new RangeError(`OrtTrainer: labelSmoothing must be in [0, 1), got ${ls}.`);
  return ls;
}
