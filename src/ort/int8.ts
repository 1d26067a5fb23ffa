import { UserError } from '../errors.js';
import { StatsCollector, withStatistics, type CalibrationMethod } from '../onnx/calibrate.js';
import { markHandled } from '../io/markHandled.js';
import { decodeModel, encodeModel, type IModelProto } from '../onnx/proto.js';
import { planQuantization, quantizeModel, type QuantizeOptions, type QuantPlan, type Ranges } from '../onnx/quantize.js';
import { OrtModel, OrtSession, optimizedGraph } from './ortRunner.js';

// int8 versions of tlkit's fp32 graphs: calibrate the activations on sample
// batches, quantize (QDQ), and measure how far the int8 outputs are from fp32.

export type Precision = 'fp32' | 'int8';
export const PRECISIONS: readonly Precision[] = ['fp32', 'int8'];

/** `value` as a Precision, or a UserError naming `name` (the option as the caller spells it). */
export function checkPrecision(value: unknown, name = 'precision'): Precision {
  if (!(PRECISIONS as readonly unknown[]).includes(value))
    throw new UserError(`${name} must be ${PRECISIONS.join(' or ')}, got ${JSON.stringify(value)}.`);
  return value as Precision;
}

export interface CalibrationSettings {
  method: CalibrationMethod;
  /** For 'percentile': the percentile of |x| kept. */
  percentile?: number;
  /** Leading Conv nodes kept fp32 (tlkit's graphs: the preprocessing conv, then the base's first conv). */
  fp32LeadingConvs: number;
  /** Depthwise convs in fp32: yes, no, or 'auto': only when the all-int8 graph's cosine to fp32 falls under AUTO_DEPTHWISE_COSINE. */
  fp32Depthwise: boolean | 'auto';
}

/**
 * tlkit's default, from the measurements in docs/int8.md: percentile
 * 99.999 matched or beat min-max on VGG16 and MobileNet; the first conv
 * (3 input channels, little work) stays fp32; depthwise convs go int8 unless that
 * costs too much accuracy on the user's own images.
 */
export const DEFAULT_CALIBRATION: CalibrationSettings = {
  method: 'percentile',
  percentile: 99.999,
  fp32LeadingConvs: 2,
  fp32Depthwise: 'auto',
};
export const AUTO_DEPTHWISE_COSINE = 0.997;
/** The lowest percentile a calibration pass keeps the statistics for, unless told otherwise. */
export const LOWEST_PERCENTILE = 99.99;
/** Under this mean cosine between int8 and fp32 features, tlkit warns. */
export const WARN_COSINE = 0.99;

function quantizeOptions(s: CalibrationSettings, depthwise: boolean): QuantizeOptions {
  return { fp32LeadingConvs: s.fp32LeadingConvs, fp32Depthwise: depthwise };
}

/** int8 outputs against fp32 outputs on the same images. */
export interface QuantError {
  /** ||int8 - fp32|| / ||fp32|| over all the outputs. */
  relativeL2: number;
  /** Cosine similarity of each image's output vectors: mean and worst. */
  cosine: number;
  minCosine: number;
  images: number;
}

export interface CalibrationRecord {
  settings: CalibrationSettings;
  /** What 'auto' decided (or the setting itself). */
  fp32Depthwise: boolean;
  images: number;
  ranges: Ranges;
  error: QuantError;
}

export interface InputBatch {
  images: Float32Array;
  shape: number[];
  /** The images' files, when they came from files. */
  files?: string[];
}

/** The fp32 graph in the form the quantizer works on: ORT's basic rewrites (BatchNormalization folded into the convs, constants folded). */
async function prepared(fp32: Uint8Array): Promise<IModelProto> {
  return decodeModel(await optimizedGraph(fp32, 'basic'));
}

/** The QDQ graph of `fp32` with calibrated `ranges`. */
export async function int8Graph(
  fp32: Uint8Array,
  record: Pick<CalibrationRecord, 'settings' | 'ranges' | 'fp32Depthwise'>,
): Promise<Uint8Array> {
  const model = await prepared(fp32);
  const plan = planQuantization(model, quantizeOptions(record.settings, record.fp32Depthwise), new Set(Object.keys(record.ranges)));
  if (!plan.nodes.length)
    throw new UserError(
      'The int8 calibration does not match this model (none of its layers has calibrated ranges). Calibrate again: extract or train with --precision int8.',
    );
  return encodeModel(quantizeModel(model, plan, record.ranges));
}

