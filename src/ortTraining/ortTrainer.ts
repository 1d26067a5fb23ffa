import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { isUserError } from '../errors.js';
import { Rng } from '../io/rng.js';
import { OrtSession, type HostTensor } from '../ort/ortRunner.js';
import { NotDifferentiable, type ConvInputGradient } from './autodiff.js';
import { buildHeadGraphs, type HeadGraphSpec, type HeadPoolingKind } from './headGraph.js';
import { buildModelGraphs, type ModelGraphs } from './modelGraph.js';
import { gradientOutput, INPUT, OUTPUT, type OptimizerSpec, type UpdateSite } from './trainingOps.js';
import { arenaFits, UpdateKernels } from './updateKernels.js';

type LayerVariable = tfl.LayersModel['trainableWeights'][number];
type NamedTensor = { name: string; tensor: tf.Tensor };
/** A named array as the resume state stores it (run/trainState.ts). */
type NamedArray = { name: string; shape: number[]; dtype: 'float32' | 'int32'; data: Float32Array | Int32Array };

/** Thrown when the ORT training graphs cannot express a model (a layer, op or optimizer); the caller falls back to tfjs. */
export class NotTrainableOnOrt extends Error {}

export interface OrtTrainerOptions {
  /** Intra-op threads of the sessions; default every core. */
  threads?: number;
  /** Dense written as Gemm (default, measured faster) or MatMul + Add + Transpose. */
  dense?: HeadGraphSpec['dense'];
  /** Write each step's outputs into the buffers of the step before last (default true), or let ORT allocate them. */
  reuseBuffers?: boolean;
  /**
   * Which graphs: 'head' (written by hand for the book's head; refused for other models),
   * 'model' (generated for any model autodiff.ts differentiates: fine-tuning's suffix + head),
   * 'auto' (default): the head's when the model is a head, else the generated ones.
   */
  graphs?: 'head' | 'model' | 'auto';
  /**
   * Where the optimizer runs: 'host' (default: the graph outputs gradients and a fused
   * WebAssembly SIMD loop per tensor updates them, updateKernels.ts; measured faster in
   * bench/head.ts and bench/finetune.ts) or 'graph' (elementwise ops in the ONNX graph;
   * also used when the arrays would not fit the kernels' 2 GiB arena).
   */
  update?: UpdateSite;
  /** Generated graphs: how stride-1 convolutions' input gradients are written (default 'transpose'). */
  convInputGradient?: ConvInputGradient;
}

/** What the trainer runs: graphs, the tfjs variables they train, and how weights map between the two. */
type TrainingPlan = Omit<ModelGraphs, 'dropout'> & { dropout?: ModelGraphs['dropout'] };

function headPlan(model: tfl.LayersModel, optimizer: OptimizerSpec, dense: HeadGraphSpec['dense'], update: UpdateSite): TrainingPlan {
  const layout = headLayout(model);
  const graphs = buildHeadGraphs({ ...layout.spec, optimizer, dense, update });
  const width = layout.spec.units > 0 ? layout.spec.units : graphs.params[0].shape[0];
  return {
    ...graphs,
    variables: layout.variables,
    layouts: graphs.params.map(() => undefined),
    dropout: layout.dropout ? { ...layout.dropout, width } : undefined,
  };
}

function modelPlan(model: tfl.LayersModel, optimizer: OptimizerSpec, update: UpdateSite, convInputGradient?: ConvInputGradient): TrainingPlan {
  try {
    return buildModelGraphs(model, { optimizer, update, convInputGradient });
  } catch (e) {
    // NotDifferentiable: an op without a gradient rule; UserError: a layer the exporter cannot write.
    if (e instanceof NotDifferentiable || isUserError(e)) throw new NotTrainableOnOrt(`ONNX Runtime cannot train model '${model.name}': ${(e as Error).message.replace(/\.$/, '')}.`);
    throw e;
  }
}

interface HeadLayout {
  spec: Omit<HeadGraphSpec, 'optimizer' | 'dense' | 'gradients'>;
  /** The tfjs variables in the order of the graph's params (= the model's trainableWeights). */
  variables: LayerVariable[];
  dropout?: { rate: number; seed: number };
}

type LayerLike = tfl.LayersModel['layers'][number];

function config(layer: LayerLike): Record<string, unknown> {
  return layer.getConfig() as Record<string, unknown>;
}

