import { GraphBuilder } from '../onnx/graphBuilder.js';
import { encodeModel, makeGraph, makeModel, makeNode, makeValueInfo } from '../onnx/proto.js';

/**
 * ONNX graphs that train the book's head on ONNX Runtime: one training step
 * (forward, loss, backward written out by hand, optimizer update) and one
 * evaluation pass. Weights and optimizer state are graph inputs and come out
 * updated; nothing is stored in the graph but constants.
 *
 *   P  = pool(x)                   Flatten | GlobalAveragePool (channels-last: mean over H, W) | x
 *   H  = relu(P W1 + b1)           when units > 0
 *   Hd = H * mask                  when dropout > 0: mask is 0 or 1/keep, drawn by tlkit's Rng
 *   Z  = Hd W2 + b2                logits, [N, 1] (2 classes) or [N, k]
 *   loss = mean(relu(Z) - Z y + softplus(-|Z|))      (binary, from logits, as tf.losses.sigmoidCrossEntropy)
 *        = -sum(y * logsoftmax(Z)) / N               (k classes, as tf.losses.softmaxCrossEntropy)
 *   dZ = (sigmoid(Z) - y) / N  |  (softmax(Z) - y) / N
 *   dW2 = Hd^T dZ, db2 = sum_N dZ, dH = (dZ W2^T) * mask, dA = dH * sign(H), dW1 = P^T dA, db1 = sum_N dA
 *
 * 1/N is an input (`inv_batch`), so the last, smaller batch of an epoch needs no other graph.
 */

export type HeadPoolingKind = 'flatten' | 'avg' | 'none';

export type OptimizerSpec =
  | { kind: 'rmsprop'; learningRate: number; rho: number; epsilon: number }
  | { kind: 'adam'; learningRate: number; beta1: number; beta2: number; epsilon: number }
  | { kind: 'sgd'; learningRate: number };

export interface HeadGraphSpec {
  /** Features of one sample (without the batch axis), channels-last. */
  featureShape: number[];
  pooling: HeadPoolingKind;
  /** Units of the hidden Dense; 0 = no hidden layer. */
  units: number;
  /** The hidden Dense's activation: 'relu' (default) or 'linear' (the book's `Dense(256)`). */
  hiddenActivation?: 'relu' | 'linear';
  /** Whether a dropout mask input multiplies the output layer's input. */
  dropout: boolean;
  /** Output units: 1 (binary, sigmoid cross-entropy) or k (softmax cross-entropy). */
  outputs: number;
  optimizer: OptimizerSpec;
  /**
   * How a Dense and its gradients are written: 'gemm' = Gemm with transA/transB
   * (bias fused), 'matmul' = MatMul + Add with explicit Transpose nodes.
   */
  dense?: 'gemm' | 'matmul';
  /** Also output each gradient as `gradientOutput(param)` (tests). */
  gradients?: boolean;
}

/** One trainable tensor of the head, in the order of the tfjs model's trainableWeights. */
export interface HeadParam {
  /** Graph input name; the updated value is output `<name>_new`. */
  name: string;
  shape: number[];
}

export interface HeadGraphs {
  params: HeadParam[];
  /** Optimizer state inputs (`<name>`, output `<name>_new`), per parameter in order: rms | m then v | none. */
  state: HeadParam[];
  /** Scalar inputs the caller feeds each step besides x, y, mask (`inv_batch`, Adam's bias corrections). */
  scalars: string[];
  train: Uint8Array;
  evaluate: Uint8Array;
}

export const INPUT = { x: 'x', y: 'y', mask: 'mask', invBatch: 'inv_batch', adamC1: 'adam_one_minus_beta1_t', adamC2: 'adam_one_minus_beta2_t' } as const;
export const OUTPUT = { loss: 'loss', accuracy: 'accuracy' } as const;

/** The output that carries a parameter's gradient when the spec asks for gradients. */
export function gradientOutput(param: string): string {
  return `dloss_d${param}`;
}

function pooledSize(spec: HeadGraphSpec): number {
  const fs = spec.featureShape;
  if (spec.pooling === 'avg') return fs[fs.length - 1];
  return fs.reduce((a, b) => a * b, 1);
}

/** Parameters of the head: hidden kernel and bias (when units > 0), output kernel and bias. */
export function headParams(spec: HeadGraphSpec): HeadParam[] {
  const d = pooledSize(spec);
  const m = spec.units > 0 ? spec.units : d;
  return [
    ...(spec.units > 0
      ? [
          { name: 'w1', shape: [d, spec.units] },
          { name: 'b1', shape: [spec.units] },
        ]
      : []),
    { name: 'w2', shape: [m, spec.outputs] },
    { name: 'b2', shape: [spec.outputs] },
  ];
}