/**
 * One calibration pass: the fp32 graph runs over `batches`, reporting the statistics of every
 * activation the plan quantizes (computed inside the graph: see withStatistics). Ranges for
 * any method come from the same pass; the fp32 outputs are kept to measure the int8 graph
 * against.
 */
export class Calibrator {
  private constructor(
    private readonly model: IModelProto,
    /** Everything quantizable: its tensors are observed, so any settings' plan (a subset) finds its ranges. */
    readonly plan: QuantPlan,
    private readonly collector: StatsCollector,
    private readonly inputs: InputBatch[],
    private readonly fp32Outputs: Float32Array[],
  ) {}

  /**
   * `opts.images`: how many images `batches` holds at most (an array's count by default); the
   * statistics keep what percentiles down to `opts.lowestPercentile` (default 99.99) need over
   * that many. The next batch is asked for before the current one runs, so decoding overlaps.
   * Aborting `opts.signal` stops the pass after the current batch: it rejects with the signal's reason.
   */
  static async run(
    fp32: Uint8Array,
    batches: AsyncIterable<InputBatch> | InputBatch[],
    opts: { threads?: number; signal?: AbortSignal; images?: number; lowestPercentile?: number; onBatch?: (images: number) => void } = {},
  ): Promise<Calibrator> {
    const images = opts.images ?? (Array.isArray(batches) ? batches.reduce((n, b) => n + b.shape[0], 0) : undefined);
    if (images === undefined) throw new Error('calibration: say how many images the batches hold (images)');
    const model = await prepared(fp32);
    const plan = planQuantization(model);
    const stats = withStatistics(model, plan.observe, { images, lowestPercentile: opts.lowestPercentile ?? LOWEST_PERCENTILE });
    const session = await OrtSession.create(encodeModel(stats.model), { threads: opts.threads });
    const collector = new StatsCollector();
    const inputs: InputBatch[] = [];
    const outputs: Float32Array[] = [];
    const [inputName] = session.inputNames;
    const outputName = model.graph!.output![0].name as string;
    const it = (Array.isArray(batches) ? each(batches) : batches)[Symbol.asyncIterator]();
    try {
      let next = markHandled(it.next());
      for (;;) {
        const r = await next;
        if (r.done) break;
        const b = r.value;
        next = markHandled(it.next());
        const out = await session.run({ [inputName]: { data: b.images, dims: b.shape } });
        for (const t of plan.observe) {
          const o = stats.outputs[t];
          collector.add(t, out[o.min].data[0], out[o.max].data[0], out[o.top].data, out[o.shape].data);
        }
        inputs.push(b);
        outputs.push(out[outputName].data);
        opts.onBatch?.(b.shape[0]);
        opts.signal?.throwIfAborted();
      }
    } finally {
      await it.return?.();
      await session.dispose();
    }
    if (!inputs.length) throw new Error('calibration: no batches');
    return new Calibrator(model, plan, collector, inputs, outputs);
  }

  /** The calibration batches, in the order they ran. */
  get batches(): readonly InputBatch[] {
    return this.inputs;
  }

  get images(): number {
    return this.inputs.reduce((n, b) => n + b.shape[0], 0);
  }

  /** The ranges by `settings.method`, MaxPool outputs included (they take their input's). */
  ranges(settings: CalibrationSettings): Ranges {
    const r = this.collector.ranges(settings.method, settings.percentile);
    for (const [t, src] of Object.entries(this.plan.sameAs)) r[t] = r[src];
    return r;
  }

  /** The QDQ graph for `settings`, with depthwise convs in int8 or not. */
  graph(settings: CalibrationSettings, fp32Depthwise: boolean): Uint8Array {
    const plan = planQuantization(this.model, quantizeOptions(settings, fp32Depthwise));
    return encodeModel(quantizeModel(this.model, plan, this.ranges(settings)));
  }

  get hasDepthwise(): boolean {
    return this.model.graph!.node!.some(
      (n) => n.opType === 'Conv' && (n.attribute ?? []).some((a) => a.name === 'group' && Number(a.i) > 1),
    );
  }

