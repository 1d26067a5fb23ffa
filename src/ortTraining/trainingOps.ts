import type { GraphBuilder } from '../onnx/graphBuilder.js';
import { encodeModel, makeGraph, makeModel, makeNode, makeValueInfo, type IValueInfoProto } from '../onnx/proto.js';

/**
 * The pieces every generated training graph shares, whatever its forward pass: the loss
 * and accuracy of logits against labels, the start of the backward pass (dL/dlogits),
 * and the optimizer's update of one parameter. Graph inputs and outputs have fixed names
 * (INPUT, OUTPUT; a parameter `p` comes out updated as `p_new`, its state `s` as `s_new`).
 */

/**
 * The update rule a graph or the kernels apply (trainingPlan.ts reads it from the compiled
 * optimizer's getConfig). What is fixed for a trainer's life (the kind, beta2, epsilon, the
 * weight decay) is written into the graph; what a schedule changes between batches (the
 * learning rate, the momentum term) is fed every step as StepValues.
 *
 *   rmsprop (Keras): v <- rho v + (1 - rho) g^2;  w <- w - lr g / sqrt(v + eps)
 *   adam (tfjs):     m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;  w <- w + (-lr) (m / c1) / (sqrt(v / c2) + eps)
 *   adamw:           w <- w - (lr wd) w, then adam's update
 *   sgd (tfjs):      w <- (-lr) g + w
 */
export type OptimizerSpec =
  | { kind: 'rmsprop'; learningRate: number; rho: number; epsilon: number; multipliers?: Record<string, number> }
  | { kind: 'adam'; learningRate: number; beta1: number; beta2: number; epsilon: number; multipliers?: Record<string, number> }
  | {
      kind: 'adamw';
      learningRate: number;
      beta1: number;
      beta2: number;
      epsilon: number;
      weightDecay: number;
      multipliers?: Record<string, number>;
    }
  | { kind: 'sgd'; learningRate: number; multipliers?: Record<string, number> };

type OptimizerKind = OptimizerSpec['kind'];

/** Whether the rule keeps Adam's moments and bias corrections (adam, adamw). */
export const isAdam = (o: { kind: OptimizerKind }): boolean => o.kind === 'adam' || o.kind === 'adamw';

/**
 * The values of one step's update that may change between batches (updateRates.ts computes them).
 * `rates[i]` is parameter i's rate as its rule multiplies by it: +lr for rmsprop, -lr for the
 * others, where lr = learningRate * the parameter's multiplier.
 */
export interface StepValues {
  rates: number[];
  /** adamw, per parameter: lr * weightDecay (w <- w - decay w). */
  decays: number[];
  /** rho (rmsprop) or beta1 (adam, adamw), and 1 minus it (each rounded once, from float64, as tfjs). */
  momentum: number;
  keepMomentum: number;
  /** adam, adamw: the bias corrections 1 - beta1^t and 1 - beta2^t. */
  c1: number;
  c2: number;
}

export const INPUT = {
  x: 'x',
  y: 'y',
  mask: 'mask',
  invBatch: 'inv_batch',
  adamC1: 'adam_one_minus_beta1_t',
  adamC2: 'adam_one_minus_beta2_t',
  momentum: 'opt_momentum',
  keepMomentum: 'opt_one_minus_momentum',
} as const;
/** Graph outputs; `logits` only in multi-label graphs (a per-epoch mAP ranks them). */
export const OUTPUT = { loss: 'loss', accuracy: 'accuracy', logits: 'logits' } as const;

/** The logits output's value info when the graph built in `b` has one. */
function logitsOutputs(b: GraphBuilder): IValueInfoProto[] {
  return b.nodes.some((n) => n.output?.includes(OUTPUT.logits)) ? [makeValueInfo(OUTPUT.logits, [null, null])] : [];
}

