import type * as tfl from '@tensorflow/tfjs-layers';
import { depthwiseToOihw, kernelToOihw } from '../onnx/converters/conv.js';
import { configOf, one, type Converter, type Layer } from '../onnx/converters/types.js';
import { emitModel } from '../onnx/export.js';
import { GraphBuilder } from '../onnx/graphBuilder.js';
import { makeValueInfo, type ITensorProto } from '../onnx/proto.js';
import { emitBackward } from './autodiff.js';
import { batchNormForTraining, movingStatisticNames, trainsBatchNorm, type TrainingBatchNorm } from './batchNormTraining.js';
import type { ConvInputGradient } from './gradientRules.js';
import { constantData } from './nodeAttributes.js';
import { NotDifferentiable } from './notDifferentiable.js';
import { inferShapes, type Shape } from './shapeInference.js';
import {
  emitLossAndAccuracy,
  encodeEvaluation,
  encodeTrainStep,
  INPUT,
  optimizerState,
  OUTPUT,
  reserveTrainingNames,
  type GraphTensor,
  type OptimizerSpec,
  type UpdateSite,
} from './trainingOps.js';

/**
 * Training graphs for any model the ONNX exporter can write and autodiff.ts can
 * differentiate: the unfrozen top of a conv base plus the head (fine-tuning). The
 * forward pass is the exporter's own graph, with the trainable weights turned from
 * constants into graph inputs; the backward pass is generated; the loss and the
 * optimizer's update are those of every training graph (trainingOps.ts).
 *
 * Weights live in the graph in ONNX's layout (conv kernels OIHW); `layouts` maps
 * them to and from the tfjs variables' layout, which is only needed when weights
 * cross over (start, checkpoints, resume): the updates are elementwise.
 */

type LayerVariable = tfl.LayersModel['trainableWeights'][number];

/** Where each element of a parameter's ONNX tensor comes from in the tfjs variable (undefined: the same order). */
export type ParamLayout = Uint32Array | undefined;

export interface ModelGraphs {
  params: GraphTensor[];
  state: GraphTensor[];
  /** The tfjs variables, in the order of `params`. */
  variables: LayerVariable[];
  layouts: ParamLayout[];
  update: UpdateSite;
  /** The dropout mask input (`mask`, [N, width]), when the model has a dropout layer with rate > 0. */
  dropout?: { rate: number; seed: number; width: number };
  /**
   * BatchNormalization layers that train (batchNormTraining.ts): the training graph outputs
   * their batch statistics; the evaluation graph takes their moving statistics as inputs
   * (movingStatisticNames), in this order.
   */
  batchNorms?: TrainingBatchNorm[];
  train: Uint8Array;
  evaluate: Uint8Array;
}

export interface ModelGraphOptions {
  optimizer: OptimizerSpec;
  /** Keras's label smoothing of the loss (0: none). */
  labelSmoothing?: number;
  /** The logits are independent sigmoid units against multi-hot targets (binary cross-entropy). */
  multiLabel?: boolean;
  /** Also output each gradient as `gradientOutput(param)` (tests). */
  gradients?: boolean;
  /** Where the optimizer runs (default 'graph'). */
  update?: UpdateSite;
  /** How stride-1 convolutions' input gradients are written (gradientRules.ts; default 'transpose'). */
  convInputGradient?: ConvInputGradient;
}

/** Training graphs use ScatterElements with reduction (opset 16). */
const TRAINING_OPSET = 17;

function isModel(layer: Layer): layer is tfl.LayersModel {
  return Array.isArray((layer as unknown as { layers?: unknown }).layers);
}

/** The model's layers, those of nested models in their place (not the nested models themselves). */
function leafLayers(model: tfl.LayersModel): Layer[] {
  return model.layers.flatMap((l) => (isModel(l) ? leafLayers(l) : [l]));
}

/** The order of a permutation applied by `transform` (exact for tensors under 2^24 elements, as float32 holds those integers). */
function permutationOf(size: number, transform: (data: Float32Array) => Float32Array): Uint32Array {
  const ramp = Float32Array.from({ length: size }, (_, i) => i);
  return Uint32Array.from(transform(ramp));
}