export function optimizerState(spec: HeadGraphSpec, params: HeadParam[]): HeadParam[] {
  switch (spec.optimizer.kind) {
    case 'rmsprop':
      return params.map((p) => ({ name: `${p.name}_rms`, shape: p.shape }));
    case 'adam':
      return [...params.map((p) => ({ name: `${p.name}_m`, shape: p.shape })), ...params.map((p) => ({ name: `${p.name}_v`, shape: p.shape }))];
    case 'sgd':
      return [];
  }
}

class HeadEmitter {
  readonly b = new GraphBuilder();

  constructor(readonly spec: HeadGraphSpec) {
    for (const n of [...Object.values(INPUT), ...Object.values(OUTPUT)]) this.b.reserve(n);
  }

  op(type: string, inputs: string[], hint: string, attrs: Record<string, number | number[] | string | { float: number }> = {}): string {
    return this.b.op(type, inputs, hint, attrs);
  }

  /** One node whose output is the graph output `output` itself (no Identity copy of a full-size tensor). */
  opTo(type: string, inputs: string[], output: string): string {
    this.b.nodes.push(makeNode(type, inputs, [output], this.b.uniqueName(`${output}/${type}`)));
    return output;
  }

  /** y = x W + b for x [N, in], W [in, out]. */
  dense(x: string, w: string, bias: string, hint: string): string {
    if (this.spec.dense === 'matmul') return this.op('Add', [this.op('MatMul', [x, w], `${hint}/matmul`), bias], hint);
    return this.op('Gemm', [x, w, bias], hint);
  }

  /** a^T g for a [N, in], g [N, out]: the kernel's gradient [in, out]. */
  kernelGrad(a: string, g: string, hint: string): string {
    if (this.spec.dense === 'matmul') return this.op('MatMul', [this.op('Transpose', [a], `${hint}/aT`, { perm: [1, 0] }), g], hint);
    return this.op('Gemm', [a, g], hint, { transA: 1 });
  }

  /** g W^T for g [N, out], W [in, out]: the gradient of the layer's input. */
  inputGrad(g: string, w: string, hint: string): string {
    if (this.spec.dense === 'matmul') return this.op('MatMul', [g, this.op('Transpose', [w], `${hint}/wT`, { perm: [1, 0] })], hint);
    return this.op('Gemm', [g, w], hint, { transB: 1 });
  }

  pool(x: string): string {
    const { pooling, featureShape } = this.spec;
    if (pooling === 'avg') {
      const axes = featureShape.slice(0, -1).map((_, i) => i + 1);
      return this.op('ReduceMean', [x], 'pool', { axes, keepdims: 0 });
    }
    if (pooling === 'flatten' || featureShape.length > 1) return this.op('Flatten', [x], 'pool', { axis: 1 });
    return x;
  }

  /** Forward to the logits; returns the values the backward pass needs. */
  forward(withMask: boolean): { p: string; h?: string; hd: string; z: string } {
    const p = this.pool(INPUT.x);
    let h: string | undefined;
    let y = p;
    if (this.spec.units > 0) {
      const a = this.dense(p, 'w1', 'b1', 'hidden/linear');
      h = this.spec.hiddenActivation === 'linear' ? a : this.op('Relu', [a], 'hidden');
      y = h;
    }
    const hd = withMask && this.spec.dropout ? this.op('Mul', [y, INPUT.mask], 'dropout') : y;
    const z = this.dense(hd, 'w2', 'b2', 'logits');
    return { p, h, hd, z };
  }

