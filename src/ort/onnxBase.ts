import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { UserError } from '../errors.js';
import { decodeModel, encodeModel } from '../onnx/proto.js';
import { OrtModel, type OrtOutput } from './ortRunner.js';

// Any ONNX image model as a frozen conv base (timm, Hugging Face, torchvision exports...):
// find its one image input, its layout and size, cut it at a named output, and feed it
// RGB 0..255 images preprocessed as the model expects (`tlkit train --base model.onnx`).

/** Per-channel preprocessing: y = (x * scale - mean) / std, channels in `channelOrder`, x in RGB 0..255. */
export interface OnnxPreprocess {
  scale: number;
  mean: [number, number, number];
  std: [number, number, number];
  channelOrder: 'rgb' | 'bgr';
}

export type OnnxPreprocessPreset = 'caffe' | 'tf' | 'torch' | 'clip' | 'none';

/** The usual conventions: Keras's caffe and tf modes, torchvision's ImageNet mean/std after /255, OpenAI CLIP's. */
export const PREPROCESS_PRESETS: Record<OnnxPreprocessPreset, OnnxPreprocess> = {
  caffe: { scale: 1, mean: [103.939, 116.779, 123.68], std: [1, 1, 1], channelOrder: 'bgr' },
  tf: { scale: 1 / 127.5, mean: [1, 1, 1], std: [1, 1, 1], channelOrder: 'rgb' },
  torch: { scale: 1 / 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], channelOrder: 'rgb' },
  clip: { scale: 1 / 255, mean: [0.48145466, 0.4578275, 0.40821073], std: [0.26862954, 0.26130258, 0.27577711], channelOrder: 'rgb' },
  none: { scale: 1, mean: [0, 0, 0], std: [1, 1, 1], channelOrder: 'rgb' },
};

function triple(text: string, what: string, option: string): [number, number, number] {
  const v = text.split('/').map(Number);
  if (v.length === 1 && Number.isFinite(v[0])) return [v[0], v[0], v[0]];
  if (v.length !== 3 || !v.every(Number.isFinite))
    throw new UserError(`${option} ${what} must be one number or three separated by "/", got "${text}".`);
  return v as [number, number, number];
}

/**
 * A preset name, or "scale=1/255,mean=0.5/0.5/0.5,std=0.5/0.5/0.5,order=rgb" (any of the
 * four keys; the others default to the identity: scale 1, mean 0, std 1, rgb). Errors name
 * the option as the caller knows it (`preprocess` from code, `--preprocess` from the CLI).
 */
export function parsePreprocess(text: string, option = 'preprocess'): OnnxPreprocess {
  if (text in PREPROCESS_PRESETS) return PREPROCESS_PRESETS[text as OnnxPreprocessPreset];
  const out: OnnxPreprocess = { ...PREPROCESS_PRESETS.none };
  const bad = () =>
    new UserError(
      `${option} must be one of ${Object.keys(PREPROCESS_PRESETS).join(', ')}, or keys such as "scale=1/255,mean=0.485/0.456/0.406,std=0.229/0.224/0.225,order=rgb", got "${text}".`,
    );
  for (const part of text.split(',')) {
    const [key, value] = part.split('=').map((s) => s.trim());
    if (!value) throw bad();
    if (key === 'scale') {
      const [a, b] = value.split('/').map(Number);
      out.scale = b === undefined ? a : a / b;
      if (!Number.isFinite(out.scale)) throw bad();
    } else if (key === 'mean') out.mean = triple(value, 'mean', option);
    else if (key === 'std') {
      out.std = triple(value, 'std', option);
      if (out.std.some((s) => s === 0)) throw new UserError(`${option} std must not be 0, got "${value}".`);
    } else if (key === 'order') {
      if (value !== 'rgb' && value !== 'bgr') throw new UserError(`${option} order must be rgb or bgr, got "${value}".`);
      out.channelOrder = value;
    } else throw bad();
  }
  return out;
}