/** One tensor that a graph takes and returns updated (a parameter or an optimizer slot). */
export interface GraphTensor {
  /** Graph input name; the updated value is output `<name>_new`. */
  name: string;
  shape: number[];
}

/** The output that carries a parameter's gradient when a graph is built with gradient outputs (tests). */
export function gradientOutput(param: string): string {
  return `dloss_d${param}`;
}

/** A parameter's rate input (a scalar fed each step) when the graph updates. */
export const rateInput = (param: string): string => `${param}/rate`;
/** A parameter's decoupled weight decay factor input (adamw). */
export const decayInput = (param: string): string => `${param}/decay`;

/** Optimizer state per parameter, in order: rms | m then v | none (tfjs's slot order). */
export function optimizerState(optimizer: OptimizerSpec, params: GraphTensor[]): GraphTensor[] {
  switch (optimizer.kind) {
    case 'rmsprop':
      return params.map((p) => ({ name: `${p.name}_rms`, shape: p.shape }));
    case 'adam':
    case 'adamw':
      return [
        ...params.map((p) => ({ name: `${p.name}_m`, shape: p.shape })),
        ...params.map((p) => ({ name: `${p.name}_v`, shape: p.shape })),
      ];
    case 'sgd':
      return [];
  }
}

/**
 * The scalar inputs of the update, fed every step (StepValues) when the graph updates: each
 * parameter's rate (and decay), the momentum term and 1 minus it, Adam's bias corrections.
 */
export function updateInputs(optimizer: OptimizerSpec, params: GraphTensor[]): string[] {
  const momentum = optimizer.kind === 'sgd' ? [] : [INPUT.momentum, INPUT.keepMomentum];
  const adam = isAdam(optimizer) ? [INPUT.adamC1, INPUT.adamC2] : [];
  const decays = optimizer.kind === 'adamw' ? params.map((p) => decayInput(p.name)) : [];
  return [...params.map((p) => rateInput(p.name)), ...decays, ...momentum, ...adam];
}

/** Scalar inputs fed every step besides x, y and masks: 1/N, and the update's when the graph updates. */
function scalarInputs(optimizer: OptimizerSpec, params: GraphTensor[], updates: boolean): string[] {
  return [INPUT.invBatch, ...(updates ? updateInputs(optimizer, params) : [])];
}

/** Reserve in `b` the names a training step's graph gives its parameters', slots' and update's inputs and outputs. */
export function reserveTrainingNames(b: GraphBuilder, optimizer: OptimizerSpec, params: GraphTensor[], reserveParams: boolean): void {
  const state = optimizerState(optimizer, params);
  for (const p of reserveParams ? params : []) b.reserve(p.name);
  for (const p of state) b.reserve(p.name);
  for (const p of [...params, ...state]) b.reserve(`${p.name}_new`);
  for (const n of updateInputs(optimizer, params)) if (!Object.values(INPUT).includes(n as never)) b.reserve(n);
}

/**
 * Where a training step applies the optimizer: 'graph' = in the ONNX graph (weights and
 * state in, updated out), 'host' = the graph outputs the gradients and the trainer
 * updates weights and slots in place, one fused WebAssembly SIMD loop per tensor
 * (updateKernels.ts).
 */
export type UpdateSite = 'graph' | 'host';

export interface TrainStepGraph {
  builder: GraphBuilder;
  name: string;
  /** x, y, mask: the data inputs (the scalars are added here). */
  dataInputs: IValueInfoProto[];
  params: GraphTensor[];
  grads: Map<string, string>;
  optimizer: OptimizerSpec;
  update: UpdateSite;
  /** Output every gradient even when the graph updates (tests). */
  gradients?: boolean;
  /** Further outputs computed by the forward pass (a training BatchNormalization's batch statistics). */
  outputs?: Array<{ name: string; shape: Array<number | null> }>;
  opset?: number;
}

