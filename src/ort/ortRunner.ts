import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { UserError } from '../errors.js';

// The one module that imports onnxruntime-node (like transformers.js' backends/onnx.js):
// everything else hands it ONNX bytes and float32 arrays.

export interface OrtModelOptions {
  /** Intra-op threads; default: every core (`os.availableParallelism()`). */
  threads?: number;
  /** Input name; default: the session's first input. */
  inputName?: string;
  /** Output name; default: the session's first output. */
  outputName?: string;
  /**
   * Repack the weights for the CPU's kernels when the session is created (default true):
   * faster runs, but a slower start; a few images (predict of one photo) start sooner without.
   */
  prepack?: boolean;
  /**
   * The bytes are a graph in ONNX Runtime's own format that `saveOrtFormatTo` wrote on this
   * machine: already optimized, so the session skips the rewrites and runs on the weights in
   * place instead of copying them (a 70 MB graph opens in a tenth of the time).
   */
  ortFormat?: boolean;
  /** Also write the optimized graph in ONNX Runtime's own format to this file (for `ortFormat` next time). */
  saveOrtFormatTo?: string;
}

export interface OrtOutput {
  data: Float32Array;
  shape: number[];
}

/** The CPU session options every tlkit session uses (see OrtModel.create for the reasons). */
function sessionOptions(threads: number, prepack = true, config: Record<string, string> = {}): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    intraOpNumThreads: threads,
    // One graph, run op after op: the parallelism is inside each conv.
    interOpNumThreads: 1,
    executionMode: 'sequential',
    // No busy-waiting between parallel sections: on a 2-core machine ORT's
    // spinning threads otherwise starve the image decoding that overlaps each
    // run, and a preempted worker stalls the whole parallel-for (measured:
    // extract end to end at 0.63 of bare session.run with spinning on).
    extra: {
      session: {
        intra_op: { allow_spinning: '0' },
        inter_op: { allow_spinning: '0' },
        ...(prepack ? {} : { disable_prepacking: '1' }),
        ...config,
      },
    },
  };
}

/**
 * The graph as ONNX Runtime rewrites it at `level` ('basic': constant folding,
 * Conv+BatchNormalization/Mul/Add fusion, no contrib ops; 'all': what a tlkit
 * session actually runs, with ORT's own fused kernels). The quantizer starts from
 * the 'basic' graph; tests read the 'all' one to see which kernels ORT picked.
 */
