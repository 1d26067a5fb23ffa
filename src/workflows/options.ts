import { UserError } from '../errors.js';
import { isOnnxBasePath, parsePreprocess } from '../ort/onnxBase.js';
import { FLIP_CHOICES, type AugmentationParams } from '../augment/params.js';
import type { HistoryData } from '../run/history.js';
import type { HeadActivation, HeadPooling, TrainMode } from '../run/meta.js';
import { PRECISIONS, type Precision } from '../ort/int8.js';

/**
 * The options of a training run, one source of truth for the CLI (`tlkit train`) and
 * the library (`train()`): the defaults live in TRAIN_DEFAULTS, the checks in
 * validateTrainOptions, which names options as the caller knows them (`epochs` from
 * code, `--epochs` from the command line).
 */
export type { HeadActivation, HeadPooling, TrainMode } from '../run/meta.js';
import type { OptimizerName } from '../fit/optimizer.js';
export type { OptimizerName } from '../fit/optimizer.js';

export const TRAIN_MODES: readonly TrainMode[] = ['features', 'augment', 'finetune'];
export const OPTIMIZERS: readonly OptimizerName[] = ['rmsprop', 'adam', 'sgd'];
export const POOLINGS: readonly HeadPooling[] = ['flatten', 'avg'];
export const HEAD_ACTIVATIONS: readonly HeadActivation[] = ['linear', 'relu'];
/** Where the head trains when it trains alone (features mode, finetune's head phase). */
export type HeadEngine = 'tfjs' | 'ort';
export const HEAD_ENGINES: readonly HeadEngine[] = ['tfjs', 'ort'];

export interface TrainOptions {
  /** Data dir: train/validation/(test/) with class folders, or class folders directly (then validationSplit). */
  data: string;
  /** Conv base: family name, tfjs model dir, .h5 file or 'nsfwjs' (see loadBase), or an ONNX image model (a .onnx file: features and augment modes). */
  base: string;
  /** ONNX base: its preprocessing, a preset (caffe, tf, torch, clip, none) or keys "scale=1/255,mean=...,std=...,order=rgb". Default none. */
  preprocess?: string;
  /** ONNX base: cut it at this node output (default: the model's first output). */
  upTo?: string;
  /** 'imagenet' | 'none' | a weights file; undefined = the base's default. */
  weights?: string;
  /** Default 'features'. */
  mode: TrainMode;
  /** The run folder to write (model, meta.json, history.json, log.csv, plots). */
  out: string;
  /** Default 20 (the book). For finetune: the fine-tuning epochs (and the head's, when it is trained first). */
  epochs: number;
  /** N means N x N; undefined = the base's usual size. */
  imageSize?: number;
  /** Default 32. */
  batchSize: number;
  /** Default: 1e-3 (RMSprop's Keras default); finetune mode uses 1e-5 when unset. */
  learningRate?: number;
  /** Default 'rmsprop' (Keras defaults: rho 0.9, epsilon 1e-7 inside the sqrt, no momentum). */
  optimizer: OptimizerName;
  /** Finetune mode: how many layers at the end of the base to unfreeze (default: the family's last block). */
  unfreeze?: number;
  /** Finetune mode: start from this run folder's trained model. */
  from?: string;
  /** Finetune mode: augment the training images (the frozen prefix then runs every batch). */
  augment: boolean;
  /** Augment mode (and finetune with augment): default the book's flip horizontal, rotation 0.1, zoom 0.2. */
  augmentation?: Partial<AugmentationParams>;
  /** Seeds weight initialisation, shuffling, dropout and augmentation. Default 1337. */
  seed: number;
  /** Continue the run in `out` from its last finished epoch (weights and optimizer state). */
  resume: boolean;
  /** Used when `data` has no validation/ folder (Keras validation_split), features mode. */
  validationSplit?: number;
  /** Head: Dense units (default 256; 0 = none), dropout rate (default 0.5), pooling of the base output (default flatten). */
  headUnits: number;
  /** The hidden Dense's activation: 'linear' (default, the book's `Dense(256)`) or 'relu'. */
  headActivation: HeadActivation;
  dropout: number;
  pooling: HeadPooling;
  /**
   * What trains (the head in every mode, and fine-tuning's unfrozen layers with it): 'ort'
   * (default: generated training graphs on ONNX Runtime, ortTraining/) or 'tfjs' (wasm
   * backend). A model the graphs cannot express falls back to tfjs, said once. Same curves
   * within 1e-3 without dropout; the saved model, its resume state and its export are the
   * same either way.
   */
  engine: HeadEngine;
  /** Stop when val_loss has not improved for this many epochs (0 = off, the default). */
  earlyStoppingPatience: number;
  /** Skip undecodable images instead of failing (default false). */
  skipBadImages: boolean;
  /**
   * The frozen base (features, augment) or frozen prefix (finetune) on ONNX Runtime:
   * 'fp32' (default) or 'int8' (quantized, calibrated on 128 training images; faster on
   * CPUs with AVX-512 VNNI or AVX2). Trainable layers stay fp32.
   */
  precision: Precision;
  /** Where extracted features are cached; default `<tlkit cache>/features`. */
  cacheDir?: string;
  /** 0 = silent, 1 = progress (default). */
  verbose: 0 | 1;
  /** Aborting it stops training after the current batch (the CLI wires Ctrl-C to it). */
  signal?: AbortSignal;
}

