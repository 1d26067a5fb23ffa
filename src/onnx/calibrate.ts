import {
  makeNode,
  makeTensor,
  TensorDataType,
  type IModelProto,
  type INodeProto,
  type ITensorProto,
  type IValueInfoProto,
} from './proto.js';
import type { Ranges } from './quantize.js';

// Activation ranges from calibration batches. Every tensor keeps its min, max and a
// histogram of |x| over [0, R] whose range doubles (merging bins pairwise, exactly)
// whenever a batch goes past R, so one pass over the images serves every method:
//   minmax      the observed [min, max]
//   percentile  |x| clipped at the given percentile (default 99.99), symmetric if the tensor goes negative
// (An entropy/KL threshold search was tried too: on MobileNet's ReLU6 activations it
// clipped far too much, cosine 0.69 against 0.995, and was left out.)

export type CalibrationMethod = 'minmax' | 'percentile';

const BINS = 2048;

interface Stats {
  min: number;
  max: number;
  /** Histogram range: bins cover [0, range]. */
  range: number;
  bins: Float64Array;
}

export class RangeCollector {
  private readonly stats = new Map<string, Stats>();

  /** Fold one batch of a tensor's values in. */
  add(name: string, data: Float32Array): void {
    let min = Infinity;
    let max = -Infinity;
    for (let i = 0; i < data.length; i++) {
      const v = data[i];
      if (v < min) min = v;
      if (v > max) max = v;
    }
    if (!Number.isFinite(min) || !Number.isFinite(max)) throw new Error(`calibration: tensor ${name} has non-finite values`);
    const amax = Math.max(-min, max);
    let s = this.stats.get(name);
    if (!s) {
      s = { min, max, range: amax > 0 ? amax : 1, bins: new Float64Array(BINS) };
      this.stats.set(name, s);
    }
    s.min = Math.min(s.min, min);
    s.max = Math.max(s.max, max);
    while (amax > s.range) {
      // Double the range: new bin i holds old bins 2i and 2i+1.
      const b = s.bins;
      for (let i = 0; i < BINS / 2; i++) b[i] = b[2 * i] + b[2 * i + 1];
      b.fill(0, BINS / 2);
      s.range *= 2;
    }
    const k = BINS / s.range;
    const bins = s.bins;
    for (let i = 0; i < data.length; i++) {
      const j = (Math.abs(data[i]) * k) | 0;
      bins[j < BINS ? j : BINS - 1]++;
    }
  }

  /** The [low, high] of every tensor seen, by `method`. */
  ranges(method: CalibrationMethod, percentile = 99.99): Ranges {
    return rangesOf(this.stats, method, (_name, s) => percentileThreshold(s, percentile));
  }
}

/**
 * Each tensor's [low, high]: its min and max, or for a percentile method the threshold `t` of
 * |x| (computed by the collector) clipped to them.
 */
function rangesOf<S extends { min: number; max: number }>(
  stats: Map<string, S>,
  method: CalibrationMethod,
  threshold: (name: string, s: S) => number,
): Ranges {
  const out: Ranges = {};
  for (const [name, s] of stats) {
    if (method === 'minmax') {
      out[name] = [s.min, s.max];
      continue;
    }
    const t = threshold(name, s);
    // One-sided tensors (after a Relu) keep all 256 levels on their side.
    out[name] = s.min >= 0 ? [0, Math.min(t, s.max)] : [Math.max(-t, s.min), Math.min(t, s.max)];
  }
  return out;
}

function percentileThreshold(s: Stats, percentile: number): number {
  const total = s.bins.reduce((a, b) => a + b, 0);
  const target = (total * percentile) / 100;
  let acc = 0;
  for (let i = 0; i < BINS; i++) {
    acc += s.bins[i];
    if (acc >= target) return ((i + 1) * s.range) / BINS;
  }
  return s.range;
}

// The same ranges, computed inside the calibration graph. Copying every activation out
// of ONNX Runtime (about 9 million values an image for VGG16 at 180x180) and walking it
// in JavaScript cost more than the forward pass itself; instead, nodes appended to the
// graph reduce each observed tensor to its min, its max and its largest |x| values (TopK),
// enough for the percentile: the p-th percentile of |x| over C values is the
// (C - ceil(C p/100) + 1)-th largest, which the merged per-batch top lists hold exactly
// as long as each batch kept that many (checked when the ranges are read).

/** Node outputs the statistics graph adds for one observed tensor. */
export interface StatOutputs {
  min: string;
  max: string;
  /** The largest |x| of the batch, sorted down. */
  top: string;
  /** The tensor's shape, as floats. */
  shape: string;
}

const INT64 = TensorDataType.INT64;
const FLOAT = TensorDataType.FLOAT;

/**
 * A copy of `model` that also outputs, per tensor of `tensors`, its statistics (StatOutputs)
 * over a batch, keeping enough of the largest |x| for any percentile >= `lowestPercentile`
 * over up to `images` images.
 */
