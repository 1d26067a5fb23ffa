import type { INodeProto, ITensorProto } from '../onnx/proto.js';
import { attribute, constantData, int, ints } from './nodeAttributes.js';
import { NotDifferentiable } from './notDifferentiable.js';

export type Shape = Array<number | null>;

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

export function outSize(size: number, kernel: number, stride: number, dilation: number, padBegin: number, padEnd: number): number {
  return Math.floor((size + padBegin + padEnd - ((kernel - 1) * dilation + 1)) / stride) + 1;
}

export const product = (dims: Array<number | null>) => dims.reduce<number>((a, d) => a * (d ?? NaN), 1);

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
