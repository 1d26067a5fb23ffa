import type { GraphBuilder } from '../onnx/graphBuilder.js';
import type { INodeProto, ITensorProto } from '../onnx/proto.js';

/**
 * Reverse-mode differentiation of the ONNX graphs tlkit's exporter writes: given the
 * forward nodes, the static shapes of their values and the values to differentiate
 * with respect to, emit the nodes of the backward pass into the same builder.
 *
 * The rules are written for ONNX Runtime's fast CPU kernels (issue 10's measurements):
 *   Conv         dX as ConvTranspose; dW as a Conv over batch-and-channel-swapped tensors
 *                (the input's channels become the batch, the output gradient the filter);
 *                the bias as ReduceSum. Depthwise (group = channels) the same per group.
 *   MaxPool      its Indices output scatters dY back (ScatterElements with add, opset 16+).
 *   Relu, Clip   masks; frozen BatchNormalization (inference mode) a per-channel scale.
 *   Gemm/MatMul  Gemm with transposes folded into transA/transB.
 * Values that no differentiated input reaches get no gradient (the frozen input's
 * dX, the first conv's largest product, is never computed).
 */

export type Shape = Array<number | null>;

/** The graph holds an op or an attribute these rules do not differentiate. */
export class NotDifferentiable extends Error {}

type AttrValue = number | number[] | string | undefined;

function attribute(node: INodeProto, name: string): AttrValue {
  const a = node.attribute?.find((x) => x.name === name);
  if (!a) return undefined;
  // AttributeProto types: 1 FLOAT, 2 INT, 3 STRING, 7 INTS.
  switch (a.type) {
    case 1:
      return Number(a.f ?? 0);
    case 2:
      return Number(a.i ?? 0);
    case 3:
      return new TextDecoder().decode(a.s ?? new Uint8Array());
    case 7:
      return (a.ints ?? []).map(Number);
    default:
      return undefined;
  }
}

function ints(node: INodeProto, name: string, fallback: number[]): number[] {
  const v = attribute(node, name);
  return Array.isArray(v) ? v : fallback;
}

function int(node: INodeProto, name: string, fallback: number): number {
  const v = attribute(node, name);
  return typeof v === 'number' ? v : fallback;
}

/** Float or int64 data of a constant (an initializer). */
export function constantData(t: ITensorProto): Float32Array | BigInt64Array {
  const raw = t.rawData as Uint8Array;
  const copy = raw.slice();
  return t.dataType === 7 ? new BigInt64Array(copy.buffer) : new Float32Array(copy.buffer);
}

function broadcast(a: Shape, b: Shape): Shape {
  const rank = Math.max(a.length, b.length);
  const out: Shape = [];
  for (let i = 0; i < rank; i++) {
    // Missing leading axes broadcast as 1 (null is the batch, not a missing axis).
    const ia = a.length - rank + i;
    const ib = b.length - rank + i;
    const x = ia >= 0 ? a[ia] : 1;
    const y = ib >= 0 ? b[ib] : 1;
    out.push(x === 1 ? y : y === 1 ? x : x === null || y === null ? null : Math.max(x, y));
  }
  return out;
}

function outSize(size: number, kernel: number, stride: number, dilation: number, padBegin: number, padEnd: number): number {
  return Math.floor((size + padBegin + padEnd - ((kernel - 1) * dilation + 1)) / stride) + 1;
}

const product = (dims: Array<number | null>) => dims.reduce<number>((a, d) => a * (d ?? NaN), 1);

