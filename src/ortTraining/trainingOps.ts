import type { GraphBuilder } from '../onnx/graphBuilder.js';
import { encodeModel, makeGraph, makeModel, makeNode, makeValueInfo, type IValueInfoProto } from '../onnx/proto.js';

/**
 * The pieces every generated training graph shares, whatever its forward pass: the loss
 * and accuracy of logits against labels, the start of the backward pass (dL/dlogits),
 * and the optimizer's update of one parameter. Graph inputs and outputs have fixed names
 * (INPUT, OUTPUT; a parameter `p` comes out updated as `p_new`, its state `s` as `s_new`).
 */

export type OptimizerSpec =
  | { kind: 'rmsprop'; learningRate: number; rho: number; epsilon: number }
  | { kind: 'adam'; learningRate: number; beta1: number; beta2: number; epsilon: number }
  | { kind: 'sgd'; learningRate: number };

export const INPUT = {
  x: 'x',
  y: 'y',
  mask: 'mask',
  invBatch: 'inv_batch',
  adamC1: 'adam_one_minus_beta1_t',
  adamC2: 'adam_one_minus_beta2_t',
} as const;
export const OUTPUT = { loss: 'loss', accuracy: 'accuracy' } as const;

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

/** Optimizer state per parameter, in order: rms | m then v | none (tfjs's slot order). */
export function optimizerState(optimizer: OptimizerSpec, params: GraphTensor[]): GraphTensor[] {
  switch (optimizer.kind) {
    case 'rmsprop':
      return params.map((p) => ({ name: `${p.name}_rms`, shape: p.shape }));
    case 'adam':
      return [
        ...params.map((p) => ({ name: `${p.name}_m`, shape: p.shape })),
        ...params.map((p) => ({ name: `${p.name}_v`, shape: p.shape })),
      ];
    case 'sgd':
      return [];
  }
}

/** Scalar inputs fed every step besides x, y and masks: 1/N, and Adam's bias corrections when the graph updates. */
export function scalarInputs(optimizer: OptimizerSpec, updates: boolean): string[] {
  return [INPUT.invBatch, ...(updates && optimizer.kind === 'adam' ? [INPUT.adamC1, INPUT.adamC2] : [])];
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
  opset?: number;
}