  /** Loss and accuracy outputs; returns dL/dZ. */
  lossAndAccuracy(z: string): string {
    const b = this.b;
    const binary = this.spec.outputs === 1;
    let loss: string;
    let correct: string;
    let prob: string;
    if (binary) {
      const zy = this.op('Mul', [z, INPUT.y], 'loss/zy');
      const sp = this.op('Softplus', [this.op('Neg', [this.op('Abs', [z], 'loss/abs')], 'loss/negabs')], 'loss/softplus');
      const per = this.op('Add', [this.op('Sub', [this.op('Relu', [z], 'loss/relu'), zy], 'loss/diff'), sp], 'loss/per');
      loss = this.op('ReduceMean', [per], 'loss/mean', { keepdims: 0 });
      const predicted = this.op('Cast', [this.op('Greater', [z, b.scalar('zero', 0)], 'acc/positive')], 'acc/predicted', { to: 1 });
      correct = this.op('Equal', [predicted, INPUT.y], 'acc/equal');
      prob = this.op('Sigmoid', [z], 'grad/prob');
    } else {
      const ls = this.op('LogSoftmax', [z], 'loss/logsoftmax', { axis: 1 });
      const sum = this.op('ReduceSum', [this.op('Mul', [INPUT.y, ls], 'loss/ylogp')], 'loss/sum', { keepdims: 0 });
      loss = this.op('Mul', [this.op('Neg', [sum], 'loss/neg'), INPUT.invBatch], 'loss/mean');
      correct = this.op('Equal', [this.op('ArgMax', [z], 'acc/argmax_z', { axis: 1, keepdims: 0 }), this.op('ArgMax', [INPUT.y], 'acc/argmax_y', { axis: 1, keepdims: 0 })], 'acc/equal');
      prob = this.op('Softmax', [z], 'grad/prob', { axis: 1 });
    }
    b.nodes.push(makeNode('Identity', [loss], [OUTPUT.loss], b.uniqueName('loss/out')));
    const acc = this.op('ReduceMean', [this.op('Cast', [correct], 'acc/cast', { to: 1 })], 'acc/mean', { keepdims: 0 });
    b.nodes.push(makeNode('Identity', [acc], [OUTPUT.accuracy], b.uniqueName('acc/out')));
    return this.op('Mul', [this.op('Sub', [prob, INPUT.y], 'grad/residual'), INPUT.invBatch], 'grad/z');
  }

  /** Gradients of every parameter, by name. */
  backward(f: { p: string; h?: string; hd: string }, dz: string): Map<string, string> {
    const grads = new Map<string, string>();
    const axis0 = this.b.int64('axis0', [0]);
    grads.set('w2', this.kernelGrad(f.hd, dz, 'grad/w2'));
    grads.set('b2', this.op('ReduceSum', [dz, axis0], 'grad/b2', { keepdims: 0 }));
    if (f.h) {
      let dh = this.inputGrad(dz, 'w2', 'grad/hd');
      if (this.spec.dropout) dh = this.op('Mul', [dh, INPUT.mask], 'grad/h');
      // relu'(A) = step(A) = sign(H), since H = relu(A) >= 0 (0 where A <= 0, as tfjs's step); linear: dA = dH.
      const da = this.spec.hiddenActivation === 'linear' ? dh : this.op('Mul', [dh, this.op('Sign', [f.h], 'grad/relu_mask')], 'grad/a');
      grads.set('w1', this.kernelGrad(f.p, da, 'grad/w1'));
      grads.set('b1', this.op('ReduceSum', [da, axis0], 'grad/b1', { keepdims: 0 }));
    }
    return grads;
  }

  /** The optimizer's update of one parameter: its last nodes write the graph outputs `<p>_new` and `<s>_new` directly. */
  update(p: HeadParam, g: string): void {
    const o = this.spec.optimizer;
    const b = this.b;
    switch (o.kind) {
      case 'rmsprop': {
        // Keras: v <- rho v + (1 - rho) g^2; w <- w - lr g / sqrt(v + eps) (the order of KerasRMSprop's ops).
        const s = `${p.name}_rms`;
        const v = this.opTo('Add', [this.op('Mul', [s, b.scalar('rho', o.rho)], `${s}/decay`), this.op('Mul', [this.op('Mul', [g, g], `${s}/g2`), b.scalar('one_minus_rho', 1 - o.rho)], `${s}/new_part`)], `${s}_new`);
        const step = this.op('Div', [this.op('Mul', [g, b.scalar('lr', o.learningRate)], `${p.name}/lr_g`), this.op('Sqrt', [this.op('Add', [v, b.scalar('eps', o.epsilon)], `${s}/v_eps`)], `${s}/rms`)], `${p.name}/step`);
        this.opTo('Sub', [p.name, step], `${p.name}_new`);
        return;
      }
      case 'adam': {
        // tfjs's AdamOptimizer: m, v moving averages; w <- w + (-lr) (m / c1) / (sqrt(v / c2) + eps), c = 1 - beta^t.
        const m = this.opTo('Add', [this.op('Mul', [`${p.name}_m`, b.scalar('beta1', o.beta1)], `${p.name}_m/decay`), this.op('Mul', [g, b.scalar('one_minus_beta1', 1 - o.beta1)], `${p.name}_m/new_part`)], `${p.name}_m_new`);
        const v = this.opTo('Add', [this.op('Mul', [`${p.name}_v`, b.scalar('beta2', o.beta2)], `${p.name}_v/decay`), this.op('Mul', [this.op('Mul', [g, g], `${p.name}_v/g2`), b.scalar('one_minus_beta2', 1 - o.beta2)], `${p.name}_v/new_part`)], `${p.name}_v_new`);
        const mHat = this.op('Div', [m, INPUT.adamC1], `${p.name}/m_hat`);
        const vHat = this.op('Div', [v, INPUT.adamC2], `${p.name}/v_hat`);
        const ratio = this.op('Div', [mHat, this.op('Add', [this.op('Sqrt', [vHat], `${p.name}/sqrt_v_hat`), b.scalar('eps', o.epsilon)], `${p.name}/denominator`)], `${p.name}/ratio`);
        this.opTo('Add', [this.op('Mul', [ratio, b.scalar('minus_lr', -o.learningRate)], `${p.name}/step`), p.name], `${p.name}_new`);
        return;
      }
      case 'sgd':
        // tfjs's SGDOptimizer: w <- (-lr) g + w.
        this.opTo('Add', [this.op('Mul', [b.scalar('minus_lr', -o.learningRate), g], `${p.name}/step`), p.name], `${p.name}_new`);
        return;
    }
  }
}

