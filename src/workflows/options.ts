/**
 * The options of `tlkit train`, shared by the three workflows (features mode in
 * featuresMode.ts, augment and finetune modes in augmentMode.ts / finetuneMode.ts).
 * The CLI (src/cli/commands/train.ts) parses arguments into this object, fills in
 * the defaults with `withTrainDefaults`, and calls the mode's function:
 *
 *   trainFeatures(opts: TrainOptions): Promise<TrainResult>   (featuresMode.ts)
 *   trainAugment(opts: TrainOptions): Promise<TrainResult>    (augmentMode.ts)
 *   trainFinetune(opts: TrainOptions): Promise<TrainResult>   (finetuneMode.ts)
 */
export type TrainMode = 'features' | 'augment' | 'finetune';
export type HeadPooling = 'flatten' | 'avg';
export type OptimizerName = 'rmsprop' | 'adam' | 'sgd';

export interface TrainOptions {
  /** Data dir: train/validation/(test/) with class folders, or class folders directly (then validationSplit). */
  data: string;
  /** Conv base: family name, tfjs model dir, .h5 file or 'nsfwjs' (see loadBase). */
  base: string;
  /** 'imagenet' | 'none' | a weights file; undefined = the base's default. */
  weights?: string;
  mode: TrainMode;
  /** The run dir to write (model, meta.json, history.json, log.csv, plots). */
  out: string;
  /** Default 20 (the book). */
  epochs: number;
  /** N means N x N; undefined = the base's usual size. */
  imageSize?: number;
  /** Default 32. */
  batchSize: number;
  /** Default: 1e-3 (RMSprop's Keras default); finetune mode uses 1e-5 when unset. */
  learningRate?: number;
  /** Default 'rmsprop' (Keras defaults: rho 0.9, epsilon 1e-7 inside the sqrt, no momentum). */
  optimizer: OptimizerName;
  /** Finetune mode: how many layers at the end of the base to unfreeze (book: 4). */
  unfreeze?: number;
  /** Finetune mode: start from this run dir's trained model. */
  from?: string;
  /** Seeds weight initialisation, shuffling, dropout and augmentation. Default 1337. */
  seed: number;
  /** Continue an interrupted run in `out` from its best checkpoint. */
  resume: boolean;
  /** Used when `data` has no validation/ folder (Keras validation_split). */
  validationSplit?: number;
  /** Head: Dense units (default 256), dropout rate (default 0.5), pooling of the base output (default flatten). */
  headUnits: number;
  dropout: number;
  pooling: HeadPooling;
  /** Stop when val_loss has not improved for this many epochs (0 = off, the default). */
  earlyStoppingPatience: number;
  /** Skip undecodable images instead of failing (default false). */
  skipBadImages: boolean;
  /** Where extracted features are cached; default `<out>/features`. */
  cacheDir?: string;
  /** 0 = silent, 1 = progress line per epoch (default). */
  verbose: 0 | 1;
  /** Aborting it stops training after the current batch (the CLI wires SIGINT to it). */
  signal?: AbortSignal;
}

export const TRAIN_DEFAULTS = {
  epochs: 20,
  batchSize: 32,
  optimizer: 'rmsprop',
  seed: 1337,
  resume: false,
  headUnits: 256,
  dropout: 0.5,
  pooling: 'flatten',
  earlyStoppingPatience: 0,
  skipBadImages: false,
  verbose: 1,
} as const satisfies Partial<TrainOptions>;

export type TrainOptionsInput = Pick<TrainOptions, 'data' | 'base' | 'mode' | 'out'> & Partial<TrainOptions>;

export function withTrainDefaults(input: TrainOptionsInput): TrainOptions {
  const out: TrainOptions = { ...TRAIN_DEFAULTS, ...stripUndefined(input) } as TrainOptions;
  return out;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** One epoch's numbers, Keras names (loss, accuracy, val_loss, val_accuracy). */
export type EpochLogs = Record<string, number>;

/** What Keras's History.history holds: metric name -> one value per epoch. */
export interface HistoryData {
  epoch: number[];
  history: Record<string, number[]>;
  /** Epoch (0-based) where fine-tuning started, for the plots' marker. */
  fineTuneStartEpoch?: number;
}

export interface TrainResult {
  runDir: string;
  /** 0-based epoch of the checkpoint kept in the run dir, -1 if none. */
  bestEpoch: number;
  /** The monitored value (val_loss) at bestEpoch. */
  bestValue: number;
  history: HistoryData;
  /** True when SIGINT / the abort signal stopped training early. */
  interrupted: boolean;
  stoppedEarly: boolean;
  timings: Record<string, number>;
}