/** Static shapes of every value the nodes produce (batch = null), from the inputs' and constants' shapes. */
export function inferShapes(nodes: INodeProto[], shapes: Map<string, Shape>, constants: Map<string, ITensorProto>): void {
  const shapeOf = (name: string): Shape => {
    const s = shapes.get(name);
    if (!s) throw new NotDifferentiable(`no shape known for ${name}`);
    return s;
  };
  for (const node of nodes) {
    const ins = node.input ?? [];
    const op = node.opType as string;
    let out: Shape;
    switch (op) {
      case 'Identity':
      case 'Relu':
      case 'Clip':
      case 'Sigmoid':
      case 'Tanh':
      case 'Erf':
      case 'Sqrt':
      case 'Neg':
      case 'Abs':
      case 'Softplus':
      case 'BatchNormalization':
      case 'Softmax':
      case 'LogSoftmax':
      case 'Exp':
        out = shapeOf(ins[0]);
        break;
      case 'Add':
      case 'Sub':
      case 'Mul':
      case 'Div':
      case 'Pow':
        out = broadcast(shapeOf(ins[0]), shapeOf(ins[1]));
        break;
      case 'Transpose': {
        const s = shapeOf(ins[0]);
        out = ints(
          node,
          'perm',
          s.map((_, i) => s.length - 1 - i),
        ).map((p) => s[p]);
        break;
      }
      case 'Conv':
      case 'MaxPool':
      case 'AveragePool': {
        const [n, c, h, w] = shapeOf(ins[0]);
        if (attribute(node, 'auto_pad') !== undefined && attribute(node, 'auto_pad') !== 'NOTSET')
          throw new NotDifferentiable(`${op} ${node.name} uses auto_pad`);
        if (int(node, 'ceil_mode', 0)) throw new NotDifferentiable(`${op} ${node.name} uses ceil_mode`);
        const wShape = op === 'Conv' ? shapeOf(ins[1]) : undefined;
        const k = op === 'Conv' ? (wShape!.slice(2) as number[]) : ints(node, 'kernel_shape', []);
        const s = ints(node, 'strides', [1, 1]);
        const d = ints(node, 'dilations', [1, 1]);
        const p = ints(node, 'pads', [0, 0, 0, 0]);
        if (h === null || w === null) throw new NotDifferentiable(`${op} ${node.name}: unknown spatial size`);
        out = [n, op === 'Conv' ? wShape![0] : c, outSize(h, k[0], s[0], d[0], p[0], p[2]), outSize(w, k[1], s[1], d[1], p[1], p[3])];
        break;
      }
      case 'GlobalAveragePool':
      case 'GlobalMaxPool': {
        const s = shapeOf(ins[0]);
        out = [s[0], s[1], ...s.slice(2).map(() => 1)];
        break;
      }
      case 'Flatten': {
        const s = shapeOf(ins[0]);
        const axis = int(node, 'axis', 1);
        const lead = s.slice(0, axis);
        out = [lead.length === 1 ? lead[0] : product(lead), product(s.slice(axis))];
        if (axis !== 1 || out[1] === null || Number.isNaN(out[1]))
          throw new NotDifferentiable(`Flatten ${node.name}: only axis 1 over known sizes`);
        break;
      }
      case 'Reshape': {
        const s = shapeOf(ins[0]);
        const target = constants.get(ins[1]);
        if (!target) throw new NotDifferentiable(`Reshape ${node.name}: the shape is not a constant`);
        const dims = Array.from(constantData(target) as BigInt64Array, Number);
        const known = dims.map((d, i) => (d === 0 ? s[i] : d));
        const rest = product(s.slice(1)) / product(known.filter((d, i) => i > 0 && d !== -1));
        out = known.map((d, i) => (d === -1 ? (i === 0 ? null : rest) : d));
        break;
      }
      case 'Gemm': {
        const a = shapeOf(ins[0]);
        const b = shapeOf(ins[1]);
        out = [int(node, 'transA', 0) ? a[1] : a[0], int(node, 'transB', 0) ? b[0] : b[1]];
        break;
      }
      case 'MatMul': {
        const a = shapeOf(ins[0]);
        const b = shapeOf(ins[1]);
        if (b.length !== 2) throw new NotDifferentiable(`MatMul ${node.name}: only a rank-2 right operand`);
        out = [...a.slice(0, -1), b[1]];
        break;
      }
      case 'ReduceMean': {
        const s = shapeOf(ins[0]);
        const axes = ints(
          node,
          'axes',
          s.map((_, i) => i),
        ).map((a) => (a < 0 ? a + s.length : a));
        out = int(node, 'keepdims', 1) ? s.map((d, i) => (axes.includes(i) ? 1 : d)) : s.filter((_, i) => !axes.includes(i));
        break;
      }
      case 'Pad': {
        const s = shapeOf(ins[0]);
        const pads = constants.get(ins[1]);
        if (!pads || (attribute(node, 'mode') ?? 'constant') !== 'constant')
          throw new NotDifferentiable(`Pad ${node.name}: only constant pads`);
        const p = Array.from(constantData(pads) as BigInt64Array, Number);
        out = s.map((d, i) => (d === null ? (p[i] || p[i + s.length] ? NaN : null) : d + p[i] + p[i + s.length]));
        break;
      }
      default:
        throw new NotDifferentiable(`op ${op} (node ${node.name})`);
    }
    if (out.some((d) => d !== null && !Number.isFinite(d))) throw new NotDifferentiable(`${op} ${node.name}: cannot tell its output shape`);
    shapes.set((node.output ?? [])[0], out);
  }
}

