import type { GraphBuilder } from '../onnx/graphBuilder.js';
import type { INodeProto, ITensorProto } from '../onnx/proto.js';
import { Backward, type BackwardOptions } from './gradientRules.js';
import { NotDifferentiable } from './notDifferentiable.js';
import type { Shape } from './shapeInference.js';

/**
 * Reverse-mode differentiation of the ONNX graphs tlkit's exporter writes: given the
 * forward nodes, the static shapes of their values and the values to differentiate
 * with respect to, emit the nodes of the backward pass into the same builder.
 *
 * The rules are written for ONNX Runtime's fast CPU kernels (as measured on them):
 *   Conv         dX as ConvTranspose; dW as a Conv over batch-and-channel-swapped tensors
 *                (the input's channels become the batch, the output gradient the filter);
 *                the bias as ReduceSum. Depthwise (group = channels) the same per group.
 *   MaxPool      its Indices output scatters dY back (ScatterElements with add, opset 16+).
 *   Relu, Clip   masks; frozen BatchNormalization (inference mode) a per-channel scale.
 *   Gemm/MatMul  Gemm with transposes folded into transA/transB.
 * Values that no differentiated input reaches get no gradient (the frozen input's
 * dX, the first conv's largest product, is never computed).
 */

/**
 * Emit the backward pass of `nodes` from `dOutput` (the gradient of `output`) into `b`;
 * returns the gradient value of each name in `wrt`. `shapes` must hold every value's
 * shape (inferShapes), `constants` the initializers by name.
 */
export function emitBackward(
  b: GraphBuilder,
  nodes: INodeProto[],
  shapes: Map<string, Shape>,
  constants: Map<string, ITensorProto>,
  wrt: string[],
  output: string,
  dOutput: string,
  opts: BackwardOptions = {},
): Map<string, string> {
  // Values that depend on a differentiated input: only they carry gradients.
  const live = new Set(wrt);
  for (const n of nodes) if ((n.input ?? []).some((i) => live.has(i))) for (const o of n.output ?? []) live.add(o);
  if (!live.has(output)) throw new NotDifferentiable(`${output} does not depend on ${wrt.join(', ')}`);
  const pending = new Map<string, string[]>([[output, [dOutput]]]);
  const total = (name: string): string | undefined => {
    const parts = pending.get(name);
    if (!parts || parts.length === 0) return undefined;
    const sum = parts.reduce((acc, p) => b.op('Add', [acc, p], `grad/${name}/sum`));
    pending.set(name, [sum]);
    return sum;
  };
  const backward = new Backward(b, shapes, constants, opts);
  for (const node of [...nodes].reverse()) {
    const out = (node.output ?? [])[0];
    if (!live.has(out)) continue;
    const dy = total(out);
    if (!dy) continue;
    const grads = backward.node(node, dy, (name) => live.has(name));
    for (const [name, grad] of grads) {
      if (!live.has(name)) continue;
      pending.set(name, [...(pending.get(name) ?? []), grad]);
    }
  }
  const result = new Map<string, string>();
  for (const name of wrt) {
    const grad = total(name);
    if (!grad) throw new NotDifferentiable(`${name} gets no gradient from ${output}`);
    result.set(name, grad);
  }
  return result;
}