export function withStatistics(
  model: IModelProto,
  tensors: string[],
  opts: { images: number; lowestPercentile: number },
): { model: IModelProto; outputs: Record<string, StatOutputs> } {
  const g = model.graph!;
  const used = new Set([
    ...(g.node ?? []).flatMap((n) => [...(n.output ?? []), n.name as string]),
    ...(g.initializer ?? []).map((t) => t.name as string),
  ]);
  const fresh = (hint: string) => {
    let name = hint;
    for (let i = 1; used.has(name); i++) name = `${hint}_${i}`;
    used.add(name);
    return name;
  };
  const c = (hint: string, dims: number[], data: Float32Array | BigInt64Array) => {
    const name = fresh(hint);
    inits.push(makeTensor(name, dims, data));
    return name;
  };
  const inits: ITensorProto[] = [];
  const nodes: INodeProto[] = [];
  const flatShape = c('calib/flat_shape', [1], BigInt64Array.of(-1n));
  const kShape = c('calib/k_shape', [1], BigInt64Array.of(1n));
  const zero = c('calib/zero', [], BigInt64Array.of(0n));
  const two = c('calib/two', [], BigInt64Array.of(2n));
  // Values kept per image: a fraction (1 - lowest percentile) of each image's values, over all the images.
  const share = c('calib/share', [], Float32Array.of(opts.images * (1 - opts.lowestPercentile / 100)));
  const node = (op: string, inputs: string[], hint: string, attrs: Record<string, number> = {}) => {
    const out = fresh(hint);
    nodes.push(makeNode(op, inputs, [out], fresh(`${hint}/${op}`), attrs));
    return out;
  };
  const outputs: Record<string, StatOutputs> = {};
  for (const t of tensors) {
    const p = `${t}/calib`;
    const shape = node('Shape', [t], `${p}/shape_i64`);
    const size = node('Size', [t], `${p}/size`);
    const perImage = node('Div', [size, node('Gather', [shape, zero], `${p}/batch`, { axis: 0 })], `${p}/per_image`);
    const wanted = node('Ceil', [node('Mul', [node('Cast', [perImage], `${p}/per_image_f`, { to: FLOAT }), share], `${p}/kf`)], `${p}/kc`);
    const k0 = node('Add', [node('Cast', [wanted], `${p}/k64`, { to: INT64 }), two], `${p}/k0`);
    const k = node('Reshape', [node('Min', [k0, size], `${p}/k_scalar`), kShape], `${p}/k`);
    const flat = node('Reshape', [node('Abs', [t], `${p}/abs`), flatShape], `${p}/flat`);
    const top = fresh(`${p}/top`);
    nodes.push(makeNode('TopK', [flat, k], [top, fresh(`${p}/top_index`)], fresh(`${p}/TopK`), { axis: 0, largest: 1, sorted: 1 }));
    outputs[t] = {
      min: node('ReduceMin', [t], `${p}/min`, { keepdims: 0 }),
      max: node('ReduceMax', [t], `${p}/max`, { keepdims: 0 }),
      top,
      shape: node('Cast', [shape], `${p}/shape`, { to: FLOAT }),
    };
  }
  const extra: IValueInfoProto[] = Object.values(outputs).flatMap((o) =>
    [o.min, o.max, o.top, o.shape].map((name) => ({ name, type: { tensorType: { elemType: FLOAT } } })),
  );
  return {
    model: {
      ...model,
      graph: {
        ...g,
        node: [...(g.node ?? []), ...nodes],
        initializer: [...(g.initializer ?? []), ...inits],
        output: [...(g.output ?? []), ...extra],
      },
    },
    outputs,
  };
}

interface TopStats {
  min: number;
  max: number;
  /** Values seen. */
  count: number;
  /** The largest |x| seen, sorted down. */
  top: Float32Array;
  /** The fewest values a batch kept while holding more (Infinity while every batch gave all of its values). */
  kept: number;
}

/** Activation ranges from the statistics graph's outputs (withStatistics), batch after batch: the same ranges as RangeCollector's, without its histogram's rounding. */
export class StatsCollector {
  private readonly stats = new Map<string, TopStats>();

  /** Fold one batch's statistics of tensor `name` in. */
  add(name: string, min: number, max: number, top: Float32Array, shape: ArrayLike<number>): void {
    if (!Number.isFinite(min) || !Number.isFinite(max)) throw new Error(`calibration: tensor ${name} has non-finite values`);
    let count = 1;
    for (let i = 0; i < shape.length; i++) count *= shape[i];
    const s = this.stats.get(name);
    const kept = top.length < count ? top.length : Infinity;
    if (!s) {
      this.stats.set(name, { min, max, count, top: top.slice(), kept });
      return;
    }
    const merged = new Float32Array(s.top.length + top.length);
    merged.set(s.top);
    merged.set(top, s.top.length);
    merged.sort().reverse();
    s.kept = Math.min(s.kept, kept);
    s.top = merged.slice(0, Math.min(merged.length, Math.max(s.top.length, top.length)));
    s.min = Math.min(s.min, min);
    s.max = Math.max(s.max, max);
    s.count += count;
  }

  /** The [low, high] of every tensor seen, by `method`. */
  ranges(method: CalibrationMethod, percentile = 99.99): Ranges {
    return rangesOf(this.stats, method, (name, s) => {
      // As RangeCollector counts: the first value whose cumulative count reaches count * percentile / 100.
      const rank = Math.max(1, Math.ceil((s.count * percentile) / 100));
      const fromTop = s.count - rank + 1;
      if (fromTop > s.kept || fromTop > s.top.length)
        throw new Error(
          `calibration: percentile ${percentile} of ${name} needs its ${fromTop} largest values, and a batch kept ${Math.min(s.kept, s.top.length)} (more images than planned, or a percentile under the lowest planned).`,
        );
      return s.top[fromTop - 1];
    });
  }
}
