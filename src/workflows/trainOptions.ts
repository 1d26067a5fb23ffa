import { z } from 'zod';
import { BOOK_AUGMENTATION, FLIP_CHOICES, type AugmentationParams } from '../augment/params.js';
import type { OptimizerName } from '../fit/optimizer.js';
import type { ScheduleName } from '../fit/schedule.js';
import { PRECISIONS } from '../ort/int8.js';
import type { CalibrationMethod, HeadActivation, HeadPooling, TrainMode } from '../run/meta.js';
import { decimal, int, oneOf, onOff, text, type Kind } from './optionKinds.js';
import { MAX_IMAGE_SIZE, MAX_SEED, MIN_IMAGE_SIZE } from './optionLimits.js';

/**
 * Every option of a training run, declared once: its type, default, range or choices,
 * help, the modes that read it, its names (`earlyStoppingPatience` in code,
 * `--early-stopping` on the command line) and how the page's form shows it. train()'s
 * defaults and checks, `tlkit train`'s flags, the page's training form and
 * docs/options.md are all made from TRAIN_OPTIONS below. A new option is one entry here
 * plus the code that reads it.
 */

// Each list is the keys of a record over its type, so that tsc says when a value is missing.
const keys = <T extends string>(all: Record<T, true>) => Object.keys(all) as T[];
export const TRAIN_MODES: readonly TrainMode[] = keys<TrainMode>({ features: true, augment: true, finetune: true, knn: true });
/** The modes that train a model; knn stores features instead (workflows/knn.ts). */
const TRAINING_MODES: readonly TrainMode[] = TRAIN_MODES.filter((m) => m !== 'knn');
/** What kNN mode reads; every other option is a training option, refused there when given. */
const KNN_READS = new Set([
  'data',
  'labels',
  'labelDelim',
  'fileColumn',
  'labelColumn',
  'validColumn',
  'multiLabel',
  'base',
  'mode',
  'out',
  'imageSize',
  'weights',
  'skipBadImages',
  'cacheDir',
  'verbose',
  'k',
]);
export const OPTIMIZERS: readonly OptimizerName[] = keys<OptimizerName>({ rmsprop: true, adam: true, adamw: true, sgd: true });
export const SCHEDULES: readonly ScheduleName[] = keys<ScheduleName>({ constant: true, 'one-cycle': true, cosine: true });
export const POOLINGS: readonly HeadPooling[] = keys<HeadPooling>({ flatten: true, avg: true });
export const HEAD_ACTIVATIONS: readonly HeadActivation[] = keys<HeadActivation>({ linear: true, relu: true });
export const RECIPES: readonly Recipe[] = keys<Recipe>({ book: true, 'fine-tune': true });
export const CALIBRATIONS: readonly CalibrationMethod[] = keys<CalibrationMethod>({ temperature: true, none: true });
/** How finetune trains: the book's (Keras) or fastai's fine_tune (workflows/recipe.ts). */
export type Recipe = 'book' | 'fine-tune';
/** Where the head trains when it trains alone (features mode, finetune's head phase). */
export type HeadEngine = 'tfjs' | 'ort';
export const HEAD_ENGINES: readonly HeadEngine[] = keys<HeadEngine>({ tfjs: true, ort: true });

/** The page's training form is in these boxes, in this order. */
export const FORM_GROUPS = ['basics', 'labels', 'head', 'augmentation', 'finetune', 'onnx', 'more'] as const;
export type FormGroup = (typeof FORM_GROUPS)[number];

interface FormHint {
  label?: string;
  group?: FormGroup;
  placeholder?: string;
  /** A list of suggestions the page fills in (the families for --base). */
  list?: 'bases';
  /** Why the form has no field for it (the page sets the value itself). */
  hidden?: string;
  /** The field's text is taken as typed, spaces included (a separator may be one space), not trimmed. */
  verbatim?: true;
  /** The field starts blank ("default (...)"), so that train() picks the value from the data (pooling: avg for multi-label). */
  blank?: true;
  /** The value a choice's field starts on when it is not the option's default (the page aims at the best model, the command line keeps the book's); the page sends a choice's value whatever it is. */
  default?: string | number | boolean;
}