/** The preset's name when `p` is one, else the keys form parsePreprocess reads back. */
export function describePreprocess(p: OnnxPreprocess): string {
  const same = (a: number[], b: number[]) => a.every((v, i) => v === b[i]);
  const preset = (Object.keys(PREPROCESS_PRESETS) as OnnxPreprocessPreset[]).find((k) => {
    const q = PREPROCESS_PRESETS[k];
    return q.scale === p.scale && q.channelOrder === p.channelOrder && same(q.mean, p.mean) && same(q.std, p.std);
  });
  if (preset) return preset;
  const nums = (v: number[]) => (v.every((x) => x === v[0]) ? String(v[0]) : v.join('/'));
  return `scale=${p.scale},mean=${nums(p.mean)},std=${nums(p.std)},order=${p.channelOrder}`;
}

/** Whether a --base value names an ONNX file (by its extension). */
export function isOnnxBasePath(base: string): boolean {
  return /\.onnx$/i.test(base.trim());
}

export type OnnxLayout = 'NCHW' | 'NHWC';

export interface OnnxBaseOptions {
  /** Preset or parsed preprocessing. Default 'none'. */
  preprocess?: OnnxPreprocessPreset | OnnxPreprocess;
  /** Cut the model at this value (a node output); default the model's first output. */
  upTo?: string;
  /** [H, W]: required when the model leaves its input size open; must agree when it fixes it. */
  imageSize?: [number, number];
  /** Only when the input's shape does not tell (no dimension of 3 channels). */
  layout?: OnnxLayout;
  /** ONNX Runtime threads (default: all cores). */
  threads?: number;
}

export interface OnnxBaseInfo {
  file: string;
  /** sha256 of the .onnx file: what a run records to know its base. */
  sha256: string;
  inputName: string;
  outputName: string;
  layout: OnnxLayout;
  imageSize: [number, number];
  /** The batch size the input fixes (torch.onnx exports without dynamic axes fix 1), or null. */
  batch: number | null;
  /** The cut asked for (--up-to), or null for the model's own first output. */
  upTo: string | null;
  preprocess: OnnxPreprocess;
}

type Dim = { dimValue?: number | bigint | null; dimParam?: string | null };

function dimOf(d: Dim): number | null {
  const v = d.dimValue;
  if (v === undefined || v === null) return null;
  const n = Number(v);
  return n > 0 ? n : null;
}

function onnxError(file: string, what: string, fix: string): UserError {
  return new UserError(`${file}: ${what}. ${fix}`);
}

