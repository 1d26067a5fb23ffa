import path from 'node:path';
import { UserError } from '../errors.js';
import { deriveSeed, randomSeed, Rng } from '../io/rng.js';
import { BadImageError, decodeRgb, IMAGE_EXTENSIONS, resizeDecoded, type Interpolation } from './decode.js';
import { listClassDirs, listImageFiles, SPLIT_NAMES } from './splits.js';

export type LabelMode = 'int' | 'binary' | 'categorical';

/** Options of imageDatasetFromDirectory, Keras's names in camelCase, Keras's defaults. */
export interface ImageDatasetOptions {
  /** 'int' (default): class ids, shape [n]; 'binary': 0/1, shape [n, 1] (exactly 2 classes); 'categorical': one-hot, [n, classes]. */
  labelMode?: LabelMode;
  /** Class folders to use, in this label order (a subset of the sub-folders). Default: all, sorted alphanumerically. */
  classNames?: string[];
  /** Images per batch (the last batch may be smaller). Default 32. */
  batchSize?: number;
  /** [height, width] to resize to. Default [256, 256]. */
  imageSize?: [number, number];
  /** Shuffle the files once (before a validation split) and again every epoch. Default true. */
  shuffle?: boolean;
  /** Seed for shuffling; required with validationSplit + shuffle (as in Keras) so both subsets agree. */
  seed?: number;
  /** Fraction of the files held out for validation (the last ones after the seeded shuffle). */
  validationSplit?: number;
  /** Which part to return when validationSplit is set: 'training', 'validation', or 'both' ([train, val]). */
  subset?: 'training' | 'validation' | 'both';
  /** Resize method. Default 'bilinear' (half-pixel centres, as tf.image.resize). */
  interpolation?: Interpolation;
  /** Crop the largest centred window of the target aspect ratio before resizing. Default false. */
  cropToAspectRatio?: boolean;
  /** Skip files that cannot be decoded (with a warning) instead of stopping with a UserError. Default false. */
  skipBadImages?: boolean;
  /** Batches decoded ahead of the consumer; bounds memory at about (prefetch + 1) batches. Default 2. */
  prefetch?: number;
  /** Called for each skipped file (skipBadImages). Default: a warning line on stderr. */
  onBadImage?: (file: string, reason: string) => void;
}

export interface Batch {
  /** NHWC RGB, float32 values in 0..255. */
  images: Float32Array;
  shape: [number, number, number, 3];
  /** Class ids, 0/1, or one-hot rows, according to labelMode. */
  labels: Float32Array;
  labelShape: number[];
  /** The files in this batch, in order. */
  files: string[];
}

export interface ImageDataset {
  classNames: string[];
  /** Files of this dataset (after the split), in their initial (seed-shuffled or sorted) order. */
  files: string[];
  /** Class id of each file in `files`. */
  labels: Int32Array;
  size: number;
  batchSize: number;
  imageSize: [number, number];
  labelMode: LabelMode;
  /** ceil(size / batchSize); fewer batches may come when bad images are skipped. */
  numBatches: number;
  /** One epoch of batches, decoded ahead with bounded memory; reshuffled every epoch when shuffle is on. */
  batches(): AsyncIterable<Batch>;
  /** Files skipped so far because they could not be decoded (skipBadImages). */
  skipped: string[];
  /** Most decodes that were in flight at once so far: at most (prefetch + 1) x batchSize. */
  readonly maxInFlight?: number;
}

/**
 * Keras's `image_dataset_from_directory`: one sub-folder of `dir` per class, classes
 * sorted alphanumerically, files found recursively (.bmp .gif .jpeg .jpg .png),
 * decoded to RGB and resized with bilinear interpolation (half-pixel centres).
 */
export function imageDatasetFromDirectory(dir: string, opts: ImageDatasetOptions & { subset: 'both' }): Promise<[ImageDataset, ImageDataset]>;
export function imageDatasetFromDirectory(dir: string, opts?: ImageDatasetOptions & { subset?: 'training' | 'validation' }): Promise<ImageDataset>;
export function imageDatasetFromDirectory(dir: string, opts?: ImageDatasetOptions): Promise<ImageDataset | [ImageDataset, ImageDataset]>;
export async function imageDatasetFromDirectory(dir: string, opts: ImageDatasetOptions = {}): Promise<ImageDataset | [ImageDataset, ImageDataset]> {
  const o = checkOptions(opts);
  const { classNames, files, labels } = indexDirectory(dir, o.classNames);
  if (o.labelMode === 'binary' && classNames.length !== 2) {
    throw new UserError(
      `labelMode 'binary' needs exactly 2 classes, but ${dir} has ${classNames.length}: ${classNames.join(', ')}. ` +
        "Use labelMode 'categorical' or 'int', or pass the two classNames to use.",
    );
  }
  // Keras shuffles the whole file list once with the seed, then splits off the tail for validation.
  const seed = o.seed ?? randomSeed();
  const order = Array.from(files.keys());
  if (o.shuffle) new Rng(seed).shuffle(order);
  const nVal = o.validationSplit ? Math.trunc(o.validationSplit * files.length) : 0;
  const make = (idx: number[], tag: number): ImageDataset =>
    new DirectoryDataset(
      classNames,
      idx.map((i) => files[i]),
      Int32Array.from(idx, (i) => labels[i]),
      o,
      deriveSeed(seed, tag),
    );
  const train = () => make(order.slice(0, order.length - nVal), 1);
  const val = () => make(order.slice(order.length - nVal), 2);
  let result: ImageDataset | [ImageDataset, ImageDataset];
  if (!o.subset) result = make(order, 0);
  else if (o.subset === 'training') result = train();
  else if (o.subset === 'validation') result = val();
  else result = [train(), val()];
  for (const ds of Array.isArray(result) ? result : [result]) {
    if (ds.size === 0) {
      throw new UserError(
        `validationSplit ${o.validationSplit} leaves no images for one subset of ${dir} (${files.length} images in all). Use a split between 0 and 1 that leaves images on both sides.`,
      );
    }
  }
  return result;
}