/** Finish a training step's graph: the update (or the gradients as outputs), inputs and outputs; its bytes. */
export function encodeTrainStep(g: TrainStepGraph): Uint8Array {
  const b = g.builder;
  const inGraph = g.update === 'graph';
  const state = inGraph ? optimizerState(g.optimizer, g.params) : [];
  if (inGraph) for (const p of g.params) emitUpdate(b, g.optimizer, p.name, g.grads.get(p.name) as string);
  const gradOutputs = !inGraph || g.gradients ? g.params.map((p) => gradientOutput(p.name)) : [];
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
      ...scalarInputs(g.optimizer, inGraph).map((n) => makeValueInfo(n, [])),
      ...[...g.params, ...state].map((p) => makeValueInfo(p.name, p.shape)),
    ],
    [
      makeValueInfo(OUTPUT.loss, []),
      makeValueInfo(OUTPUT.accuracy, []),
      ...(inGraph ? [...g.params, ...state].map((p) => makeValueInfo(`${p.name}_new`, p.shape)) : []),
      ...gradOutputs.map((name, i) => makeValueInfo(name, g.params[i].shape)),
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
  const nodes = pruneTo(b.nodes, [OUTPUT.loss, OUTPUT.accuracy]);
  const used = new Set(nodes.flatMap((n) => n.input ?? []));
  const graph = makeGraph(
    nodes,
    name,
    [...dataInputs, makeValueInfo(INPUT.invBatch, []), ...params.map((p) => makeValueInfo(p.name, p.shape))],
    [makeValueInfo(OUTPUT.loss, []), makeValueInfo(OUTPUT.accuracy, [])],
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
 * 1/N is the input `inv_batch`, so the smaller last batch of an epoch needs no other graph.
 */
export function emitLossAndAccuracy(b: GraphBuilder, z: string, outputs: number): string {
  const op = (type: string, inputs: string[], hint: string, attrs: Record<string, number | number[]> = {}) =>
    b.op(type, inputs, hint, attrs);
  let loss: string;
  let correct: string;
  let prob: string;
  if (outputs === 1) {
    const zy = op('Mul', [z, INPUT.y], 'loss/zy');
    const sp = op('Softplus', [op('Neg', [op('Abs', [z], 'loss/abs')], 'loss/negabs')], 'loss/softplus');
    const per = op('Add', [op('Sub', [op('Relu', [z], 'loss/relu'), zy], 'loss/diff'), sp], 'loss/per');
    loss = op('ReduceMean', [per], 'loss/mean', { keepdims: 0 });
    const predicted = op('Cast', [op('Greater', [z, b.scalar('zero', 0)], 'acc/positive')], 'acc/predicted', { to: 1 });
    correct = op('Equal', [predicted, INPUT.y], 'acc/equal');
    prob = op('Sigmoid', [z], 'grad/prob');
  } else {
    const ls = op('LogSoftmax', [z], 'loss/logsoftmax', { axis: 1 });
    const sum = op('ReduceSum', [op('Mul', [INPUT.y, ls], 'loss/ylogp')], 'loss/sum', { keepdims: 0 });
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
  return op('Mul', [op('Sub', [prob, INPUT.y], 'grad/residual'), INPUT.invBatch], 'grad/z');
}

/** The optimizer's update of parameter `p` with gradient `g`: its last nodes write `<p>_new` and `<slot>_new`. */
export function emitUpdate(b: GraphBuilder, o: OptimizerSpec, p: string, g: string): void {
  const op = (type: string, inputs: string[], hint: string) => b.op(type, inputs, hint);
  switch (o.kind) {
    case 'rmsprop': {
      // Keras: v <- rho v + (1 - rho) g^2; w <- w - lr g / sqrt(v + eps) (the order of KerasRMSprop's ops).
      const s = `${p}_rms`;
      const v = opTo(
        b,
        'Add',
        [
          op('Mul', [s, b.scalar('rho', o.rho)], `${s}/decay`),
          op('Mul', [op('Mul', [g, g], `${s}/g2`), b.scalar('one_minus_rho', 1 - o.rho)], `${s}/new_part`),
        ],
        `${s}_new`,
      );
      const step = op(
        'Div',
        [
          op('Mul', [g, b.scalar('lr', o.learningRate)], `${p}/lr_g`),
          op('Sqrt', [op('Add', [v, b.scalar('eps', o.epsilon)], `${s}/v_eps`)], `${s}/rms`),
        ],
        `${p}/step`,
      );
      opTo(b, 'Sub', [p, step], `${p}_new`);
      return;
    }
    case 'adam': {
      // tfjs's AdamOptimizer: m, v moving averages; w <- w + (-lr) (m / c1) / (sqrt(v / c2) + eps), c = 1 - beta^t.
      const m = opTo(
        b,
        'Add',
        [
          op('Mul', [`${p}_m`, b.scalar('beta1', o.beta1)], `${p}_m/decay`),
          op('Mul', [g, b.scalar('one_minus_beta1', 1 - o.beta1)], `${p}_m/new_part`),
        ],
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
      opTo(b, 'Add', [op('Mul', [ratio, b.scalar('minus_lr', -o.learningRate)], `${p}/step`), p], `${p}_new`);
      return;
    }
    case 'sgd':
      // tfjs's SGDOptimizer: w <- (-lr) g + w.
      opTo(b, 'Add', [op('Mul', [b.scalar('minus_lr', -o.learningRate), g], `${p}/step`), p], `${p}_new`);
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