interface About<T> {
  /** One line for --help, the form's tooltip and the docs table. */
  help: string;
  /** The modes that read it (default: all). */
  modes?: readonly TrainMode[];
  /** Why it does not apply to a mode, said when given there. */
  modeNotes?: Partial<Record<TrainMode, string>>;
  /** In finetune mode, read only with `augment`. */
  needsAugment?: true;
  /** Read only with an ONNX base ('onnx'), or never with one ('family'). */
  base?: 'onnx' | 'family';
  /** The command-line flag when it is not the kebab-case name. */
  flag?: string;
  /** The `<n>` of `--epochs <n>` when not the kind's. */
  arg?: string;
  /** A value-less flag that sets this value (--quiet sets verbose 0). */
  sets?: T;
  /** A good value for messages; default: the default. */
  example?: string;
  /** The default in words when it depends on the base or the mode (the value stays undefined). */
  defaultText?: string;
  /** What to give when it is missing (required options). */
  missing?: string;
  form?: FormHint;
}

export interface OptionSpec<T = unknown, Z extends z.ZodType = z.ZodType> extends About<T> {
  kind: Kind<T>;
  /** kind.zod, with its default or made optional: what the option types are inferred from. */
  zod: Z;
  presence: 'required' | 'default' | 'optional';
  default?: T;
}

function required<T>(kind: Kind<T>, about: About<NoInfer<T>>): OptionSpec<T, z.ZodType<T, T>> {
  return { ...about, kind, zod: kind.zod, presence: 'required' };
}

function withDefault<T>(kind: Kind<T>, value: NoInfer<T>, about: About<NoInfer<T>>): OptionSpec<T, z.ZodDefault<z.ZodType<T, T>>> {
  return { ...about, kind, zod: kind.zod.default(value as z.util.NoUndefined<T>), presence: 'default', default: value };
}

function optional<T>(kind: Kind<T>, about: About<NoInfer<T>>): OptionSpec<T, z.ZodOptional<z.ZodType<T, T>>> {
  return { ...about, kind, zod: kind.zod.optional(), presence: 'optional' };
}

/** 0 up to, not including, 1 (label smoothing 1 would leave no label). */
const FRACTION_BELOW_ONE: Kind<number> = {
  ...decimal(0, 1, { minInclusive: true }),
  zod: z.number().gte(0).lt(1),
  expect: 'a number from 0 to below 1',
};

const FINETUNE = ['finetune'] as const;
const AUGMENTING = ['augment', 'finetune'] as const;