/**
 * Read the head's structure off a tfjs logits model built by fit/head.ts:
 * [Flatten | GlobalAveragePooling2D] -> [Dense(relu | linear)] -> [SeededDropout] -> Dense(linear).
 */
export function headLayout(model: tfl.LayersModel): HeadLayout {
  const fail = (why: string) => new NotTrainableOnOrt(`ONNX Runtime cannot train model '${model.name}': ${why}.`);
  if (model.inputs.length !== 1 || model.outputs.length !== 1) throw fail('it has several inputs or outputs');
  const featureShape = model.inputs[0].shape.slice(1);
  if (featureShape.some((d) => d === null)) throw fail(`its input shape ${JSON.stringify(model.inputs[0].shape)} is not fixed`);
  let pooling: HeadPoolingKind = 'none';
  let hidden: LayerLike | undefined;
  let output: LayerLike | undefined;
  let dropout: HeadLayout['dropout'];
  for (const layer of model.layers) {
    const cls = layer.getClassName();
    const cfg = config(layer);
    if (output) throw fail(`layer ${layer.name} (${cls}) follows the output Dense`);
    if (cls === 'InputLayer') continue;
    if (cls === 'Flatten' && !hidden) pooling = 'flatten';
    else if (cls === 'GlobalAveragePooling2D' && !hidden && cfg.dataFormat !== 'channelsFirst') pooling = 'avg';
    else if (cls === 'SeededDropout' && !dropout) {
      const rate = Number(cfg.rate);
      if (rate > 0) dropout = { rate, seed: Number(cfg.seed) };
    } else if (cls === 'Dense') {
      if (cfg.useBias === false) throw fail(`Dense ${layer.name} has no bias`);
      if (!layer.trainable) throw fail(`Dense ${layer.name} is frozen`);
      // The last Dense is the (linear) output; a Dense before it, relu or linear, is the hidden layer.
      const isLast = !model.layers.slice(model.layers.indexOf(layer) + 1).some((l) => l.getClassName() === 'Dense');
      if (!isLast && !hidden && !dropout && (cfg.activation === 'relu' || cfg.activation === 'linear')) hidden = layer;
      else if (isLast && cfg.activation === 'linear') output = layer;
      else throw fail(`Dense ${layer.name} has activation ${String(cfg.activation)} at a place the head graph does not have it`);
    } else throw fail(`layer ${layer.name} (${cls}) is not part of the head (Flatten/GlobalAveragePooling2D, Dense relu, SeededDropout, Dense linear)`);
  }
  if (!output) throw fail('it has no linear output Dense');
  if (featureShape.length > 1 && pooling === 'none') throw fail('its features are not pooled or flattened');
  const variables = [...(hidden ? hidden.trainableWeights : []), ...output.trainableWeights];
  const trainable = model.trainableWeights;
  if (variables.length !== trainable.length || variables.some((v, i) => v !== trainable[i])) throw fail('its trainable weights are not those of its Dense layers');
  const outputs = (output.getConfig() as { units: number }).units;
  const units = hidden ? (hidden.getConfig() as { units: number }).units : 0;
  const hiddenActivation = hidden && config(hidden).activation === 'linear' ? 'linear' : 'relu';
  return { spec: { featureShape: featureShape as number[], pooling, units, hiddenActivation, dropout: dropout !== undefined, outputs }, variables, dropout };
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

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** The arena of a host update: weights, then their gradients, then the optimizer slots. */
const arenaLengths = (plan: TrainingPlan) => [...plan.params, ...plan.params, ...plan.state].map((p) => size(p.shape));

/**
 * Trains a compiled tfjs logits model on ONNX Runtime (the head, or fine-tuning's suffix + head), with the
 * surface FitLoop drives (trainOnBatch, evaluate, trainableWeights, optimizer state,
 * metricsNames, stopTraining): FitLoop stays the one loop, and the tfjs model stays
 * what is saved, exported and resumed.
 *
 * Who holds the current weights switches between the two: a step trains on ORT's copy
 * (taken from the tfjs variables when they may have changed); `syncWeights()` (FitLoop
 * calls it before every epoch's callbacks, so the checkpoint saves them) and the
 * `trainableWeights` getter write them back into the tfjs variables, and the getter
 * hands ownership to tfjs (its caller may write them: a resume does).
 */
export class OrtTrainer {
  private owner: 'tfjs' | 'ort' = 'tfjs';
  private params: Float32Array[];
  private state: Float32Array[];
  /** Graph updates: the step before last's outputs, written into again (empty for host updates). */
  private spare: Float32Array[] = [];
  private spareState: Float32Array[] = [];
  /** Host updates: the gradients, in the arena, that the graph writes every step. */
  private grads: Float32Array[] = [];
  private iterations = 0;
  private accBeta1 = 1;
  private accBeta2 = 1;
  private readonly rng: Rng | undefined;
  private handedOut: tf.Tensor[] = [];
  /** Host updates: the arena that holds weights, gradients and slots, and its kernels. */
  private readonly kernels: UpdateKernels | undefined;

  private constructor(
    readonly layersModel: tfl.LayersModel,
    private readonly graphs: TrainingPlan,
    private readonly opt: OptimizerSpec,
    private readonly trainSession: OrtSession,
    private readonly evalSession: OrtSession,
    private readonly reuseBuffers: boolean,
  ) {
    if (graphs.update === 'host') {
      this.kernels = new UpdateKernels(arenaLengths(graphs));
      const n = graphs.params.length;
      this.params = this.kernels.arrays.slice(0, n);
      this.grads = this.kernels.arrays.slice(n, 2 * n);
      this.state = this.kernels.arrays.slice(2 * n);
    } else {
      this.params = graphs.params.map((p) => new Float32Array(size(p.shape)));
      this.spare = graphs.params.map((p) => new Float32Array(reuseBuffers ? size(p.shape) : 0));
      this.state = graphs.state.map((s) => new Float32Array(size(s.shape)));
      this.spareState = graphs.state.map((s) => new Float32Array(reuseBuffers ? size(s.shape) : 0));
    }
    if (opt.kind === 'adam') {
      this.accBeta1 = Math.fround(opt.beta1);
      this.accBeta2 = Math.fround(opt.beta2);
    }
    this.rng = graphs.dropout ? new Rng(graphs.dropout.seed) : undefined;
  }

  /** Build the graphs and sessions for `model` (compiled); throws NotTrainableOnOrt when ORT cannot train it. */
  static async create(model: tfl.LayersModel, opts: OrtTrainerOptions = {}): Promise<OrtTrainer> {
    const opt = optimizerSpec(model.optimizer);
    const which = opts.graphs ?? 'auto';
    const build = (update: UpdateSite): TrainingPlan => {
      if (which === 'model') return modelPlan(model, opt, update, opts.convInputGradient);
      try {
        return headPlan(model, opt, opts.dense ?? 'gemm', update);
      } catch (e) {
        if (!(e instanceof NotTrainableOnOrt) || which === 'head') throw e;
        return modelPlan(model, opt, update, opts.convInputGradient);
      }
    };
    let plan = build(opts.update ?? 'host');
    // Weights, gradients and slots share the kernels' arena; a model too big for it updates in the graph.
    if (plan.update === 'host' && !arenaFits(arenaLengths(plan))) plan = build('graph');
    const trainSession = await OrtSession.create(plan.train, { threads: opts.threads });
    const evalSession = await OrtSession.create(plan.evaluate, { threads: opts.threads });
    return new OrtTrainer(model, plan, opt, trainSession, evalSession, opts.reuseBuffers ?? true);
  }

  get metricsNames(): string[] {
    return this.layersModel.metricsNames;
  }

  get stopTraining(): boolean {
    return this.layersModel.stopTraining;
  }

  set stopTraining(v: boolean) {
    this.layersModel.stopTraining = v;
  }

  /** The tfjs model's trainable variables, brought up to date; they hold the weights from now on. */
  get trainableWeights(): LayerVariable[] {
    this.writeBack();
    this.owner = 'tfjs';
    return this.layersModel.trainableWeights;
  }

  /** Write the trained weights into the tfjs model (ORT keeps training on its copy). */
  async syncWeights(): Promise<void> {
    this.writeBack();
  }

  /** A parameter's (or its optimizer slot's) values in the tfjs variable's layout. */
  private toTfjs(i: number, data: Float32Array): Float32Array {
    const layout = this.graphs.layouts[i];
    if (!layout) return data;
    const out = new Float32Array(data.length);
    for (let j = 0; j < layout.length; j++) out[layout[j]] = data[j];
    return out;
  }

  /** Values in a tfjs variable's layout, written into `into` in the graph's. */
  private fromTfjs(i: number, data: Float32Array, into: Float32Array): void {
    const layout = this.graphs.layouts[i];
    if (!layout) into.set(data);
    else for (let j = 0; j < layout.length; j++) into[j] = data[layout[j]];
  }

  private writeBack(): void {
    if (this.owner !== 'ort') return;
    this.graphs.variables.forEach((v, i) => {
      const t = tf.tensor(this.toTfjs(i, this.params[i]), v.shape as number[]);
      v.write(t);
      t.dispose();
    });
  }

  private takeFromTfjs(): void {
    if (this.owner !== 'tfjs') return;
    this.graphs.variables.forEach((v, i) => this.fromTfjs(i, v.read().dataSync() as Float32Array, this.params[i]));
    this.owner = 'ort';
  }

  private dataFeeds(x: Float32Array, xShape: number[], y: Float32Array, yShape: number[]): Record<string, HostTensor> {
    return {
      [INPUT.x]: { data: x, dims: xShape },
      [INPUT.y]: { data: y, dims: yShape },
      [INPUT.invBatch]: { data: Float32Array.of(1 / xShape[0]), dims: [] },
    };
  }

  private paramFeeds(feeds: Record<string, HostTensor>): void {
    this.graphs.params.forEach((p, i) => (feeds[p.name] = { data: this.params[i], dims: p.shape }));
  }

  /** One training step on a batch: returns [loss, accuracy] (before the update, as tfjs). */
  async trainOnBatch(xs: tf.Tensor, ys: tf.Tensor): Promise<number[]> {
    this.takeFromTfjs();
    const n = xs.shape[0];
    const feeds = this.dataFeeds((await xs.data()) as Float32Array, xs.shape, (await ys.data()) as Float32Array, ys.shape);
    this.paramFeeds(feeds);
    if (this.graphs.dropout && this.rng) {
      const { width } = this.graphs.dropout;
      const keep = 1 - this.graphs.dropout.rate;
      const scale = Math.fround(1 / keep);
      const mask = new Float32Array(n * width);
      for (let i = 0; i < mask.length; i++) mask[i] = this.rng.next() < keep ? scale : 0;
      feeds[INPUT.mask] = { data: mask, dims: [n, width] };
    }
    const adam = this.opt.kind === 'adam' ? { c1: 1 - this.accBeta1, c2: 1 - this.accBeta2 } : undefined;
    let out: Record<string, HostTensor>;
    if (this.graphs.update === 'host') {
      // The graph writes the gradients into the arena; one SIMD loop per tensor updates weights and slots in place.
      const into: Record<string, HostTensor> = {};
      this.graphs.params.forEach((p, i) => (into[gradientOutput(p.name)] = { data: this.grads[i], dims: p.shape }));
      out = await this.trainSession.run(feeds, into);
      (this.kernels as UpdateKernels).update(this.opt, this.params, this.grads, this.state, adam);
    } else {
      this.graphs.state.forEach((s, i) => (feeds[s.name] = { data: this.state[i], dims: s.shape }));
      if (adam) {
        feeds[INPUT.adamC1] = { data: Float32Array.of(adam.c1), dims: [] };
        feeds[INPUT.adamC2] = { data: Float32Array.of(adam.c2), dims: [] };
      }
      const into: Record<string, HostTensor> = {};
      if (this.reuseBuffers) {
        this.graphs.params.forEach((p, i) => (into[`${p.name}_new`] = { data: this.spare[i], dims: p.shape }));
        this.graphs.state.forEach((s, i) => (into[`${s.name}_new`] = { data: this.spareState[i], dims: s.shape }));
      }
      out = await this.trainSession.run(feeds, into);
      const next = this.graphs.params.map((p) => out[`${p.name}_new`].data);
      const nextState = this.graphs.state.map((s) => out[`${s.name}_new`].data);
      if (this.reuseBuffers) {
        this.spare = this.params;
        this.spareState = this.state;
      }
      this.params = next;
      this.state = nextState;
    }
    this.iterations++;
    if (this.opt.kind === 'adam') {
      this.accBeta1 = Math.fround(this.accBeta1 * Math.fround(this.opt.beta1));
      this.accBeta2 = Math.fround(this.accBeta2 * Math.fround(this.opt.beta2));
    }
    return [out[OUTPUT.loss].data[0], out[OUTPUT.accuracy].data[0]];
  }

  /** Loss and accuracy of a batch in inference mode (no dropout), as tfjs scalars. */
  async evaluate(xs: tf.Tensor, ys: tf.Tensor, _args?: { batchSize?: number; verbose?: number }): Promise<tf.Scalar[]> {
    this.takeFromTfjs();
    const feeds = this.dataFeeds((await xs.data()) as Float32Array, xs.shape, (await ys.data()) as Float32Array, ys.shape);
    this.paramFeeds(feeds);
    const out = await this.evalSession.run(feeds);
    return [tf.scalar(out[OUTPUT.loss].data[0]), tf.scalar(out[OUTPUT.accuracy].data[0])];
  }

  /** The optimizer slots' names, tfjs's: `<variable>/rms` | `<variable>/m`..., `<variable>/v`... (after 'iter'). */
  private slotNames(): string[] {
    const names = this.graphs.variables.map((v) => v.name);
    return this.opt.kind === 'rmsprop' ? names.map((n) => `${n}/rms`) : this.opt.kind === 'adam' ? [...names.map((n) => `${n}/m`), ...names.map((n) => `${n}/v`)] : [];
  }

  /** Weights and slots for the resume state, in the tfjs variables' layout, straight from the trainer's arrays. */
  async trainState(): Promise<{ weights: NamedArray[]; optimizer: NamedArray[] }> {
    const params = this.graphs.params.length;
    const shapeOf = (i: number) => this.graphs.variables[i % params].shape as number[];
    // Only arrays in ONNX's layout are copied: the others are not touched before the state is written.
    const weights = this.graphs.variables.map((v, i) => ({ name: v.originalName, shape: shapeOf(i), dtype: 'float32' as const, data: this.toTfjs(i, this.params[i]) }));
    const slots = this.slotNames().map((name, i) => ({ name, shape: shapeOf(i), dtype: 'float32' as const, data: this.toTfjs(i % params, this.state[i]) }));
    return { weights, optimizer: [{ name: 'iter', shape: [], dtype: 'int32', data: Int32Array.of(this.iterations) }, ...slots] };
  }

  /** The optimizer's state under tfjs's names and order (iterations first), for the resume files. */
  readonly optimizer = {
    getWeights: async (): Promise<NamedTensor[]> => {
      tf.dispose(this.handedOut);
      const slotNames = this.slotNames();
      const params = this.graphs.params.length;
      const tensors = [
        tf.scalar(this.iterations, 'int32'),
        ...this.graphs.state.map((_, i) => tf.tensor(this.toTfjs(i % params, this.state[i]).slice(), this.graphs.variables[i % params].shape as number[])),
      ];
      this.handedOut = tensors;
      return tensors.map((tensor, i) => ({ name: i === 0 ? 'iter' : slotNames[i - 1], tensor }));
    },
    setWeights: async (weights: NamedTensor[]): Promise<void> => {
      const [iter, ...slots] = weights;
      if (!iter) throw new Error('optimizer.setWeights: no iterations entry');
      if (slots.length !== 0 && slots.length !== this.graphs.state.length) {
        throw new Error(`optimizer.setWeights: ${slots.length} slots given, the ${this.opt.kind} update keeps ${this.graphs.state.length}`);
      }
      this.iterations = (await iter.tensor.data())[0];
      slots.forEach((s, i) => {
        if (s.tensor.size !== this.state[i].length) throw new Error(`optimizer.setWeights: slot ${s.name} holds ${s.tensor.size} values, expected ${this.state[i].length}`);
        this.fromTfjs(i % this.graphs.params.length, s.tensor.dataSync() as Float32Array, this.state[i]);
      });
      if (slots.length === 0) for (const s of this.state) s.fill(0);
      if (this.opt.kind === 'adam') {
        this.accBeta1 = Math.fround(Math.pow(this.opt.beta1, this.iterations + 1));
        this.accBeta2 = Math.fround(Math.pow(this.opt.beta2, this.iterations + 1));
      }
    },
  };

  async dispose(): Promise<void> {
    tf.dispose(this.handedOut);
    this.handedOut = [];
    await this.trainSession.dispose();
    await this.evalSession.dispose();
  }
}