interface Forward {
  b: GraphBuilder;
  logits: string;
  params: GraphTensor[];
  variables: LayerVariable[];
  layouts: ParamLayout[];
  constants: Map<string, ITensorProto>;
  dropout?: ModelGraphs['dropout'];
  batchNorms: TrainingBatchNorm[];
  /** Evaluation: the moving statistics of the BatchNormalization layers that train, as inputs. */
  statistics: GraphTensor[];
}

/** The model's forward graph into a fresh builder, trainable weights as inputs. */
function forward(model: tfl.LayersModel, training: boolean): Forward {
  const b = new GraphBuilder();
  for (const n of [...Object.values(INPUT), ...Object.values(OUTPUT)]) b.reserve(n);
  let dropout: Forward['dropout'];
  // Dropout: identity when evaluating; when training, a multiplication by a mask that tlkit's seeded Rng draws (0 or 1/keep), fed each step.
  const maskedDropout: Converter = (gb, layer, inputs) => {
    const x = one(inputs, layer);
    const cfg = configOf(layer);
    const rate = Number(cfg.rate ?? 0);
    if (!training || rate <= 0) return [x];
    if (dropout) throw new NotDifferentiable(`a second dropout layer (${layer.name}): the graph has one mask input`);
    const v = gb.asKeras(x);
    if (v.shape.length !== 2 || v.shape[1] === null)
      throw new NotDifferentiable(`dropout ${layer.name} on a rank-${v.shape.length} tensor`);
    dropout = { rate, seed: Number(cfg.seed ?? 0), width: v.shape[1] };
    return [{ ...v, name: gb.op('Mul', [v.name, INPUT.mask], `${layer.name}/mask`) }];
  };
  const batchNorms: TrainingBatchNorm[] = [];
  const overrides: Record<string, Converter> = {
    SeededDropout: maskedDropout,
    Dropout: maskedDropout,
    ...(training ? { BatchNormalization: batchNormForTraining((bn) => batchNorms.push(bn)) } : {}),
  };
  if (model.inputs.length !== 1 || model.outputs.length !== 1)
    throw new NotDifferentiable(`model ${model.name} has several inputs or outputs`);
  const out = b.asKeras(emitModel(b, model, { name: INPUT.x, shape: model.inputs[0].shape, nchw: false }, overrides));
  if (out.shape.length !== 2) throw new NotDifferentiable(`model ${model.name} outputs a rank-${out.shape.length} tensor, not logits`);

  const byName = new Map(b.initializers.map((t) => [t.name as string, t]));
  const owner = new Map<LayerVariable, Layer>();
  for (const layer of leafLayers(model)) for (const v of layer.trainableWeights) if (!owner.has(v)) owner.set(v, layer);
  const params: GraphTensor[] = [];
  const layouts: ParamLayout[] = [];
  const variables = model.trainableWeights;
  for (const v of variables) {
    const layer = owner.get(v);
    const short = v.originalName.split('/').pop() as string;
    // The converters' constant names: `<layer>/W` for kernels, `<layer>/B` for biases, `<layer>/<weight>` otherwise (gamma, beta).
    const suffix = short === 'bias' ? 'B' : short === 'kernel' || short === 'depthwise_kernel' ? 'W' : short;
    const name = layer && `${layer.name}/${suffix}`;
    const init = name ? byName.get(name) : undefined;
    if (!layer || !init) {
      throw new NotDifferentiable(
        `weight ${v.originalName}${layer ? ` of ${layer.name} (${layer.getClassName()})` : ''} has no ONNX counterpart the trainer knows`,
      );
    }
    const dims = (init.dims ?? []).map(Number);
    const shape = v.shape as number[];
    const size = shape.reduce((a, c) => a * c, 1);
    let layout: ParamLayout;
    if (shape.length === 4 && short === 'depthwise_kernel') layout = permutationOf(size, (d) => depthwiseToOihw(d, shape));
    else if (shape.length === 4) layout = permutationOf(size, (d) => kernelToOihw(d, shape));
    else if (shape.length === 2 && dims.length === 4) layout = permutationOf(size, (d) => kernelToOihw(d, [1, 1, ...shape]));
    // The weights in the graph must be exactly the variable's values, moved by the layout.
    const data = constantData(init) as Float32Array;
    const values = v.read().dataSync() as Float32Array;
    if (data.length !== size || data.some((x, i) => x !== values[layout ? layout[i] : i])) {
      throw new NotDifferentiable(`the ONNX constant ${name} does not hold ${v.originalName}`);
    }
    b.initializers.splice(b.initializers.indexOf(init), 1);
    params.push({ name: name as string, shape: dims });
    layouts.push(layout);
  }
  // Evaluating, a training BatchNormalization's moving statistics are inputs: they change as the model trains.
  const statistics: GraphTensor[] = [];
  for (const layer of training ? [] : leafLayers(model).filter(trainsBatchNorm)) {
    for (const name of movingStatisticNames(layer.name)) {
      const init = byName.get(name);
      if (!init) throw new NotDifferentiable(`BatchNormalization ${layer.name}: no moving statistic ${name} in the graph`);
      b.initializers.splice(b.initializers.indexOf(init), 1);
      statistics.push({ name, shape: (init.dims ?? []).map(Number) });
    }
  }
  const constants = new Map(b.initializers.map((t) => [t.name as string, t]));
  return { b, logits: out.name, params, variables, layouts, constants, dropout, batchNorms, statistics };
}

