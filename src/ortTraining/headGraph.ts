import { GraphBuilder } from '../onnx/graphBuilder.js';
import { makeNode, makeValueInfo } from '../onnx/proto.js';
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

export { gradientOutput, INPUT, type OptimizerSpec } from './trainingOps.js';

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
 *   loss = mean(relu(Z) - Z y + softplus(-|Z|))      (binary and multi-label, from logits, as tf.losses.sigmoidCrossEntropy; y label-smoothed)
 *        = -sum(y * logsoftmax(Z)) / N               (k classes, as tf.losses.softmaxCrossEntropy)
 *   dZ = (sigmoid(Z) - y) / N  |  (softmax(Z) - y) / N
 *   dW2 = Hd^T dZ, db2 = sum_N dZ, dH = (dZ W2^T) * mask, dA = dH * sign(H), dW1 = P^T dA, db1 = sum_N dA
 *
 * 1/N is an input (`inv_batch`), so the last, smaller batch of an epoch needs no other graph.
 */

export type HeadPoolingKind = 'flatten' | 'avg' | 'none';

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
  /** Keras's label smoothing of the loss (0: none). */
  labelSmoothing?: number;
  /** `outputs` independent sigmoid units against multi-hot targets (binary cross-entropy), not a softmax. */
  multiLabel?: boolean;
  optimizer: OptimizerSpec;
  /**
   * How a Dense and its gradients are written: 'gemm' = Gemm with transA/transB
   * (bias fused), 'matmul' = MatMul + Add with explicit Transpose nodes.
   */
  dense?: 'gemm' | 'matmul';
  /** Also output each gradient as `gradientOutput(param)` (tests). */
  gradients?: boolean;
  /** Where the optimizer runs (default 'graph'). */
  update?: UpdateSite;
  /**
   * With a host update: the graph outputs the hidden layer's pre-activation gradient dA
   * (`OUTER_GRADIENT`, [N, units]) instead of the hidden kernel's gradient, and the update
   * kernels form that gradient row by row (outerProductKernels.ts). Needs flattened (or
   * unpooled) features, so that the layer's input is the graph's input x.
   */
  outerKernelGradient?: boolean;
}

/** The output that carries dA when the hidden kernel's gradient is formed by the update (outerKernelGradient). */
export const OUTER_GRADIENT = 'dloss_dhidden';

/** Whether a head can train with outerKernelGradient: a hidden layer whose input is x, units in whole blocks of the kernels' columns. */
export function outerGradientFits(spec: Pick<HeadGraphSpec, 'units' | 'pooling'>, columns: number): boolean {
  return spec.units > 0 && spec.units % columns === 0 && spec.pooling !== 'avg';
}

/** One trainable tensor of the head, in the order of the tfjs model's trainableWeights. */
export type HeadParam = GraphTensor;

export interface HeadGraphs {
  params: HeadParam[];
  /** Optimizer state per parameter, in order: rms | m then v | none (graph inputs `<name>` -> `<name>_new` when the graph updates). */
  state: HeadParam[];
  update: UpdateSite;
  /** With outerKernelGradient: the parameter whose gradient the update forms from the graph's dA output. */
  outer?: { param: string; output: string };
  train: Uint8Array;
  evaluate: Uint8Array;
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

class HeadEmitter {
  readonly b = new GraphBuilder();

  constructor(readonly spec: HeadGraphSpec) {
    for (const n of [...Object.values(INPUT), ...Object.values(OUTPUT), OUTER_GRADIENT]) this.b.reserve(n);
  }

  op(type: string, inputs: string[], hint: string, attrs: Record<string, number | number[] | string | { float: number }> = {}): string {
    return this.b.op(type, inputs, hint, attrs);
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
    return emitLossAndAccuracy(this.b, z, this.spec.outputs, this.spec.labelSmoothing, this.spec.multiLabel);
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
      if (this.spec.outerKernelGradient) this.b.nodes.push(makeNode('Identity', [da], [OUTER_GRADIENT], this.b.uniqueName('grad/da/out')));
      else grads.set('w1', this.kernelGrad(f.p, da, 'grad/w1'));
      grads.set('b1', this.op('ReduceSum', [da, axis0], 'grad/b1', { keepdims: 0 }));
    }
    return grads;
  }
}

function batchShape(shape: number[]): Array<number | null> {
  return [null, ...shape];
}

function dataInputs(spec: HeadGraphSpec, training: boolean) {
  const maskWidth = spec.units > 0 ? spec.units : pooledSize(spec);
  return [
    makeValueInfo(INPUT.x, batchShape(spec.featureShape)),
    makeValueInfo(INPUT.y, [null, spec.outputs]),
    ...(training && spec.dropout ? [makeValueInfo(INPUT.mask, [null, maskWidth])] : []),
  ];
}

/** Build the training-step and evaluation graphs of a head. */
export function buildHeadGraphs(spec: HeadGraphSpec): HeadGraphs {
  if (spec.outputs < 1 || !Number.isInteger(spec.outputs))
    throw new Error(`head graph: outputs must be a whole number >= 1, got ${spec.outputs}`);
  const params = headParams(spec);
  const update = spec.update ?? 'graph';
  const state = optimizerState(spec.optimizer, params);
  if (spec.outerKernelGradient && (update !== 'host' || spec.units === 0 || spec.pooling === 'avg' || spec.gradients))
    throw new Error('head graph: outerKernelGradient needs a host update, a hidden layer, flattened features and no gradient outputs');

  const t = new HeadEmitter(spec);
  reserveTrainingNames(t.b, spec.optimizer, params, true);
  const f = t.forward(true);
  const dz = t.lossAndAccuracy(f.z);
  const grads = t.backward(f, dz);
  const train = encodeTrainStep({
    builder: t.b,
    name: 'tlkit_head_train_step',
    dataInputs: dataInputs(spec, true),
    params,
    grads,
    optimizer: spec.optimizer,
    update,
    gradients: spec.gradients,
    outputs: spec.outerKernelGradient ? [{ name: OUTER_GRADIENT, shape: [null, spec.units] }] : undefined,
  });

  const e = new HeadEmitter(spec);
  for (const p of params) e.b.reserve(p.name);
  e.lossAndAccuracy(e.forward(false).z);
  const evaluate = encodeEvaluation(e.b, 'tlkit_head_evaluate', dataInputs(spec, false), params);
  const outer = spec.outerKernelGradient ? { param: 'w1', output: OUTER_GRADIENT } : undefined;
  return { params, state, update, outer, train, evaluate };
}