// The order here is --help's, the form's and docs/options.md's.
const TOP = {
  data: required(text('a folder path', 'dir'), {
    help: 'data folder: train/, validation/ (test/) with class folders, or class folders directly (then with a validation split)',
    missing: 'a folder path',
    form: { hidden: 'the folder chosen under 1. Data' },
  }),
  // A labels table instead of class folders (src/data/labelsTable.ts reads these five by these names).
  labels: optional(text('a table file', 'file'), {
    help: 'labels from a table (CSV, TSV or JSON lines) instead of class folders: one column names each image, relative to the data folder (an id without extension matches any image extension), one holds its label',
    defaultText: 'class folders',
    example: 'train.csv',
    form: { group: 'labels' },
  }),
  // Any non-empty string: a space is fastai's usual separator.
  labelDelim: optional(
    { ...text('a separator', 'sep'), zod: z.string().min(1) },
    {
      help: 'with labels: the separator of several labels in one cell (fastai label_delim)',
      defaultText: 'one label a cell',
      example: '" "',
      form: { group: 'labels', verbatim: true, placeholder: 'one label a cell (type a space for "cat dog")' },
    },
  ),
  fileColumn: optional(text('a column name', 'name'), {
    help: "with labels: the table's file column",
    defaultText: 'id, file, filename, path, image, image_name ... by header',
    example: 'id',
    form: { group: 'labels' },
  }),
  labelColumn: optional(text('a column name', 'name'), {
    help: "with labels: the table's label column",
    defaultText: 'label, labels, tags, class, category ... by header',
    example: 'label',
    form: { group: 'labels' },
  }),
  validColumn: optional(text('a column name', 'name'), {
    help: 'with labels: a true/false column that picks the validation rows (fastai is_valid); without one, a validation split',
    defaultText: 'is_valid when present',
    example: 'is_valid',
    form: { group: 'labels' },
  }),
  // On by itself when a table row has several labels (data/tableData.ts).
  multiLabel: withDefault(onOff, false, {
    help: 'one sigmoid per class with binary cross-entropy, each image any number of labels (on by itself when a table row has several labels)',
    form: { group: 'labels', label: 'Multi-label' },
  }),
  threshold: optional(
    { ...decimal(0, 1), zod: z.number().gt(0).lt(1), expect: 'a number above 0 and below 1' },
    {
      help: "multi-label: the probability at which every class's label is given; default a threshold per class that maximises its F1 on the validation split",
      defaultText: 'per class, best F1 on validation',
      example: '0.5',
      form: { group: 'labels' },
    },
  ),
  base: required(text('a conv base', 'base'), {
    help: 'conv base: a family (vgg16, mobilenet, mobilenet_v2, resnet50, efficientnet_b0, convnext_tiny), nsfwjs, a tfjs model folder, a Keras .h5 file, or an ONNX image model (model.onnx: features and augment modes)',
    missing: 'a conv base (e.g. vgg16)',
    form: { group: 'basics', list: 'bases', placeholder: 'e.g. mobilenet_v2, or a model folder' },
  }),
  mode: withDefault(oneOf(TRAIN_MODES, 'mode'), 'features', {
    help: 'the workflow (features = cached features + a head; augment = augmented images through the frozen base + a head; finetune = the top of the base unfrozen; knn = no training: the cached features, pooled, vote by cosine k-nearest neighbours)',
    form: { group: 'basics' },
  }),
  k: withDefault(int(1), 5, {
    help: 'knn: the stored images nearest (by cosine similarity of the pooled features) to an image that vote for its class, each with weight max(similarity, 0); the probabilities are the votes over their sum',
    modes: ['knn'],
    form: { group: 'basics', label: 'k (knn)' },
  }),
  out: required(text('a folder path', 'run dir'), {
    help: 'where to write the run (model, meta.json, history.json, log.csv, plots)',
    missing: 'a folder path',
    form: { hidden: 'the run name: a folder in the runs folder' },
  }),
  epochs: withDefault(int(1), 20, {
    help: "epochs to train (finetune: its fine-tuning epochs, and the head's when it is trained first)",
    form: { group: 'basics' },
  }),
  batchSize: withDefault(int(1), 32, { help: 'images a training step', form: { group: 'basics' } }),
  learningRate: optional(decimal(0, 10), {
    help: 'learning rate',
    defaultText: '1e-3; finetune 1e-5',
    example: '1e-3',
    form: { group: 'basics' },
  }),
  optimizer: withDefault(oneOf(OPTIMIZERS), 'rmsprop', {
    help: 'Keras defaults (RMSprop: rho 0.9, epsilon 1e-7, no momentum; Adam: beta1 0.9, beta2 0.999, epsilon 1e-7; AdamW: Adam with decoupled weight decay; SGD: no momentum)',
    form: { group: 'basics' },
  }),
  weightDecay: optional(decimal(0, 1, { minInclusive: true }), {
    help: "adamw: decoupled weight decay, w -= lr x decay x w every step (0.01 as PyTorch's and fastai's AdamW; Keras 3's default is 0.004)",
    defaultText: '0.01 with adamw',
    example: '0.01',
    form: { group: 'more' },
  }),
  // Schedules: src/fit/schedule.ts; docs/training.md, "Schedules", maps each to PyTorch.
  schedule: withDefault(oneOf(SCHEDULES), 'constant', {
    help: 'the learning rate over each training phase, set before every batch: constant (the book); one-cycle (fastai fit_one_cycle = PyTorch OneCycleLR: up from lr/div to lr, down to lr/final-div, the momentum term cycled 0.95-0.85-0.95); cosine (warmup, then cosine annealing to 0)',
    form: { group: 'basics' },
  }),
  warmup: withDefault(decimal(0, 1, { minInclusive: true }), 0, {
    help: 'constant and cosine schedules: the fraction of the steps over which the rate rises linearly to the learning rate (0 = none)',
    example: '0.1',
    form: { group: 'more' },
  }),
  div: optional(decimal(1, undefined, { minInclusive: true }), {
    help: 'one-cycle: the first rate is the learning rate / div (fastai div, PyTorch div_factor)',
    defaultText: '25',
    example: '25',
    form: { group: 'more', label: 'One-cycle div' },
  }),
  finalDiv: optional(decimal(1, undefined, { minInclusive: true }), {
    help: 'one-cycle: the last rate is the learning rate / final-div (fastai div_final; PyTorch final_div_factor = final-div / div)',
    defaultText: '1e5',
    example: '1e5',
    form: { group: 'more', label: 'One-cycle final div' },
  }),
  pctStart: optional(decimal(0, 1), {
    help: 'one-cycle: the fraction of the steps that rise to the learning rate (fastai and PyTorch pct_start)',
    defaultText: "0.25 (fastai's fit_one_cycle)",
    example: '0.25',
    form: { group: 'more', label: 'One-cycle pct start' },
  }),
  labelSmoothing: withDefault(FRACTION_BELOW_ONE, 0, {
    help: 'the targets become y (1 - s) + s / classes (binary: y (1 - s) + s / 2), as Keras label_smoothing (0 = off)',
    example: '0.1',
    form: { group: 'more' },
  }),
  imageSize: optional(int(MIN_IMAGE_SIZE, MAX_IMAGE_SIZE), {
    help: 'N means N x N images',
    defaultText: "the base's usual size",
    example: '180',
    form: { group: 'basics' },
  }),
  seed: withDefault(int(0, MAX_SEED), 1337, {
    help: 'seed for initialisation, shuffling, dropout and augmentation',
    form: { group: 'basics' },
  }),
  weights: optional(text('imagenet, none or a weights file', 'w'), {
    help: 'imagenet | none | a Keras .h5 weights file',
    defaultText: 'imagenet for a family, downloaded once and cached',
    base: 'family',
    form: { group: 'more', placeholder: 'imagenet' },
  }),
  headUnits: withDefault(int(0), 256, { help: "units of the head's hidden Dense layer (0 = none)", form: { group: 'head' } }),
  headActivation: withDefault(oneOf(HEAD_ACTIVATIONS, 'a'), 'linear', {
    help: "the hidden Dense's activation (linear: the book's Dense(256))",
    form: { group: 'head', label: 'Activation' },
  }),
  dropout: withDefault(decimal(0, 0.95, { minInclusive: true }), 0.5, {
    help: 'dropout rate in the head',
    example: '0.2',
    form: { group: 'head' },
  }),
  pooling: withDefault(oneOf(POOLINGS, 'p'), 'flatten', {
    help: "how the base's feature map enters the head (multi-label data: avg unless given, since a flattened head saturates its sigmoids)",
    form: { group: 'head', blank: true, placeholder: 'flatten; avg for multi-label' },
  }),
  unfreeze: optional(int(1), {
    help: 'layers at the end of the base to train',
    modes: FINETUNE,
    defaultText: "the family's last block; its last two stages with --recipe fine-tune",
    example: '4',
    form: { group: 'finetune' },
  }),
  from: optional(text('a run folder', 'run dir'), {
    help: "start from this run's trained model",
    modes: FINETUNE,
    defaultText: 'train the head first',
    form: { group: 'finetune', placeholder: 'train the head first' },
  }),
  augment: withDefault(onOff, false, {
    help: 'augment the training images on the fly (the frozen prefix then runs every batch instead of being cached)',
    modes: FINETUNE,
    modeNotes: { augment: 'which always augments' },
    form: { group: 'finetune', label: 'Augment (finetune)' },
  }),
  // fastai's fine-tuning (workflows/recipe.ts): what --recipe fine-tune sets is said in its help and docs/training.md.
  recipe: withDefault(oneOf(RECIPES, 'r'), 'book', {
    help: "how finetune trains. book: Keras's (a head for --epochs, then the top of the base at one constant rate, RMSprop 1e-5). fine-tune: fastai's fine_tune (and --mode finetune): a head for --freeze-epochs with one-cycle (pct_start 0.99), then the base's last two stages (--unfreeze) + the head with one-cycle (pct_start 0.3, div 5) at half the rate, over layer groups (--lr-mult); unless given, it sets --optimizer adamw, --learning-rate 2e-3, --schedule one-cycle, --lr-mult 100, --freeze-epochs 1, --epochs 8, --augment, --pooling avg, --head-activation relu",
    modes: FINETUNE,
    form: { group: 'finetune', default: 'fine-tune' },
  }),
  freezeEpochs: optional(int(1), {
    help: 'epochs of the head phase, trained on the frozen base before the base is unfrozen (when no --from run gives a head)',
    modes: FINETUNE,
    defaultText: '--epochs; 1 with --recipe fine-tune',
    example: '1',
    form: { group: 'finetune' },
  }),
  lrMult: optional(decimal(1, undefined, { minInclusive: true }), {
    help: "discriminative learning rates: the unfrozen layers are split into groups at the base's stage ends, the head is the last group; the first group trains at lr/N, the head at lr, the groups between at geometric steps (fastai's slice(lr/N, lr))",
    modes: FINETUNE,
    defaultText: '1 (one rate for all); 100 with --recipe fine-tune',
    example: '100',
    form: { group: 'finetune', label: 'LR mult' },
  }),
  trainBn: withDefault(onOff, false, {
    help: "fastai's train_bn: the BatchNormalization layers among the unfrozen layers train their scale and offset and normalise with batch statistics (updating the moving ones), instead of staying frozen in inference mode (Keras's way). The frozen prefix, cached or run on ONNX Runtime, keeps its BatchNormalization frozen. Where ONNX Runtime's training graphs cannot run BatchNormalization in training mode, fine-tuning says so and trains on tfjs",
    modes: FINETUNE,
    form: { group: 'finetune', label: 'Train BatchNorm' },
  }),
  validationSplit: optional(decimal(0, 0.9), {
    help: 'fraction of train to validate on when the data has no validation/ folder',
    modes: ['features'],
    defaultText: 'none',
    example: '0.2',
    form: { group: 'more' },
  }),
  earlyStoppingPatience: withDefault(int(0), 0, {
    help: 'stop when val_loss has not improved for this many epochs (0 = off)',
    flag: '--early-stopping',
    arg: 'patience',
    example: '5',
    form: { group: 'more', label: 'Early stopping patience' },
  }),
  calibration: withDefault(oneOf(CALIBRATIONS, 'method'), 'temperature', {
    help: 'when training ends: temperature = fit a temperature T on the validation split and fold it into the last Dense layer of the saved model, so that its probabilities match its accuracy (accuracy unchanged); none = keep the raw model',
    form: { group: 'more' },
  }),
  engine: withDefault(oneOf(HEAD_ENGINES, 'e'), 'ort', {
    help: 'what trains the head and, in finetune mode, the unfrozen layers: ort = ONNX Runtime (generated training graphs), tfjs = the wasm backend',
    form: { group: 'more' },
  }),
  precision: withDefault(oneOf(PRECISIONS, 'p'), 'fp32', {
    help: "the frozen base (or finetune's frozen prefix) on ONNX Runtime; int8 is quantized, calibrated on 32 training images (faster on CPUs with AVX-512 VNNI or AVX2)",
    form: { group: 'more' },
  }),
  skipBadImages: withDefault(onOff, false, { help: 'skip undecodable images instead of stopping', form: { group: 'more' } }),
  preprocess: optional(text('a preprocessing preset or keys', 'p'), {
    help: 'ONNX base: its preprocessing, caffe | tf | torch | clip | none, or keys "scale=1/255,mean=0.485/0.456/0.406,std=0.229/0.224/0.225,order=rgb"',
    defaultText: 'none: RGB 0..255',
    base: 'onnx',
    form: { group: 'onnx' },
  }),
  upTo: optional(text('a node output name', 'node'), {
    help: 'ONNX base: cut it at this node output',
    defaultText: 'its first output',
    base: 'onnx',
    form: { group: 'onnx', label: 'Up to (node output)' },
  }),
  cacheDir: optional(text('a folder path', 'dir'), {
    help: 'where extracted features are cached (a folder `tlkit extract --out` or `tlkit merge` wrote for this data, base and image size is read as it is)',
    defaultText: '<tlkit cache>/features',
    form: { group: 'more' },
  }),
  resume: withDefault(onOff, false, {
    help: 'continue the run in the out folder from its last finished epoch (weights and optimizer state)',
    form: { hidden: 'the page starts a new run folder each time' },
  }),
  verbose: withDefault(oneOf([0, 1] as const), 1, {
    help: 'no progress output',
    flag: '--quiet',
    sets: 0,
    form: { hidden: 'the page shows the progress itself' },
  }),
};