export const TRAIN_DEFAULTS = {
  mode: 'features',
  epochs: 20,
  batchSize: 32,
  optimizer: 'rmsprop',
  seed: 1337,
  resume: false,
  augment: false,
  headUnits: 256,
  headActivation: 'linear',
  dropout: 0.5,
  pooling: 'flatten',
  engine: 'ort',
  earlyStoppingPatience: 0,
  skipBadImages: false,
  precision: 'fp32',
  verbose: 1,
} as const satisfies Partial<TrainOptions>;

/** What `train()` takes: data, base and out are required, everything else has a default. */
export type TrainOptionsInput = Pick<TrainOptions, 'data' | 'base' | 'out'> & Partial<TrainOptions>;

/** Who is calling: options are named `epochs` for code, `--epochs` for the command line. */
export type OptionNaming = 'api' | 'cli';

const CLI_FLAGS: Partial<Record<keyof TrainOptions, string>> = { earlyStoppingPatience: '--early-stopping', verbose: '--quiet' };

export function optionName(key: keyof TrainOptions | string, naming: OptionNaming): string {
  if (naming === 'api') return key;
  return CLI_FLAGS[key as keyof TrainOptions] ?? `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/** Fill in every default (undefined counts as not given). */
export function withTrainDefaults(input: TrainOptionsInput): TrainOptions {
  const given = Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined));
  return { ...TRAIN_DEFAULTS, ...given } as TrainOptions;
}

interface NumberRule {
  key: keyof TrainOptions;
  whole?: boolean;
  min: number;
  minInclusive?: boolean;
  max?: number;
  example: string;
  optional?: boolean;
}

const NUMBER_RULES: NumberRule[] = [
  { key: 'epochs', whole: true, min: 1, minInclusive: true, example: '20' },
  { key: 'batchSize', whole: true, min: 1, minInclusive: true, example: '32' },
  { key: 'imageSize', whole: true, min: 32, minInclusive: true, max: 2048, example: '180', optional: true },
  { key: 'learningRate', min: 0, max: 10, example: '1e-3', optional: true },
  { key: 'unfreeze', whole: true, min: 1, minInclusive: true, example: '4', optional: true },
  { key: 'seed', whole: true, min: 0, minInclusive: true, max: 2 ** 31 - 1, example: '1337' },
  { key: 'validationSplit', min: 0, max: 0.9, example: '0.2', optional: true },
  { key: 'headUnits', whole: true, min: 0, minInclusive: true, example: '256' },
  { key: 'dropout', min: 0, minInclusive: true, max: 0.95, example: '0.5' },
  { key: 'earlyStoppingPatience', whole: true, min: 0, minInclusive: true, example: '5' },
];

function checkChoice<T extends string>(key: string, value: unknown, choices: readonly T[], naming: OptionNaming): void {
  if (!choices.includes(value as T)) throw new UserError(`${optionName(key, naming)} must be one of ${choices.join(', ')}, got '${String(value)}'.`);
}

/** Every check that needs no file system: types, ranges, choices, options that only one mode reads. */
export function validateTrainOptions(o: TrainOptions, naming: OptionNaming): void {
  const name = (k: string) => optionName(k, naming);
  for (const key of ['data', 'base', 'out'] as const) {
    if (typeof o[key] !== 'string' || o[key].trim() === '') throw new UserError(`${name(key)} is required: give ${key === 'base' ? 'a conv base (e.g. vgg16)' : 'a folder path'}.`);
  }
  checkChoice('mode', o.mode, TRAIN_MODES, naming);
  checkChoice('optimizer', o.optimizer, OPTIMIZERS, naming);
  checkChoice('pooling', o.pooling, POOLINGS, naming);
  checkChoice('headActivation', o.headActivation, HEAD_ACTIVATIONS, naming);
  checkChoice('engine', o.engine, HEAD_ENGINES, naming);
  checkChoice('precision', o.precision, PRECISIONS, naming);
  for (const r of NUMBER_RULES) {
    const v = o[r.key];
    if (v === undefined && r.optional) continue;
    const n = v as number;
    const ok =
      typeof v === 'number' && Number.isFinite(n) && (!r.whole || Number.isInteger(n)) && (r.minInclusive ? n >= r.min : n > r.min) && (r.max === undefined || n <= r.max);
    if (!ok) {
      const kind = r.whole ? 'a whole number' : 'a number';
      const range = r.max === undefined ? `${r.minInclusive ? '>=' : '>'} ${r.min}` : `${r.minInclusive ? 'from' : 'above'} ${r.min} to ${r.max}`;
      throw new UserError(`${name(r.key)} must be ${kind} ${range}, got ${JSON.stringify(v)}. ${naming === 'cli' ? `Pass e.g. ${name(r.key)} ${r.example}` : `Use e.g. ${r.key}: ${r.example}`}.`);
    }
  }
  checkOnnxBaseOptions(o, naming);
  // Options of another mode would be ignored silently; say so instead.
  for (const key of ['from', 'unfreeze'] as const) {
    if (o[key] !== undefined && o.mode !== 'finetune') {
      throw new UserError(`${name(key)} applies to ${name('mode')} finetune only (got ${name('mode')} ${o.mode}). Use ${name('mode')} finetune, or drop ${name(key)}.`);
    }
  }
  if (o.augment && o.mode !== 'finetune') {
    throw new UserError(`${name('augment')} applies to ${name('mode')} finetune only (${name('mode')} augment always augments; got ${name('mode')} ${o.mode}). Drop ${name('augment')}.`);
  }
  const a = o.augmentation ?? {};
  const augmentKeys = Object.entries(a).filter(([, v]) => v !== undefined).map(([k]) => k);
  if (augmentKeys.length > 0 && o.mode === 'features') {
    const what = naming === 'cli' ? augmentKeys.map((k) => `--augment-${k}`).join(', ') : 'augmentation';
    throw new UserError(`${what} applies to ${name('mode')} augment (or finetune with ${name('augment')}), got ${name('mode')} features. Use ${name('mode')} augment, or drop ${what}.`);
  }
  if (a.flip !== undefined) checkChoice(naming === 'cli' ? 'augmentFlip' : 'augmentation.flip', a.flip, FLIP_CHOICES, naming);
  for (const k of ['rotation', 'zoom'] as const) {
    const v = a[k];
    if (v !== undefined && !(typeof v === 'number' && v >= 0 && v <= 1)) {
      throw new UserError(`${naming === 'cli' ? `--augment-${k}` : `augmentation.${k}`} must be a number from 0 to 1, got ${JSON.stringify(v)}.`);
    }
  }
}

/** --preprocess and --up-to belong to an ONNX base, which is frozen: features and augment modes only. */
function checkOnnxBaseOptions(o: TrainOptions, naming: OptionNaming): void {
  const name = (k: string) => optionName(k, naming);
  if (!isOnnxBasePath(o.base)) {
    for (const key of ['preprocess', 'upTo'] as const) {
      if (o[key] !== undefined) {
        throw new UserError(`${name(key)} applies to an ONNX base (${name('base')} model.onnx), got ${name('base')} ${o.base}, whose preprocessing and layers tlkit knows. Drop ${name(key)}.`);
      }
    }
    return;
  }
  if (o.mode === 'finetune') {
    throw new UserError(
      `${name('mode')} finetune cannot train an ONNX base (${o.base}): its graph is frozen, only the head on it trains. Use ${name('mode')} features or augment with it, or fine-tune a Keras family (${name('base')} resnet50, efficientnet_b0, convnext_tiny, mobilenet_v2, ...).`,
    );
  }
  if (o.weights !== undefined) throw new UserError(`${name('weights')} cannot be combined with the ONNX base ${o.base}, which brings its own weights. Drop ${name('weights')}.`);
  if (o.preprocess !== undefined) parsePreprocess(o.preprocess);
  if (o.upTo !== undefined && (typeof o.upTo !== 'string' || o.upTo.trim() === '')) throw new UserError(`${name('upTo')} must name a node output of ${o.base}, got ${JSON.stringify(o.upTo)}.`);
}

export interface TrainResult {
  runDir: string;
  /** 0-based epoch of the checkpoint kept in the run dir, -1 if none. */
  bestEpoch: number;
  /** The monitored value (val_loss) at bestEpoch. */
  bestValue: number;
  history: HistoryData;
  /** True when the abort signal (Ctrl-C) stopped training early. */
  interrupted: boolean;
  stoppedEarly: boolean;
  timings: Record<string, number>;
}