/** Finish a training step's graph: the update (or the gradients as outputs), inputs and outputs; its bytes. */
export function encodeTrainStep(g: TrainStepGraph): Uint8Array {
  const b = g.builder;
  const inGraph = g.update === 'graph';
  const state = inGraph ? optimizerState(g.optimizer, g.params) : [];
  if (inGraph) for (const p of g.params) emitUpdate(b, g.optimizer, p.name, g.grads.get(p.name) as string);
  // A parameter without a gradient here is updated from another output (the head's hidden kernel: outerProductKernels.ts).
  const gradOutputs = !inGraph || g.gradients ? g.params.map((p) => (g.grads.has(p.name) ? gradientOutput(p.name) : '')) : [];
  g.params.forEach(
    (p, i) =>
      gradOutputs[i] &&
      b.nodes.push(makeNode('Identity', [g.grads.get(p.name) as string], [gradOutputs[i]], b.uniqueName(`${gradOutputs[i]}/out`))),
  );
  const graph = makeGraph(
    b.nodes,
    g.name,
    [
      ...g.dataInputs,
      ...scalarInputs(g.optimizer, g.params, inGraph).map((n) => makeValueInfo(n, [])),
      ...[...g.params, ...state].map((p) => makeValueInfo(p.name, p.shape)),
    ],
    [
      makeValueInfo(OUTPUT.loss, []),
      makeValueInfo(OUTPUT.accuracy, []),
      ...logitsOutputs(b),
      ...(inGraph ? [...g.params, ...state].map((p) => makeValueInfo(`${p.name}_new`, p.shape)) : []),
      ...gradOutputs.flatMap((name, i) => (name ? [makeValueInfo(name, g.params[i].shape)] : [])),
      ...(g.outputs ?? []).map((o) => makeValueInfo(o.name, o.shape)),
    ],
    b.initializers,
  );
  return encodeModel(makeModel(graph, { opset: g.opset }));
}

/** The evaluation graph: forward, loss and accuracy only (the nodes that lead to neither are dropped). */
export function encodeEvaluation(
  b: GraphBuilder,
  name: string,
  dataInputs: IValueInfoProto[],
  params: GraphTensor[],
  opset?: number,
): Uint8Array {
  const logits = logitsOutputs(b);
  const nodes = pruneTo(b.nodes, [OUTPUT.loss, OUTPUT.accuracy, ...logits.map((l) => l.name as string)]);
  const used = new Set(nodes.flatMap((n) => n.input ?? []));
  const graph = makeGraph(
    nodes,
    name,
    [...dataInputs, makeValueInfo(INPUT.invBatch, []), ...params.map((p) => makeValueInfo(p.name, p.shape))],
    [makeValueInfo(OUTPUT.loss, []), makeValueInfo(OUTPUT.accuracy, []), ...logits],
    b.initializers.filter((i) => used.has(i.name as string)),
  );
  return encodeModel(makeModel(graph, { opset }));
}

/** A node whose output is the graph output `output` itself (no Identity copy of a full-size tensor). */
function opTo(b: GraphBuilder, type: string, inputs: string[], output: string): string {
  b.nodes.push(makeNode(type, inputs, [output], b.uniqueName(`${output}/${type}`)));
  return output;
}

/**
 * Loss and accuracy outputs for logits `z` [N, outputs] against `y`; returns dL/dz.
 *   binary:  loss = mean(relu(z) - z y + softplus(-|z|))   (tf.losses.sigmoidCrossEntropy), dz = (sigmoid(z) - y) / N
 *   k-class: loss = -sum(y * logsoftmax(z)) / N            (tf.losses.softmaxCrossEntropy), dz = (softmax(z) - y) / N
 *   multi-label (k sigmoid units, multi-hot y): the binary loss's mean over the N k elements,
 *            dz = (sigmoid(z) - y) / (N k); accuracy is binary accuracy over the N k decisions
 * With label smoothing `ls` (Keras's, as tfjs's losses apply it) the loss and its gradient
 * see y (1 - ls) + ls / 2 (binary) or y (1 - ls) + ls / k; accuracy counts against y itself.
 * 1/N is the input `inv_batch`, so the smaller last batch of an epoch needs no other graph.
 */