type CheckedOptions = Required<Omit<ImageDatasetOptions, 'seed' | 'validationSplit' | 'subset' | 'classNames' | 'onBadImage'>> &
  Pick<ImageDatasetOptions, 'seed' | 'validationSplit' | 'subset' | 'classNames' | 'onBadImage'>;

function checkOptions(opts: ImageDatasetOptions): CheckedOptions {
  const o: CheckedOptions = {
    labelMode: 'int',
    batchSize: 32,
    imageSize: [256, 256],
    shuffle: true,
    interpolation: 'bilinear',
    cropToAspectRatio: false,
    skipBadImages: false,
    prefetch: 2,
    ...dropUndefined(opts),
  };
  if (!['int', 'binary', 'categorical'].includes(o.labelMode)) {
    throw new UserError(`labelMode must be 'int', 'binary' or 'categorical', got '${o.labelMode}'.`);
  }
  if (!Number.isInteger(o.batchSize) || o.batchSize < 1) throw new UserError(`batchSize must be a positive integer, got ${o.batchSize}.`);
  if (!Array.isArray(o.imageSize) || o.imageSize.length !== 2 || !o.imageSize.every((v) => Number.isInteger(v) && v >= 1)) {
    throw new UserError(`imageSize must be [height, width] with positive integers, got ${JSON.stringify(o.imageSize)}.`);
  }
  if (!['bilinear', 'nearest'].includes(o.interpolation)) {
    throw new UserError(`interpolation must be 'bilinear' or 'nearest', got '${o.interpolation}'.`);
  }
  if (!Number.isInteger(o.prefetch) || o.prefetch < 0) throw new UserError(`prefetch must be an integer >= 0, got ${o.prefetch}.`);
  if (o.validationSplit !== undefined && !(o.validationSplit > 0 && o.validationSplit < 1)) {
    throw new UserError(`validationSplit must be between 0 and 1 (exclusive), got ${o.validationSplit}.`);
  }
  if (o.subset && !['training', 'validation', 'both'].includes(o.subset)) {
    throw new UserError(`subset must be 'training', 'validation' or 'both', got '${o.subset}'.`);
  }
  if (o.subset && !o.validationSplit) throw new UserError(`subset '${o.subset}' needs validationSplit (e.g. 0.2).`);
  if (o.validationSplit && !o.subset) {
    throw new UserError("validationSplit needs subset: 'training', 'validation' or 'both'.");
  }
  if (o.validationSplit && o.shuffle && o.seed === undefined) {
    throw new UserError('validationSplit with shuffling needs a seed (e.g. --seed 1337), so that the training and validation subsets do not overlap.');
  }
  return o;
}

/** Class names and (file, label) pairs of a class-folder directory, in Keras's order. */
export function indexDirectory(dir: string, requested?: string[]): { classNames: string[]; files: string[]; labels: Int32Array } {
  let subdirs: string[];
  try {
    subdirs = listClassDirs(dir);
  } catch {
    throw new UserError(`The data folder ${dir} does not exist or cannot be read. Pass a folder with one sub-folder per class.`);
  }
  if (subdirs.length === 0) {
    throw new UserError(`The data folder ${dir} has no class folders. Expected one sub-folder per class (e.g. cats/ and dogs/) holding that class's images.`);
  }
  if (subdirs.every((s) => (SPLIT_NAMES as readonly string[]).includes(s))) {
    throw new UserError(
      `${dir} has ${subdirs.map((s) => s + '/').join(', ')} folders, i.e. the train/validation/test layout; ` +
        `pass one split folder (e.g. ${path.join(dir, 'train')}) here, whose sub-folders are the classes.`,
    );
  }
  let classNames = subdirs;
  if (requested) {
    const unknown = requested.filter((c) => !subdirs.includes(c));
    if (unknown.length || new Set(requested).size !== requested.length || requested.length === 0) {
      throw new UserError(
        `classNames ${JSON.stringify(requested)} do not match the class folders of ${dir}: expected a subset of ${JSON.stringify(subdirs)} without repeats.`,
      );
    }
    classNames = requested;
  }
  const files: string[] = [];
  const labels: number[] = [];
  classNames.forEach((c, i) => {
    const found = listImageFiles(path.join(dir, c));
    if (found.length === 0) {
      throw new UserError(`The class folder ${path.join(dir, c)} has no images (expected files ending in ${IMAGE_EXTENSIONS.join(', ')}). Add images to it or remove the folder.`);
    }
    for (const f of found) {
      files.push(f);
      labels.push(i);
    }
  });
  return { classNames, files, labels: Int32Array.from(labels) };
}