export async function optimizedGraph(onnxBytes: Uint8Array, level: 'basic' | 'all'): Promise<Uint8Array> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-ort-'));
  const file = path.join(dir, 'optimized.onnx');
  try {
    const session = await ort.InferenceSession.create(onnxBytes, {
      ...sessionOptions(1),
      graphOptimizationLevel: level,
      optimizedModelFilePath: file,
      // Errors only: ORT warns that an 'all' graph is specific to this CPU, which is the point here.
      logSeverityLevel: 3,
    });
    await session.release();
    return new Uint8Array(fs.readFileSync(file));
  } catch (e) {
    throw fullTempDisk(dir, onnxBytes.length) ?? e;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * ONNX Runtime reports a file it could not write as "Protobuf serialization failed": when the
 * temporary folder lacks the room for the graph, say so, and where to point TMPDIR instead.
 */
function fullTempDisk(dir: string, graphBytes: number): UserError | undefined {
  let free: number;
  try {
    const s = fs.statfsSync(dir);
    free = s.bavail * s.bsize;
  } catch {
    return undefined;
  }
  if (free >= 2 * graphBytes) return undefined;
  const mb = (n: number) => `${(n / 2 ** 20).toFixed(1)} MB`;
  return new UserError(
    `Cannot write the optimized ONNX graph (about ${mb(graphBytes)}) into the temporary folder ${path.dirname(dir)}: its disk is full (${mb(free)} free). Free some space there, or set TMPDIR to a folder on a disk with room.`,
  );
}

/** A float32 array and its dims, as tlkit hands tensors to and from ONNX Runtime. */
export interface HostTensor {
  data: Float32Array;
  dims: number[];
}

/**
 * An ONNX Runtime CPU session with named float32 inputs and outputs (the training
 * graphs of ortTraining/: weights and optimizer state in, updated out).
 * Inputs are wrapped, not copied. An output may be given a buffer to be written
 * into (`into`), so a caller that alternates two sets of buffers allocates nothing
 * per step.
 */
export class OrtSession {
  private constructor(
    private session: ort.InferenceSession | undefined,
    readonly inputNames: readonly string[],
    readonly outputNames: readonly string[],
    readonly threads: number,
  ) {}

  static async create(onnxBytes: Uint8Array, opts: { threads?: number } = {}): Promise<OrtSession> {
    const threads = opts.threads ?? os.availableParallelism();
    const session = await ort.InferenceSession.create(onnxBytes, sessionOptions(threads));
    return new OrtSession(session, session.inputNames.slice(), session.outputNames.slice(), threads);
  }

  /** Run once: every graph input fed, every output returned (written into `into[name]` where given). */
  async run(feeds: Record<string, HostTensor>, into: Record<string, HostTensor> = {}): Promise<Record<string, HostTensor>> {
    if (!this.session) throw new Error('OrtSession.run after dispose()');
    const inputs: Record<string, ort.Tensor> = {};
    for (const name of this.inputNames) {
      const t = feeds[name];
      if (!t) throw new Error(`OrtSession.run: no value for input ${name} (inputs: ${this.inputNames.join(', ')})`);
      const size = t.dims.reduce((a, b) => a * b, 1);
      if (size !== t.data.length)
        throw new Error(`OrtSession.run: input ${name} has shape ${JSON.stringify(t.dims)} (${size} values) but ${t.data.length} values`);
      inputs[name] = new ort.Tensor('float32', t.data, t.dims);
    }
    const fetches: Record<string, ort.Tensor | null> = {};
    for (const name of this.outputNames) fetches[name] = into[name] ? new ort.Tensor('float32', into[name].data, into[name].dims) : null;
    const results = await this.session.run(inputs, fetches);
    const out: Record<string, HostTensor> = {};
    for (const name of this.outputNames) {
      const r = results[name];
      if (r.type !== 'float32') throw new Error(`OrtSession.run: output ${name} is ${r.type}, expected float32`);
      // A preallocated output comes back in the caller's own buffer.
      out[name] = into[name] ? { data: into[name].data, dims: r.dims.slice() } : { data: r.data as Float32Array, dims: r.dims.slice() };
    }
    return out;
  }

  async dispose(): Promise<void> {
    const s = this.session;
    this.session = undefined;
    if (s) await s.release();
  }
}

/**
 * What an ORT-format graph saved at optimization level 'all' is specific to: ONNX Runtime's
 * version and this CPU (its blocked-layout kernels are picked for the instruction set).
 */
export function ortFormatTarget(): string {
  let flags = '';
  try {
    flags = /^flags\s*:(.*)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1].trim() ?? '';
  } catch {
    // not Linux: the CPU's model name below stands for its instruction set
  }
  const text = `${ort.env.versions.node ?? ort.env.versions.common}\n${process.platform}-${process.arch}\n${os.cpus()[0]?.model ?? ''}\n${flags}`;
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

function modelSessionOptions(threads: number, opts: OrtModelOptions): ort.InferenceSession.SessionOptions {
  const config: Record<string, string> = {};
  // The session reads the weights from the caller's buffer (kept alive by OrtModel) instead of copying them.
  if (opts.ortFormat) Object.assign(config, { use_ort_model_bytes_directly: '1', use_ort_model_bytes_for_initializers: '1' });
  if (opts.saveOrtFormatTo) config.save_model_format = 'ORT';
  const options = sessionOptions(threads, opts.prepack, config);
  if (opts.ortFormat) options.graphOptimizationLevel = 'disabled';
  if (opts.saveOrtFormatTo) {
    options.optimizedModelFilePath = opts.saveOrtFormatTo;
    // Errors only: ORT warns that an 'all' graph is specific to this CPU, which ortFormatTarget keys on.
    options.logSeverityLevel = 3;
  }
  return options;
}

/** An ONNX Runtime CPU session with a single float32 input and output. */
export class OrtModel {
  private constructor(
    private session: ort.InferenceSession | undefined,
    readonly inputName: string,
    readonly outputName: string,
    readonly threads: number,
    /** An ORT-format graph's bytes, which the session reads its weights from: held as long as the session. */
    readonly inPlaceBytes?: Uint8Array,
  ) {}

  static async create(onnxBytes: Uint8Array, opts: OrtModelOptions = {}): Promise<OrtModel> {
    const threads = opts.threads ?? os.availableParallelism();
    const session = await ort.InferenceSession.create(onnxBytes, modelSessionOptions(threads, opts));
    const inputName = opts.inputName ?? session.inputNames[0];
    const outputName = opts.outputName ?? session.outputNames[0];
    return new OrtModel(session, inputName, outputName, threads, opts.ortFormat ? onnxBytes : undefined);
  }

  /**
   * Run one batch. `input` is the float32 data in the graph's layout (NHWC for
   * tlkit's exports) and `shape` its dims, batch first. Resolves on ONNX Runtime's
   * own threads, so the caller can decode the next batch meanwhile.
   */
  async run(input: Float32Array, shape: number[]): Promise<OrtOutput> {
    if (!this.session) throw new Error('OrtModel.run after dispose()');
    const size = shape.reduce((a, b) => a * b, 1);
    if (size !== input.length)
      throw new Error(`OrtModel.run: shape ${JSON.stringify(shape)} holds ${size} values, input has ${input.length}`);
    const feeds = { [this.inputName]: new ort.Tensor('float32', input, shape) };
    const results = await this.session.run(feeds, [this.outputName]);
    const out = results[this.outputName];
    try {
      if (out.type !== 'float32') throw new Error(`OrtModel.run: output ${this.outputName} is ${out.type}, expected float32`);
      return { data: out.data as Float32Array, shape: out.dims.slice() };
    } finally {
      for (const t of Object.values(results)) if (t !== out) t.dispose();
    }
  }

  async dispose(): Promise<void> {
    const s = this.session;
    this.session = undefined;
    if (s) await s.release();
  }
}