  /** Run `graph` over the calibration images and compare with the fp32 outputs (stopped between batches by `signal`). */
  async error(graph: Uint8Array, threads?: number, signal?: AbortSignal): Promise<QuantError> {
    return (await this.measure(graph, threads, signal)).error;
  }

  /** `graph`'s outputs on the calibration batches (in their order), and their error against fp32. */
  async measure(
    graph: Uint8Array,
    threads?: number,
    signal?: AbortSignal,
  ): Promise<{ error: QuantError; outputs: Float32Array[]; rowShape: number[] }> {
    const m = await OrtModel.create(graph, { threads });
    try {
      const outputs: Float32Array[] = [];
      let rowShape: number[] = [];
      for (const b of this.inputs) {
        signal?.throwIfAborted();
        const y = await m.run(b.images, b.shape);
        outputs.push(y.data);
        rowShape = y.shape.slice(1);
      }
      const error = compareOutputs(
        outputs.map((o, i) => [this.fp32Outputs[i], o]),
        this.inputs.map((b) => b.shape[0]),
      );
      return { error, outputs, rowShape };
    } finally {
      await m.dispose();
    }
  }

  /**
   * Ranges, int8 graph and its error for `settings` (trying depthwise convs both ways under
   * 'auto'), with the kept graph's outputs on the calibration batches: exactly what that
   * graph gives those images, so an extraction need not run them again.
   */
  async record(
    settings: CalibrationSettings,
    threads?: number,
    signal?: AbortSignal,
  ): Promise<{ record: CalibrationRecord; graph: Uint8Array; outputs: Float32Array[]; rowShape: number[] }> {
    const ranges = this.ranges(settings);
    const attempt = async (fp32Depthwise: boolean) => {
      const graph = this.graph(settings, fp32Depthwise);
      const { error, outputs, rowShape } = await this.measure(graph, threads, signal);
      const record: CalibrationRecord = { settings, fp32Depthwise, images: this.images, ranges, error };
      return { record, graph, outputs, rowShape };
    };
    return settleDepthwise(settings.fp32Depthwise, () => this.hasDepthwise, attempt);
  }
}

async function* each<T>(xs: T[]): AsyncGenerator<T> {
  yield* xs;
}

/**
 * How the depthwise convs' precision is settled: `true` or `false` builds that graph; 'auto'
 * builds the all-int8 graph and, when the model has depthwise convs and that graph's cosine to fp32
 * is under AUTO_DEPTHWISE_COSINE, the one with depthwise convs in fp32 too, keeping whichever is
 * closer to fp32 (the all-int8 one on a tie). `attempt` builds and measures one graph.
 */
export async function settleDepthwise<T extends { record: { error: Pick<QuantError, 'cosine'> } }>(
  setting: CalibrationSettings['fp32Depthwise'],
  hasDepthwise: () => boolean,
  attempt: (fp32Depthwise: boolean) => Promise<T>,
): Promise<T> {
  const auto = setting === 'auto';
  const first = await attempt(auto ? false : setting === true);
  if (!auto || !hasDepthwise() || first.record.error.cosine >= AUTO_DEPTHWISE_COSINE) return first;
  const second = await attempt(true);
  return second.record.error.cosine > first.record.error.cosine ? second : first;
}

/** Relative L2 over everything, cosine per image, over batches of [fp32, int8] outputs. */
export function compareOutputs(pairs: Array<[Float32Array, Float32Array]>, batchSizes: number[]): QuantError {
  let diff2 = 0;
  let ref2 = 0;
  let cosSum = 0;
  let minCos = Infinity;
  let images = 0;
  pairs.forEach(([a, b], k) => {
    const n = batchSizes[k];
    const per = a.length / n;
    for (let i = 0; i < n; i++) {
      let dot = 0;
      let aa = 0;
      let bb = 0;
      for (let j = i * per; j < (i + 1) * per; j++) {
        dot += a[j] * b[j];
        aa += a[j] * a[j];
        bb += b[j] * b[j];
        diff2 += (a[j] - b[j]) ** 2;
      }
      ref2 += aa;
      const cos = aa === 0 && bb === 0 ? 1 : dot / Math.sqrt(aa * bb || 1);
      cosSum += cos;
      minCos = Math.min(minCos, cos);
      images++;
    }
  });
  return { relativeL2: Math.sqrt(diff2 / (ref2 || 1)), cosine: cosSum / images, minCosine: minCos, images };
}