/** Emits gradient nodes; one instance per backward pass. */
/**
 * How a stride-1 convolution's input gradient is written: 'transpose' = ConvTranspose by the
 * filter; 'flipped' = a Conv by the filter flipped in space with its channel axes swapped
 * (strided convs always use ConvTranspose). bench/finetune.ts --only micro measures both.
 */
export type ConvInputGradient = 'transpose' | 'flipped';

export interface BackwardOptions {
  convInputGradient?: ConvInputGradient;
}

class Backward {
  constructor(
    private readonly b: GraphBuilder,
    private readonly shapes: Map<string, Shape>,
    private readonly constants: Map<string, ITensorProto>,
    private readonly opts: BackwardOptions,
  ) {}

  private op(
    type: string,
    inputs: string[],
    hint: string,
    attrs: Record<string, number | number[] | string | { float: number }> = {},
  ): string {
    return this.b.op(type, inputs, hint, attrs);
  }

  private shape(name: string): Shape {
    return this.shapes.get(name) as Shape;
  }

  private dynamicShape(name: string): string {
    return this.op('Shape', [name], `${name}/shape`);
  }

  /** Sum `grad` (shaped like `from`) over the axes that broadcasting expanded, back to the shape of `target`. */
  reduceTo(grad: string, from: Shape, target: string): string {
    const t = this.shape(target);
    const padded = [...Array(from.length - t.length).fill(1), ...t];
    const axes = padded.flatMap((d, i) => (d === 1 && from[i] !== 1 ? [i] : []));
    let g = axes.length
      ? this.op('ReduceSum', [grad, this.b.int64(`${target}/grad_axes`, axes)], `${target}/grad_sum`, { keepdims: 1 })
      : grad;
    if (t.length !== from.length) g = this.op('Reshape', [g, this.dynamicShape(target)], `${target}/grad_shape`);
    return g;
  }