function dataInputs(f: Forward, outputs: number, training: boolean, xShape: Shape) {
  return [
    makeValueInfo(INPUT.x, xShape),
    makeValueInfo(INPUT.y, [null, outputs]),
    ...(training && f.dropout ? [makeValueInfo(INPUT.mask, [null, f.dropout.width])] : []),
  ];
}

/** Training-step and evaluation graphs of a logits model; NotDifferentiable when it holds what the rules lack. */
export function buildModelGraphs(model: tfl.LayersModel, opts: ModelGraphOptions): ModelGraphs {
  const xShape = model.inputs[0].shape;
  const outputs = model.outputs[0].shape[1] as number;
  const t = forward(model, true);
  const forwardNodes = t.b.nodes.slice();
  const shapes = new Map<string, Shape>([[INPUT.x, xShape]]);
  for (const c of t.constants.values()) shapes.set(c.name as string, (c.dims ?? []).map(Number));
  for (const p of t.params) shapes.set(p.name, p.shape);
  if (t.dropout) shapes.set(INPUT.mask, [null, t.dropout.width]);
  inferShapes(forwardNodes, shapes, t.constants);

  const update = opts.update ?? 'graph';
  const state = optimizerState(opts.optimizer, t.params);
  reserveTrainingNames(t.b, opts.optimizer, t.params, false);
  const dz = emitLossAndAccuracy(t.b, t.logits, outputs, opts.labelSmoothing, opts.multiLabel);
  const grads = emitBackward(
    t.b,
    forwardNodes,
    shapes,
    t.constants,
    t.params.map((p) => p.name),
    t.logits,
    dz,
    { convInputGradient: opts.convInputGradient },
  );
  const train = encodeTrainStep({
    builder: t.b,
    name: `${model.name}_train_step`,
    dataInputs: dataInputs(t, outputs, true, xShape),
    params: t.params,
    grads,
    optimizer: opts.optimizer,
    update,
    gradients: opts.gradients,
    outputs: t.batchNorms.flatMap((bn) => [bn.batchMean, bn.batchVariance].map((name) => ({ name, shape: bn.batchShape }))),
    opset: TRAINING_OPSET,
  });

  const e = forward(model, false);
  emitLossAndAccuracy(e.b, e.logits, outputs, opts.labelSmoothing, opts.multiLabel);
  const evaluate = encodeEvaluation(
    e.b,
    `${model.name}_evaluate`,
    dataInputs(e, outputs, false, xShape),
    [...e.params, ...e.statistics],
    TRAINING_OPSET,
  );
  return {
    params: t.params,
    state,
    variables: t.variables,
    layouts: t.layouts,
    dropout: t.dropout,
    batchNorms: t.batchNorms,
    update,
    train,
    evaluate,
  };
}