/** Read and check `file`, and return the facts plus the model bytes to run (cut at upTo when asked). */
export function inspectOnnxBase(file: string, opts: OnnxBaseOptions = {}): { info: OnnxBaseInfo; bytes: Uint8Array } {
  if (!existsSync(file) || !statSync(file).isFile())
    throw new UserError(`The ONNX model ${file} does not exist. Give the path of a .onnx file.`);
  const raw = readFileSync(file);
  const sha256 = createHash('sha256').update(raw).digest('hex');
  let model;
  try {
    model = decodeModel(new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength));
  } catch (e) {
    throw onnxError(
      file,
      `is not an ONNX model (${(e as Error).message})`,
      'Give a .onnx file exported by torch.onnx, tf2onnx, optimum or tlkit.',
    );
  }
  const graph = model.graph;
  if (!graph?.node?.length) throw onnxError(file, 'holds no graph', 'Give a .onnx file with a model in it.');
  if ((graph.initializer ?? []).some((t) => t.dataLocation === 1)) {
    throw onnxError(
      file,
      'keeps its weights in external data files',
      'tlkit reads one self-contained .onnx: save it with its weights inside (onnx.save_model(model, path, save_as_external_data=False); models over 2 GB cannot be).',
    );
  }
  const initializers = new Set((graph.initializer ?? []).map((t) => t.name));
  const inputs = (graph.input ?? []).filter((i) => !initializers.has(i.name));
  if (inputs.length !== 1) {
    throw onnxError(
      file,
      `has ${inputs.length} inputs (${inputs.map((i) => i.name).join(', ')})`,
      'A base must take exactly one image input; export the image encoder alone.',
    );
  }
  const input = inputs[0];
  const tensorType = input.type?.tensorType;
  const dims = (tensorType?.shape?.dim ?? []) as Dim[];
  if (tensorType?.elemType !== 1 || dims.length !== 4) {
    throw onnxError(
      file,
      `its input "${input.name}" is not a float32 image batch (rank ${dims.length}, element type ${tensorType?.elemType})`,
      'Give a model whose input is [N, 3, H, W] or [N, H, W, 3] float32.',
    );
  }
  const d = dims.map(dimOf);
  let layout: OnnxLayout;
  if (d[1] === 3 && d[3] !== 3) layout = 'NCHW';
  else if (d[3] === 3 && d[1] !== 3) layout = 'NHWC';
  else if (d[1] === 3 && d[3] === 3) layout = opts.layout ?? 'NCHW';
  else if (opts.layout) layout = opts.layout;
  else
    throw onnxError(
      file,
      `the layout of input "${input.name}" ${JSON.stringify(d)} is unclear (no axis of 3 channels)`,
      'Say it with the layout option (NCHW or NHWC).',
    );
  const fixed: [number | null, number | null] = layout === 'NCHW' ? [d[2], d[3]] : [d[1], d[2]];
  let imageSize: [number, number];
  if (fixed[0] !== null && fixed[1] !== null) {
    if (opts.imageSize && (opts.imageSize[0] !== fixed[0] || opts.imageSize[1] !== fixed[1])) {
      throw onnxError(
        file,
        `takes ${fixed[0]}x${fixed[1]} images, but an image size of ${opts.imageSize.join('x')} was asked for`,
        `Leave the image size (imageSize, --image-size) out: the model fixes it. Or use ${fixed[0]}.`,
      );
    }
    imageSize = [fixed[0], fixed[1]];
  } else {
    if (!opts.imageSize) throw onnxError(file, `leaves its input size open (${JSON.stringify(d)})`, 'Pass an image size (--image-size N).');
    imageSize = [fixed[0] ?? opts.imageSize[0], fixed[1] ?? opts.imageSize[1]];
  }

  let outputName = graph.output?.[0]?.name ?? '';
  let bytes: Uint8Array = new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
  if (opts.upTo !== undefined && opts.upTo !== outputName) {
    const producers = new Map<string, number>();
    graph.node.forEach((n, i) => (n.output ?? []).forEach((o) => producers.set(o, i)));
    if (!producers.has(opts.upTo)) {
      const sample = [...producers.keys()].slice(-6).join(', ');
      throw onnxError(file, `has no value named "${opts.upTo}" to cut at`, `Give the name of a node output (the last ones: ${sample}).`);
    }
    // keep only the nodes the cut needs
    const keep = new Set<number>();
    const stack = [opts.upTo];
    while (stack.length) {
      const name = stack.pop()!;
      const i = producers.get(name);
      if (i === undefined || keep.has(i)) continue;
      keep.add(i);
      stack.push(...(graph.node[i].input ?? []).filter(Boolean));
    }
    graph.node = graph.node.filter((_, i) => keep.has(i));
    graph.output = [{ name: opts.upTo, type: { tensorType: { elemType: 1 } } }];
    outputName = opts.upTo;
    bytes = encodeModel(model);
  }
  const preprocess = typeof opts.preprocess === 'object' ? opts.preprocess : PREPROCESS_PRESETS[opts.preprocess ?? 'none'];
  const info: OnnxBaseInfo = {
    file,
    sha256,
    inputName: input.name ?? '',
    outputName,
    layout,
    imageSize,
    batch: d[0],
    upTo: opts.upTo ?? null,
    preprocess,
  };
  return { info, bytes };
}

/**
 * RGB 0..255 images, NHWC [n, H, W, 3] -> the model's input: preprocessed, channels in
 * the model's order, in its layout.
 */
export function toModelInput(
  images: Float32Array,
  n: number,
  info: Pick<OnnxBaseInfo, 'layout' | 'imageSize' | 'preprocess'>,
): Float32Array {
  const [h, w] = info.imageSize;
  const hw = h * w;
  if (images.length !== n * hw * 3) throw new Error(`toModelInput: ${images.length} values for ${n} images of ${h}x${w}x3`);
  const { scale, mean, std, channelOrder } = info.preprocess;
  const out = new Float32Array(images.length);
  for (let c = 0; c < 3; c++) {
    const src = channelOrder === 'bgr' ? 2 - c : c;
    const m = mean[c];
    const inv = 1 / std[c];
    for (let b = 0; b < n; b++) {
      const base = b * hw * 3;
      for (let p = 0; p < hw; p++) {
        const v = (images[base + p * 3 + src] * scale - m) * inv;
        if (info.layout === 'NHWC') out[base + p * 3 + c] = v;
        else out[base + c * hw + p] = v;
      }
    }
  }
  return out;
}

