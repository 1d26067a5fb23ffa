import type { GraphBuilder } from '../onnx/graphBuilder.js';
import type { INodeProto, ITensorProto } from '../onnx/proto.js';
import { attribute, constantData, int, ints } from './nodeAttributes.js';
import { NotDifferentiable } from './notDifferentiable.js';
import { outSize, product, type Shape } from './shapeInference.js';

/**
 * How a stride-1 convolution's input gradient is written: 'transpose' = ConvTranspose by the
 * filter; 'flipped' = a Conv by the filter flipped in space with its channel axes swapped
 * (strided convs always use ConvTranspose). bench/finetune.ts --only micro measures both.
 */
export type ConvInputGradient = 'transpose' | 'flipped';

export interface BackwardOptions {
  convInputGradient?: ConvInputGradient;
}

/** Emits gradient nodes; one instance per backward pass (the per-op rules: autodiff.ts describes them). */
export class Backward {
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

  /** The number of elements of `x` along `axes`, as a float scalar computed from its runtime shape. */
  private dynamicCount(x: string, axes: number[], hint: string): string {
    const sizes = this.op('Gather', [this.dynamicShape(x), this.b.int64(`${hint}/count_axes`, axes)], `${hint}/sizes`);
    return this.op('ReduceProd', [this.op('Cast', [sizes], `${hint}/sizes_f`, { to: 1 })], `${hint}/count`, { keepdims: 0 });
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
        const kept = int(node, 'keepdims', 1) ? dy : this.op('Unsqueeze', [dy, this.b.int64(`${hint}/axes`, axes)], `${hint}/unsqueezed`);
        // Over the batch (a training BatchNormalization's statistics) the count is the graph's: the product of those sizes.
        const scaled = Number.isFinite(count)
          ? this.op('Mul', [kept, this.b.scalar(`${hint}/inv_count`, 1 / count)], `${hint}/scaled`)
          : this.op('Div', [kept, this.dynamicCount(x, axes, hint)], `${hint}/scaled`);
        g.set(x, this.op('Expand', [scaled, this.dynamicShape(x)], hint));
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