/** `augmentation: { flip, rotation, zoom }` in code, --augment-flip ... on the command line; the mode fills in the book's values. */
const AUGMENTATION = {
  flip: optional(oneOf(FLIP_CHOICES, 'mode'), { help: 'RandomFlip', defaultText: BOOK_AUGMENTATION.flip }),
  rotation: optional(decimal(0, 1, { minInclusive: true }), {
    help: 'RandomRotation factor, a fraction of a full turn (0 = off)',
    defaultText: String(BOOK_AUGMENTATION.rotation),
  }),
  zoom: optional(decimal(0, 1, { minInclusive: true }), {
    help: 'RandomZoom factor (0 = off)',
    defaultText: String(BOOK_AUGMENTATION.zoom),
  }),
} satisfies { [K in keyof AugmentationParams]: OptionSpec<AugmentationParams[K], z.ZodType> };

type Specs = Record<string, { zod: z.ZodType }>;
type Shape<S extends Specs> = { [K in keyof S]: S[K]['zod'] };

function shapeOf<S extends Specs>(specs: S): Shape<S> {
  return Object.fromEntries(Object.entries(specs).map(([k, s]) => [k, s.zod])) as Shape<S>;
}

/** The options as one zod object: z.input is what train() takes, z.output what it runs with. */
export const TRAIN_OPTIONS_SCHEMA = z.object({ ...shapeOf(TOP), augmentation: z.object(shapeOf(AUGMENTATION)).optional() });