type Decoded = { ok: true; pixels: Float32Array } | { ok: false; error: unknown };

class DirectoryDataset implements ImageDataset {
  readonly size: number;
  readonly numBatches: number;
  readonly batchSize: number;
  readonly imageSize: [number, number];
  readonly labelMode: LabelMode;
  readonly skipped: string[] = [];
  maxInFlight = 0;
  private epoch = 0;

  constructor(
    readonly classNames: string[],
    readonly files: string[],
    readonly labels: Int32Array,
    private readonly o: CheckedOptions,
    private readonly seed: number,
  ) {
    this.size = files.length;
    this.batchSize = o.batchSize;
    this.imageSize = [o.imageSize[0], o.imageSize[1]];
    this.labelMode = o.labelMode;
    this.numBatches = Math.ceil(this.size / this.batchSize);
  }

  batches(): AsyncIterable<Batch> {
    const order = Array.from(this.files.keys());
    if (this.o.shuffle) new Rng(deriveSeed(this.seed, this.epoch)).shuffle(order);
    this.epoch++;
    return { [Symbol.asyncIterator]: () => this.iterate(order) };
  }

  private async *iterate(order: number[]): AsyncGenerator<Batch> {
    const [h, w] = this.imageSize;
    const pixelsPer = h * w * 3;
    const decodeOpts = { interpolation: this.o.interpolation, cropToAspectRatio: this.o.cropToAspectRatio };
    const decode = (i: number): Promise<Decoded> =>
      decodeRgb(this.files[i]).then(
        (img) => {
          const pixels = new Float32Array(pixelsPer);
          resizeDecoded(img, this.imageSize, pixels, 0, decodeOpts);
          return { ok: true, pixels } as const;
        },
        (error: unknown) => ({ ok: false, error }) as const,
      );
    // A sliding window of in-flight decodes, consumed in order: memory stays at
    // about (prefetch + 1) batches however large the dataset is.
    const window = (this.o.prefetch + 1) * this.batchSize;
    const pending: Array<{ index: number; result: Promise<Decoded> }> = [];
    let next = 0;
    const fill = () => {
      while (pending.length < window && next < order.length) {
        const index = order[next++];
        pending.push({ index, result: decode(index) });
      }
      this.maxInFlight = Math.max(this.maxInFlight, pending.length);
    };
    fill();
    let items: Array<{ index: number; pixels: Float32Array }> = [];
    while (pending.length) {
      const { index, result } = pending.shift()!;
      const r = await result;
      fill();
      if (!r.ok) {
        this.handleBad(this.files[index], r.error);
      } else {
        items.push({ index, pixels: r.pixels });
      }
      if (items.length === this.batchSize || (pending.length === 0 && items.length > 0)) {
        yield this.assemble(items);
        items = [];
      }
    }
  }

  private handleBad(file: string, error: unknown): void {
    if (!(error instanceof BadImageError)) throw error;
    if (!this.o.skipBadImages) throw error;
    if (!this.skipped.includes(file)) {
      this.skipped.push(file);
      (this.o.onBadImage ?? defaultWarn)(file, error.reason);
    }
  }

  private assemble(items: Array<{ index: number; pixels: Float32Array }>): Batch {
    const [h, w] = this.imageSize;
    const n = items.length;
    const per = h * w * 3;
    const images = new Float32Array(n * per);
    const k = this.classNames.length;
    const labelWidth = this.labelMode === 'categorical' ? k : 1;
    const labels = new Float32Array(n * labelWidth);
    items.forEach((it, j) => {
      images.set(it.pixels, j * per);
      const y = this.labels[it.index];
      if (this.labelMode === 'categorical') labels[j * k + y] = 1;
      else labels[j] = y;
    });
    const labelShape = this.labelMode === 'int' ? [n] : [n, labelWidth];
    return { images, shape: [n, h, w, 3], labels, labelShape, files: items.map((it) => this.files[it.index]) };
  }
}

function defaultWarn(file: string, reason: string): void {
  process.stderr.write(`tlkit: warning: skipping ${file}: ${reason}\n`);
}

function dropUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