function batchShape(shape: number[]): Array<number | null> {
  return [null, ...shape];
}

function scalarInputs(spec: HeadGraphSpec, training: boolean): string[] {
  return [INPUT.invBatch, ...(training && spec.optimizer.kind === 'adam' ? [INPUT.adamC1, INPUT.adamC2] : [])];
}

function dataInputs(spec: HeadGraphSpec, training: boolean) {
  const maskWidth = spec.units > 0 ? spec.units : pooledSize(spec);
  return [
    makeValueInfo(INPUT.x, batchShape(spec.featureShape)),
    makeValueInfo(INPUT.y, [null, spec.outputs]),
    ...(training && spec.dropout ? [makeValueInfo(INPUT.mask, [null, maskWidth])] : []),
    ...scalarInputs(spec, training).map((n) => makeValueInfo(n, [])),
  ];
}

/** Build the training-step and evaluation graphs of a head. */
export function buildHeadGraphs(spec: HeadGraphSpec): HeadGraphs {
  if (spec.outputs < 1 || !Number.isInteger(spec.outputs)) throw new Error(`head graph: outputs must be a whole number >= 1, got ${spec.outputs}`);
  const params = headParams(spec);
  const state = optimizerState(spec, params);

  // Training step.
  const t = new HeadEmitter(spec);
  for (const p of [...params, ...state]) {
    t.b.reserve(p.name);
    t.b.reserve(`${p.name}_new`);
  }
  const gradOutputs = spec.gradients ? params.map((p) => gradientOutput(p.name)) : [];
  for (const g of gradOutputs) t.b.reserve(g);
  const f = t.forward(true);
  const dz = t.lossAndAccuracy(f.z);
  const grads = t.backward(f, dz);
  for (const p of params) t.update(p, grads.get(p.name) as string);
  params.forEach((p, i) => {
    if (gradOutputs[i]) t.b.nodes.push(makeNode('Identity', [grads.get(p.name) as string], [gradOutputs[i]], t.b.uniqueName(`${gradOutputs[i]}/out`)));
  });
  const trainGraph = makeGraph(
    t.b.nodes,
    'tlkit_head_train_step',
    [...dataInputs(spec, true), ...[...params, ...state].map((p) => makeValueInfo(p.name, p.shape))],
    [
      makeValueInfo(OUTPUT.loss, []),
      makeValueInfo(OUTPUT.accuracy, []),
      ...[...params, ...state].map((p) => makeValueInfo(`${p.name}_new`, p.shape)),
      ...params.map((p, i) => (gradOutputs[i] ? makeValueInfo(gradOutputs[i], p.shape) : undefined)).filter((v) => v !== undefined),
    ],
    t.b.initializers,
  );

  // Evaluation: forward, loss and accuracy only.
  const e = new HeadEmitter(spec);
  for (const p of params) e.b.reserve(p.name);
  const ef = e.forward(false);
  e.lossAndAccuracy(ef.z);
  // Drop the gradient's start (dL/dZ), which evaluation does not output: keep only nodes that lead to an output.
  const evalNodes = pruneTo(e.b.nodes, [OUTPUT.loss, OUTPUT.accuracy]);
  const used = new Set(evalNodes.flatMap((n) => n.input ?? []));
  const evalGraph = makeGraph(
    evalNodes,
    'tlkit_head_evaluate',
    [...dataInputs(spec, false), ...params.map((p) => makeValueInfo(p.name, p.shape))],
    [makeValueInfo(OUTPUT.loss, []), makeValueInfo(OUTPUT.accuracy, [])],
    e.b.initializers.filter((i) => used.has(i.name as string)),
  );
  return { params, state, scalars: scalarInputs(spec, true), train: encodeModel(makeModel(trainGraph)), evaluate: encodeModel(makeModel(evalGraph)) };
}

type Node = ReturnType<typeof makeNode>;

/** The nodes needed to compute `outputs`, in their original order. */
function pruneTo(nodes: Node[], outputs: string[]): Node[] {
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