  /** dL/d(inputs) of one node, for the inputs that `needs` says get a gradient. */
  node(node: INodeProto, dy: string, needs: (name: string) => boolean): Map<string, string> {
    const ins = node.input ?? [];
    const [x, w, bias] = ins;
    const y = (node.output ?? [])[0];
    const op = node.opType as string;
    const g = new Map<string, string>();
    const want = (i: number) => ins[i] !== undefined && ins[i] !== '' && needs(ins[i]);
    const hint = `grad/${y}`;
    switch (op) {
      case 'Identity':
        g.set(x, dy);
        break;
      case 'Relu':
        // relu'(x) = step(x) = sign(y) for y = relu(x) >= 0 (0 at x = 0, as tfjs).
        g.set(x, this.op('Mul', [dy, this.op('Sign', [y], `${hint}/mask`)], hint));
        break;
      case 'Clip': {
        const inside = this.op(
          'And',
          [this.op('Greater', [x, w], `${hint}/above`), this.op('Less', [x, bias], `${hint}/below`)],
          `${hint}/inside`,
        );
        g.set(x, this.op('Mul', [dy, this.op('Cast', [inside], `${hint}/mask`, { to: 1 })], hint));
        break;
      }
      case 'Sigmoid': {
        const slope = this.op('Mul', [y, this.op('Sub', [this.b.scalar(`${hint}/one`, 1), y], `${hint}/one_minus`)], `${hint}/slope`);
        g.set(x, this.op('Mul', [dy, slope], hint));
        break;
      }
      case 'Tanh':
        g.set(
          x,
          this.op(
            'Mul',
            [dy, this.op('Sub', [this.b.scalar(`${hint}/one`, 1), this.op('Mul', [y, y], `${hint}/y2`)], `${hint}/slope`)],
            hint,
          ),
        );
        break;
      case 'Erf': {
        const gauss = this.op('Exp', [this.op('Neg', [this.op('Mul', [x, x], `${hint}/x2`)], `${hint}/neg`)], `${hint}/gauss`);
        g.set(x, this.op('Mul', [dy, this.op('Mul', [gauss, this.b.scalar(`${hint}/c`, 2 / Math.sqrt(Math.PI))], `${hint}/slope`)], hint));
        break;
      }
      case 'Sqrt':
        g.set(x, this.op('Div', [this.op('Mul', [dy, this.b.scalar(`${hint}/half`, 0.5)], `${hint}/half_dy`), y], hint));
        break;
      case 'Neg':
        g.set(x, this.op('Neg', [dy], hint));
        break;
      case 'Pow': {
        const e = this.constants.get(w);
        const exponent = e ? constantData(e) : undefined;
        if (exponent?.length !== 1 || want(1)) throw new NotDifferentiable(`Pow ${node.name}: only a constant scalar exponent`);
        const k = Number(exponent[0]);
        const slope =
          k === 2
            ? this.op('Mul', [x, this.b.scalar(`${hint}/k`, 2)], `${hint}/slope`)
            : this.op(
                'Mul',
                [this.op('Pow', [x, this.b.scalar(`${hint}/k1`, k - 1)], `${hint}/pow`), this.b.scalar(`${hint}/k`, k)],
                `${hint}/slope`,
              );
        g.set(x, this.op('Mul', [dy, slope], hint));
        break;
      }
      case 'Add':
      case 'Sub':
      case 'Mul':
      case 'Div': {
        const ys = this.shape(y);
        if (want(0)) {
          const ga = op === 'Mul' ? this.op('Mul', [dy, w], `${hint}/a`) : op === 'Div' ? this.op('Div', [dy, w], `${hint}/a`) : dy;
          g.set(x, this.reduceTo(ga, ys, x));
        }
        if (want(1)) {
          const gb =
            op === 'Add'
              ? dy
              : op === 'Sub'
                ? this.op('Neg', [dy], `${hint}/b`)
                : op === 'Mul'
                  ? this.op('Mul', [dy, x], `${hint}/b`)
                  : this.op('Neg', [this.op('Mul', [dy, this.op('Div', [y, w], `${hint}/y_over_b`)], `${hint}/b_part`)], `${hint}/b`);
          // x * x (a square) gets both halves: the caller sums them.
          const reduced = this.reduceTo(gb, ys, w);
          if (w === x && g.has(x)) g.set(x, this.op('Add', [g.get(x) as string, reduced], `${hint}/both`));
          else g.set(w, reduced);
        }
        break;
      }
      case 'Transpose': {
        const perm = ints(node, 'perm', []);
        const inverse = perm.map((_, i) => perm.indexOf(i));
        g.set(x, this.op('Transpose', [dy], hint, { perm: inverse }));
        break;
      }
      case 'Flatten':
      case 'Reshape':
        g.set(x, this.op('Reshape', [dy, this.dynamicShape(x)], hint));
        break;
      case 'GlobalAveragePool': {
        const s = this.shape(x);
        const count = product(s.slice(2));
        g.set(
          x,
          this.op(
            'Expand',
            [this.op('Mul', [dy, this.b.scalar(`${hint}/inv_count`, 1 / count)], `${hint}/scaled`), this.dynamicShape(x)],
            hint,
          ),
        );
        break;
      }
      case 'ReduceMean': {
        const s = this.shape(x);
        const axes = ints(
          node,
          'axes',
          s.map((_, i) => i),
        ).map((a) => (a < 0 ? a + s.length : a));
        const count = product(axes.map((a) => s[a]));
        if (!Number.isFinite(count)) throw new NotDifferentiable(`ReduceMean ${node.name} over the batch`);
        const kept = int(node, 'keepdims', 1) ? dy : this.op('Unsqueeze', [dy, this.b.int64(`${hint}/axes`, axes)], `${hint}/unsqueezed`);
        g.set(
          x,
          this.op(
            'Expand',
            [this.op('Mul', [kept, this.b.scalar(`${hint}/inv_count`, 1 / count)], `${hint}/scaled`), this.dynamicShape(x)],
            hint,
          ),
        );
        break;
      }
      case 'Pad': {
        const s = this.shape(x);
        const p = Array.from(constantData(this.constants.get(w) as ITensorProto) as BigInt64Array, Number);
        const axes = s.flatMap((_, i) => (p[i] || p[i + s.length] ? [i] : []));
        const starts = axes.map((i) => p[i]);
        const ends = axes.map((i) => p[i] + (s[i] as number));
        g.set(
          x,
          this.op(
            'Slice',
            [dy, this.b.int64(`${hint}/starts`, starts), this.b.int64(`${hint}/ends`, ends), this.b.int64(`${hint}/axes`, axes)],
            hint,
          ),
        );
        break;
      }
      case 'BatchNormalization': {
        // Frozen, inference mode: y = x * gamma / sqrt(var + eps) + (beta - mean * that): dX = dY * gamma / sqrt(var + eps).
        if ([1, 2, 3, 4].some(want))
          throw new NotDifferentiable(`BatchNormalization ${node.name}: only frozen (its statistics and scale are constants)`);
        const [gamma, , , variance] = [ins[1], ins[2], ins[3], ins[4]].map((n) => this.constants.get(n));
        if (!gamma || !variance) throw new NotDifferentiable(`BatchNormalization ${node.name}: scale or variance is not a constant`);
        const gm = constantData(gamma) as Float32Array;
        const v = constantData(variance) as Float32Array;
        const eps = Number(attribute(node, 'epsilon') ?? 1e-5);
        const scale = gm.map((c, i) => c / Math.sqrt(v[i] + eps));
        const rank = this.shape(x).length;
        const dims = [scale.length, ...Array(Math.max(rank - 2, 0)).fill(1)];
        g.set(x, this.op('Mul', [dy, this.b.constant(`${hint}/scale`, dims, scale)], hint));
        break;
      }
      case 'Gemm': {
        if (int(node, 'transA', 0) || Number(attribute(node, 'alpha') ?? 1) !== 1 || Number(attribute(node, 'beta') ?? 1) !== 1) {
          throw new NotDifferentiable(`Gemm ${node.name}: only transA = 0, alpha = beta = 1`);
        }
        const transB = int(node, 'transB', 0);
        if (want(0)) g.set(x, transB ? this.op('Gemm', [dy, w], `${hint}/a`) : this.op('Gemm', [dy, w], `${hint}/a`, { transB: 1 }));
        if (want(1))
          g.set(w, transB ? this.op('Gemm', [dy, x], `${hint}/b`, { transA: 1 }) : this.op('Gemm', [x, dy], `${hint}/b`, { transA: 1 }));
        if (want(2)) g.set(bias, this.reduceTo(dy, this.shape(y), bias));
        break;
      }
      case 'MatMul': {
        const ws = this.shape(w);
        if (want(0)) g.set(x, this.op('MatMul', [dy, this.op('Transpose', [w], `${hint}/bT`, { perm: [1, 0] })], `${hint}/a`));
        if (want(1)) {
          const rows = (v: string, width: number) =>
            this.shape(x).length === 2 ? v : this.op('Reshape', [v, this.b.int64(`${hint}/rows`, [-1, width])], `${v}/rows`);
          g.set(w, this.op('Gemm', [rows(x, ws[0] as number), rows(dy, ws[1] as number)], `${hint}/b`, { transA: 1 }));
        }
        break;
      }
      case 'MaxPool': {
        // Scatter dY to where each window's maximum was (ORT's indices run over the whole NCHW tensor).
        if (int(node, 'storage_order', 0)) throw new NotDifferentiable(`MaxPool ${node.name}: storage_order 1`);
        const indices = this.b.uniqueName(`${y}/indices`);
        (node.output as string[])[1] = indices;
        const flat = this.b.int64(`${hint}/flat`, [-1]);
        const zeros = this.op(
          'ConstantOfShape',
          [this.op('Shape', [this.op('Reshape', [x, flat], `${hint}/x_flat`)], `${hint}/size`)],
          `${hint}/zeros`,
        );
        const scattered = this.op(
          'ScatterElements',
          [zeros, this.op('Reshape', [indices, flat], `${hint}/idx_flat`), this.op('Reshape', [dy, flat], `${hint}/dy_flat`)],
          `${hint}/scatter`,
          { axis: 0, reduction: 'add' },
        );
        g.set(x, this.op('Reshape', [scattered, this.dynamicShape(x)], hint));
        break;
      }
      case 'Conv':
        this.conv(node, dy, want, g);
        break;
      default:
        throw new NotDifferentiable(`op ${op} (node ${node.name})`);
    }
    return g;
  }