export function emitLossAndAccuracy(b: GraphBuilder, z: string, outputs: number, labelSmoothing = 0, multiLabel = false): string {
  const op = (type: string, inputs: string[], hint: string, attrs: Record<string, number | number[]> = {}) =>
    b.op(type, inputs, hint, attrs);
  if (!(labelSmoothing >= 0 && labelSmoothing < 1)) throw new Error(`label smoothing must be in [0, 1), got ${labelSmoothing}`);
  // tfjs: y * (1 - ls) + ls * 0.5 | y * (1 - ls) + ls / k, each a float32 op on float32 scalars.
  const ls = Math.fround(labelSmoothing);
  const sigmoid = outputs === 1 || multiLabel;
  const target =
    ls > 0
      ? op(
          'Add',
          [
            op('Mul', [INPUT.y, b.scalar('loss/keep_label', Math.fround(1 - ls))], 'loss/y_kept'),
            b.scalar('loss/label_floor', sigmoid ? Math.fround(0.5 * ls) : Math.fround(ls / outputs)),
          ],
          'loss/y_smoothed',
        )
      : INPUT.y;
  let loss: string;
  let correct: string;
  let prob: string;
  if (sigmoid) {
    const zy = op('Mul', [z, target], 'loss/zy');
    const sp = op('Softplus', [op('Neg', [op('Abs', [z], 'loss/abs')], 'loss/negabs')], 'loss/softplus');
    const per = op('Add', [op('Sub', [op('Relu', [z], 'loss/relu'), zy], 'loss/diff'), sp], 'loss/per');
    loss = op('ReduceMean', [per], 'loss/mean', { keepdims: 0 });
    const predicted = op('Cast', [op('Greater', [z, b.scalar('zero', 0)], 'acc/positive')], 'acc/predicted', { to: 1 });
    correct = op('Equal', [predicted, INPUT.y], 'acc/equal');
    prob = op('Sigmoid', [z], 'grad/prob');
  } else {
    const logp = op('LogSoftmax', [z], 'loss/logsoftmax', { axis: 1 });
    const sum = op('ReduceSum', [op('Mul', [target, logp], 'loss/ylogp')], 'loss/sum', { keepdims: 0 });
    loss = op('Mul', [op('Neg', [sum], 'loss/neg'), INPUT.invBatch], 'loss/mean');
    correct = op(
      'Equal',
      [op('ArgMax', [z], 'acc/argmax_z', { axis: 1, keepdims: 0 }), op('ArgMax', [INPUT.y], 'acc/argmax_y', { axis: 1, keepdims: 0 })],
      'acc/equal',
    );
    prob = op('Softmax', [z], 'grad/prob', { axis: 1 });
  }
  b.nodes.push(makeNode('Identity', [loss], [OUTPUT.loss], b.uniqueName('loss/out')));
  const acc = op('ReduceMean', [op('Cast', [correct], 'acc/cast', { to: 1 })], 'acc/mean', { keepdims: 0 });
  b.nodes.push(makeNode('Identity', [acc], [OUTPUT.accuracy], b.uniqueName('acc/out')));
  if (multiLabel) b.nodes.push(makeNode('Identity', [z], [OUTPUT.logits], b.uniqueName('logits/out')));
  // Smoothed targets of k classes still sum to 1, so dL/dz keeps its form.
  const dz = op('Mul', [op('Sub', [prob, target], 'grad/residual'), INPUT.invBatch], 'grad/z');
  // k sigmoid units: the mean is over N k elements.
  return sigmoid && outputs > 1 ? op('Mul', [dz, b.scalar('grad/inv_units', Math.fround(1 / outputs))], 'grad/z_units') : dz;
}