/**
 * Rank-4 maps in channels-last order, as the head and the feature cache take them: the
 * output of an NCHW model is read as NCHW and transposed; other outputs pass as they are.
 */
export function toChannelsLast(out: OrtOutput, layout: OnnxLayout): OrtOutput {
  if (layout !== 'NCHW' || out.shape.length !== 4) return out;
  const [n, c, h, w] = out.shape;
  const hw = h * w;
  const data = new Float32Array(out.data.length);
  for (let b = 0; b < n; b++) {
    const base = b * c * hw;
    for (let ch = 0; ch < c; ch++) {
      const src = base + ch * hw;
      for (let p = 0; p < hw; p++) data[base + p * c + ch] = out.data[src + p];
    }
  }
  return { data, shape: [n, h, w, c] };
}

/** An ONNX image model used as a frozen base: RGB 0..255 NHWC batches in, its (cut) output out. */
export class OnnxBase {
  private constructor(
    readonly info: OnnxBaseInfo,
    private readonly model: OrtModel,
  ) {}

  static async load(file: string, opts: OnnxBaseOptions = {}): Promise<OnnxBase> {
    const { info, bytes } = inspectOnnxBase(file, opts);
    return OnnxBase.open(info, bytes, opts.threads);
  }

  /** A session on what inspectOnnxBase returned (the bytes already cut). */
  static async open(info: OnnxBaseInfo, bytes: Uint8Array, threads?: number): Promise<OnnxBase> {
    let model: OrtModel;
    try {
      model = await OrtModel.create(bytes, { inputName: info.inputName, outputName: info.outputName, threads });
    } catch (e) {
      throw onnxError(
        info.file,
        `cannot be loaded by ONNX Runtime (${(e as Error).message.split('\n')[0]})`,
        'Check that the file is complete and uses standard ONNX operators.',
      );
    }
    return new OnnxBase(info, model);
  }

  /**
   * The model's output for `n` images (RGB 0..255, [n, H, W, 3] at the base's image size),
   * as it gives it; a model that fixes its batch size runs that many images at a time.
   */
  async run(images: Float32Array, n: number): Promise<OrtOutput> {
    const [h, w] = this.info.imageSize;
    const step = this.info.batch ?? n;
    const per = h * w * 3;
    const parts: OrtOutput[] = [];
    for (let start = 0; start < n; start += step) {
      const k = Math.min(step, n - start);
      if (k !== step && this.info.batch !== null) {
        // the fixed batch is padded with empty images; their rows are dropped
        const padded = new Float32Array(step * per);
        padded.set(images.subarray(start * per, (start + k) * per));
        const out = await this.runBatch(padded, step);
        const row = out.data.length / step;
        parts.push({ data: out.data.slice(0, k * row), shape: [k, ...out.shape.slice(1)] });
      } else {
        parts.push(await this.runBatch(images.subarray(start * per, (start + k) * per), k));
      }
    }
    if (parts.length === 1) return parts[0];
    const data = new Float32Array(parts.reduce((a, p) => a + p.data.length, 0));
    let at = 0;
    for (const p of parts) {
      data.set(p.data, at);
      at += p.data.length;
    }
    return { data, shape: [n, ...parts[0].shape.slice(1)] };
  }

  /** Features as the head takes them: run(), with rank-4 maps channels-last (see toChannelsLast). */
  async features(images: Float32Array, n: number): Promise<OrtOutput> {
    return toChannelsLast(await this.run(images, n), this.info.layout);
  }

  async dispose(): Promise<void> {
    await this.model.dispose();
  }

  private async runBatch(images: Float32Array, n: number): Promise<OrtOutput> {
    const [h, w] = this.info.imageSize;
    const shape = this.info.layout === 'NCHW' ? [n, 3, h, w] : [n, h, w, 3];
    return this.model.run(toModelInput(images, n, this.info), shape);
  }
}