  private conv(node: INodeProto, dy: string, want: (i: number) => boolean, g: Map<string, string>): void {
    const [x, w, bias] = node.input as string[];
    const y = (node.output as string[])[0];
    const hint = `grad/${y}`;
    const [, ci, h, wd] = this.shape(x) as number[];
    const [co, ciPerGroup, kh, kw] = this.shape(w) as number[];
    const [, , ho, wo] = this.shape(y) as number[];
    const group = int(node, 'group', 1);
    const s = ints(node, 'strides', [1, 1]);
    const d = ints(node, 'dilations', [1, 1]);
    const p = ints(node, 'pads', [0, 0, 0, 0]);
    if (want(2)) g.set(bias, this.op('ReduceSum', [dy, this.b.int64(`${hint}/bias_axes`, [0, 2, 3])], `${hint}/bias`, { keepdims: 0 }));
    const stride1 = s[0] === 1 && s[1] === 1;
    if (want(0) && stride1 && group === 1 && this.opts.convInputGradient === 'flipped') {
      // dX = dY convolved with W turned 180 degrees in space, in and out channels swapped; pads (k - 1) d - p on each side.
      const flipped = this.op(
        'Slice',
        [
          w,
          this.b.int64(`${hint}/flip_starts`, [-1, -1]),
          this.b.int64(`${hint}/flip_ends`, [-kh - 1, -kw - 1]),
          this.b.int64(`${hint}/flip_axes`, [2, 3]),
          this.b.int64(`${hint}/flip_steps`, [-1, -1]),
        ],
        `${hint}/w_flipped`,
      );
      const swapped = this.op('Transpose', [flipped], `${hint}/w_swapped`, { perm: [1, 0, 2, 3] });
      const pads = [(kh - 1) * d[0] - p[0], (kw - 1) * d[1] - p[1], (kh - 1) * d[0] - p[2], (kw - 1) * d[1] - p[3]];
      g.set(x, this.op('Conv', [dy, swapped], `${hint}/x`, { dilations: d, pads, kernel_shape: [kh, kw] }));
    } else if (want(0)) {
      // The transposed convolution of dY by the same filter; output_padding restores the rows a stride dropped.
      const outputPadding = [
        h - ((ho - 1) * s[0] + (kh - 1) * d[0] + 1 - p[0] - p[2]),
        wd - ((wo - 1) * s[1] + (kw - 1) * d[1] + 1 - p[1] - p[3]),
      ];
      g.set(
        x,
        this.op('ConvTranspose', [dy, w], `${hint}/x`, {
          strides: s,
          dilations: d,
          pads: p,
          group,
          kernel_shape: [kh, kw],
          output_padding: outputPadding,
        }),
      );
    }
    if (!want(1)) return;
    // Depthwise: one input channel per group, `co / ci` outputs each (the depth multiplier).
    const depthwise = group > 1 && group === ci && ciPerGroup === 1 && co % ci === 0;
    if (group !== 1 && !depthwise) throw new NotDifferentiable(`Conv ${node.name}: group ${group} with ${ci} -> ${co} channels`);
    // dW[o, i, a, b] = sum over n, y, x of dY[n, o, y, x] * X[n, i, y s + a d, x s + b d]: a convolution of X by dY
    // with stride and dilation swapped, batch and channels exchanged so that the sum over n is the conv's channel sum.
    const dyT = this.op('Transpose', [dy], `${hint}/dy_cnhw`, { perm: [1, 0, 2, 3] });
    const xT = this.op('Transpose', [x], `${hint}/x_cnhw`, { perm: [1, 0, 2, 3] });
    const input = depthwise ? this.op('Reshape', [xT, this.b.int64(`${hint}/one_batch`, [1, -1, h, wd])], `${hint}/x_groups`) : xT;
    const full = this.op('Conv', [input, dyT], `${hint}/w_full`, { strides: d, dilations: s, pads: p, group: depthwise ? ci : 1 });
    const fullH = outSize(h, ho, d[0], s[0], p[0], p[2]);
    const fullW = outSize(wd, wo, d[1], s[1], p[1], p[3]);
    const cropped =
      fullH > kh || fullW > kw
        ? this.op(
            'Slice',
            [
              full,
              this.b.int64(`${hint}/w_starts`, [0, 0]),
              this.b.int64(`${hint}/w_ends`, [kh, kw]),
              this.b.int64(`${hint}/w_axes`, [2, 3]),
            ],
            `${hint}/w_crop`,
          )
        : full;
    g.set(
      w,
      depthwise
        ? this.op('Reshape', [cropped, this.b.int64(`${hint}/w_shape`, [co, 1, kh, kw])], `${hint}/w`)
        : this.op('Transpose', [cropped], `${hint}/w`, { perm: [1, 0, 2, 3] }),
    );
  }
}

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