/**
 * The optimizer's update of parameter `p` with gradient `g`: its last nodes write `<p>_new` and `<slot>_new`.
 * The rate, the momentum term and Adam's bias corrections are inputs (updateInputs), the rest constants.
 */
export function emitUpdate(b: GraphBuilder, o: OptimizerSpec, p: string, g: string): void {
  const op = (type: string, inputs: string[], hint: string) => b.op(type, inputs, hint);
  const rate = rateInput(p);
  switch (o.kind) {
    case 'rmsprop': {
      // Keras: v <- rho v + (1 - rho) g^2; w <- w - lr g / sqrt(v + eps) (the order of KerasRMSprop's ops).
      const s = `${p}_rms`;
      const v = opTo(
        b,
        'Add',
        [op('Mul', [s, INPUT.momentum], `${s}/decay`), op('Mul', [op('Mul', [g, g], `${s}/g2`), INPUT.keepMomentum], `${s}/new_part`)],
        `${s}_new`,
      );
      const step = op(
        'Div',
        [op('Mul', [g, rate], `${p}/lr_g`), op('Sqrt', [op('Add', [v, b.scalar('eps', o.epsilon)], `${s}/v_eps`)], `${s}/rms`)],
        `${p}/step`,
      );
      opTo(b, 'Sub', [p, step], `${p}_new`);
      return;
    }
    case 'adam':
    case 'adamw': {
      // adamw first decays the weight, decoupled from the gradient: w <- w - (lr wd) w.
      const w = o.kind === 'adamw' ? op('Sub', [p, op('Mul', [p, decayInput(p)], `${p}/decay_part`)], `${p}/decayed`) : p;
      // tfjs's AdamOptimizer: m, v moving averages; w <- w + (-lr) (m / c1) / (sqrt(v / c2) + eps), c = 1 - beta^t.
      const m = opTo(
        b,
        'Add',
        [op('Mul', [`${p}_m`, INPUT.momentum], `${p}_m/decay`), op('Mul', [g, INPUT.keepMomentum], `${p}_m/new_part`)],
        `${p}_m_new`,
      );
      const v = opTo(
        b,
        'Add',
        [
          op('Mul', [`${p}_v`, b.scalar('beta2', o.beta2)], `${p}_v/decay`),
          op('Mul', [op('Mul', [g, g], `${p}_v/g2`), b.scalar('one_minus_beta2', 1 - o.beta2)], `${p}_v/new_part`),
        ],
        `${p}_v_new`,
      );
      const mHat = op('Div', [m, INPUT.adamC1], `${p}/m_hat`);
      const vHat = op('Div', [v, INPUT.adamC2], `${p}/v_hat`);
      const ratio = op(
        'Div',
        [mHat, op('Add', [op('Sqrt', [vHat], `${p}/sqrt_v_hat`), b.scalar('eps', o.epsilon)], `${p}/denominator`)],
        `${p}/ratio`,
      );
      opTo(b, 'Add', [op('Mul', [ratio, rate], `${p}/step`), w], `${p}_new`);
      return;
    }
    case 'sgd':
      // tfjs's SGDOptimizer: w <- (-lr) g + w.
      opTo(b, 'Add', [op('Mul', [rate, g], `${p}/step`), p], `${p}_new`);
      return;
  }
}

type Node = ReturnType<typeof makeNode>;

/** The nodes needed to compute `outputs`, in their original order. */
export function pruneTo(nodes: Node[], outputs: string[]): Node[] {
  const producer = new Map<string, Node>();
  for (const n of nodes) for (const o of n.output ?? []) producer.set(o, n);
  const keep = new Set<Node>();
  const stack = [...outputs];
  while (stack.length) {
    const n = producer.get(stack.pop() as string);
    if (!n || keep.has(n)) continue;
    keep.add(n);
    stack.push(...(n.input ?? []));
  }
  return nodes.filter((n) => keep.has(n));
}