/** One option as the CLI, the form and the docs enumerate them. */
export interface TrainOption extends OptionSpec {
  /** The form field and the key of values given as text: the API name, `augmentFlip` for augmentation.flip. */
  id: string;
  /** Its name in code, e.g. 'augmentation.flip'. */
  api: string;
  path: readonly string[];
  /** e.g. '--early-stopping'. */
  flag: string;
}

const kebab = (s: string) => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** An option no mode list restricts is read by every mode that trains, and by knn only when it says so. */
function withKnn(key: string, s: OptionSpec): OptionSpec {
  if (s.modes || KNN_READS.has(key)) return s;
  return { ...s, modes: TRAINING_MODES, modeNotes: { ...s.modeNotes, knn: 'which trains nothing' } };
}

/** Every option, in --help order. */
export const TRAIN_OPTIONS: readonly TrainOption[] = [
  ...Object.entries(TOP).map(
    ([k, s]): TrainOption => ({ ...withKnn(k, s as OptionSpec), id: k, api: k, path: [k], flag: s.flag ?? `--${kebab(k)}` }),
  ),
  ...Object.entries(AUGMENTATION).map(
    ([k, s]): TrainOption => ({
      ...(s as OptionSpec),
      modes: AUGMENTING,
      needsAugment: true,
      form: { group: 'augmentation' },
      id: `augment${k[0].toUpperCase()}${k.slice(1)}`,
      api: `augmentation.${k}`,
      path: ['augmentation', k],
      flag: `--augment-${k}`,
    }),
  ),
];

const BY_ID = new Map(TRAIN_OPTIONS.flatMap((o) => [[o.id, o] as const, [o.api, o] as const]));

/** The option by its id or API name (`augmentFlip` or `augmentation.flip`). */
export function trainOption(name: string): TrainOption | undefined {
  return BY_ID.get(name);
}

/** The options whose default is a fixed value. */
type DefaultedKey = { [K in keyof typeof TOP]: (typeof TOP)[K]['zod'] extends z.ZodDefault ? K : never }[keyof typeof TOP];
export type TrainDefaults = { readonly [K in DefaultedKey]: z.output<typeof TRAIN_OPTIONS_SCHEMA>[K] };

export const TRAIN_DEFAULTS: TrainDefaults = Object.freeze(
  Object.fromEntries(TRAIN_OPTIONS.filter((o) => o.presence === 'default').map((o) => [o.api, o.default])) as TrainDefaults,
);
