import path from 'node:path';
import { UserError } from '../errors.js';
import { deriveSeed, randomSeed, Rng } from '../io/rng.js';
import {
  BadImageError,
  channelsOf,
  COLOR_MODES,
  decodePixels,
  EXIF_MODES,
  IMAGE_EXTENSIONS,
  resizeDecoded,
  type ColorMode,
  type ExifMode,
  type Interpolation,
} from './decode.js';
import { listClassDirs, listImageFiles, SPLIT_NAMES, type ListOptions } from './splits.js';

export type LabelMode = 'int' | 'binary' | 'categorical';

/** Options of imageDatasetFromDirectory, Keras's names in camelCase, Keras's defaults. */
export interface ImageDatasetOptions {
  /**
   * 'inferred' (default): one class per sub-folder. null: no labels (the whole tree
   * is read, images only). An array: one integer label per image file, in the order
   * of the files' sorted paths (Keras's os.walk order) under `dir`.
   */
  labels?: 'inferred' | null | number[];
  /** 'int' (default): int32 class ids, shape [n]; 'binary': float32 0/1, [n, 1] (exactly 2 classes); 'categorical': float32 one-hot, [n, classes]; null: no labels. */
  labelMode?: LabelMode | null;
  /** Class folders to use, in this label order (a subset of the sub-folders). Default: all, sorted alphanumerically. Only with labels 'inferred'. */
  classNames?: string[];
  /** 'rgb' (default, 3 channels), 'rgba' (4) or 'grayscale' (1). */
  colorMode?: ColorMode;
  /** Images per batch (the last batch may be smaller). Default 32. null: no batching; use elements(). */
  batchSize?: number | null;
  /** [height, width] to resize to, or one number for a square. Default [256, 256]. */
  imageSize?: [number, number] | number;
  /** Shuffle the files once (before a validation split) and again every epoch. Default true. */
  shuffle?: boolean;
  /** Seed for shuffling; required with validationSplit + shuffle (as in Keras) so both subsets agree. */
  seed?: number;
  /** Fraction of the files held out for validation (the last ones after the seeded shuffle). */
  validationSplit?: number;
  /** Which part to return when validationSplit is set: 'training', 'validation', or 'both' ([train, val]; the validation set is never reshuffled, as in Keras). */
  subset?: 'training' | 'validation' | 'both';
  /** Resize method. Default 'bilinear' (half-pixel centres, as tf.image.resize). */
  interpolation?: Interpolation;
  /** Descend into symlinked folders inside class folders. Default false (Keras follow_links=False). */
  followLinks?: boolean;
  /** Crop the largest centred window of the target aspect ratio before resizing. Default false. */
  cropToAspectRatio?: boolean;
  /** Pad to the target aspect ratio (black, centred) before resizing. Default false. */
  padToAspectRatio?: boolean;
  /** EXIF orientation: 'apply' (default, as browsers show photos) or 'ignore' (Keras's pixels). Default: the CLI's --exif. */
  exif?: ExifMode;
  /** Skip files that cannot be decoded (with a warning) instead of stopping with a UserError. Default false. */
  skipBadImages?: boolean;
  /** Batches decoded ahead of the consumer; bounds memory at about (prefetch + 1) batches. Default 2. */
  prefetch?: number;
  /** Called for each skipped file (skipBadImages). Default: a warning line on stderr. */
  onBadImage?: (file: string, reason: string) => void;
}

export interface Batch {
  /** NHWC, float32 values in 0..255; C = 3 (rgb), 4 (rgba) or 1 (grayscale). */
  images: Float32Array;
  shape: [number, number, number, number];
  /** int32 class ids ('int'), float32 0/1 ('binary') or one-hot rows ('categorical'); empty without labels. */
  labels: Int32Array | Float32Array;
  labelShape: number[];
  /** The files in this batch, in order. */
  files: string[];
}

/** One image without a batch axis (batchSize null, or elements()). */
export interface Element {
  image: Float32Array;
  /** [height, width, channels] */
  shape: [number, number, number];
  /** The class id ('int'), [0/1] ('binary'), the one-hot row ('categorical'), or empty (no labels). */
  label: Int32Array | Float32Array;
  file: string;
}

export interface ImageDataset {
  /** Class names in label order; null without labels (labels or labelMode null), as Keras. */
  classNames: string[] | null;
  /** Files of this dataset (after the split), in their initial (seed-shuffled or sorted) order. */
  files: string[];
  /** Class id of each file in `files` (zeros without labels). */
  labels: Int32Array;
  size: number;
  /** Images per batch; 1 when batchSize is null (then `unbatched` is true). */
  batchSize: number;
  unbatched: boolean;
  imageSize: [number, number];
  labelMode: LabelMode | null;
  /** ceil(size / batchSize); fewer batches may come when bad images are skipped. */
  numBatches: number;
  /** One epoch of batches, decoded ahead with bounded memory; reshuffled every epoch when shuffle is on. */
  batches(): AsyncIterable<Batch>;
  /** One epoch of single images, [height, width, channels] each (what Keras yields with batch_size=None). */
  elements(): AsyncIterable<Element>;
  /** Files skipped so far because they could not be decoded (skipBadImages). */
  skipped: string[];
  /** Most decodes that were in flight at once so far: at most (prefetch + 1) x batchSize. */
  readonly maxInFlight?: number;
}

/**
 * Keras's `image_dataset_from_directory`: one sub-folder of `dir` per class, classes
 * sorted alphanumerically, files found recursively (.bmp .gif .jpeg .jpg .png; hidden
 * files skipped), decoded by content and resized with bilinear interpolation
 * (half-pixel centres). Arguments are checked in Keras's order, so the same bad call
 * fails on the same argument.
 */
export function imageDatasetFromDirectory(
  dir: string,
  opts: ImageDatasetOptions & { subset: 'both' },
): Promise<[ImageDataset, ImageDataset]>;
export function imageDatasetFromDirectory(
  dir: string,
  opts?: ImageDatasetOptions & { subset?: 'training' | 'validation' },
): Promise<ImageDataset>;
export function imageDatasetFromDirectory(dir: string, opts?: ImageDatasetOptions): Promise<ImageDataset | [ImageDataset, ImageDataset]>;
export async function imageDatasetFromDirectory(
  dir: string,
  opts: ImageDatasetOptions = {},
): Promise<ImageDataset | [ImageDataset, ImageDataset]> {
  const o = checkOptions(opts);
  const indexed =
    o.labels === 'inferred'
      ? indexDirectory(dir, o.classNames, { followLinks: o.followLinks })
      : indexUnlabelled(dir, o.labels, o.followLinks);
  const { files, labels } = indexed;
  const classNames = o.labelMode === null ? null : indexed.classNames;
  if (o.labelMode === 'binary' && indexed.classNames.length !== 2) {
    throw new UserError(
      `labelMode 'binary' needs exactly 2 classes, but ${dir} has ${indexed.classNames.length}: ${indexed.classNames.join(', ')}. ` +
        "Use labelMode 'categorical' or 'int', or pass the two classNames to use.",
    );
  }
  // Keras shuffles the whole file list once with the seed, then splits off the tail for validation.
  const seed = o.seed ?? randomSeed();
  const order = Array.from(files.keys());
  if (o.shuffle) new Rng(seed).shuffle(order);
  const nVal = o.validationSplit ? Math.trunc(o.validationSplit * files.length) : 0;
  const make = (idx: number[], tag: number, reshuffle: boolean): ImageDataset =>
    new DirectoryDataset(
      classNames,
      idx.map((i) => files[i]),
      Int32Array.from(idx, (i) => labels[i]),
      o,
      reshuffle,
      deriveSeed(seed, tag),
    );
  const train = () => make(order.slice(0, order.length - nVal), 1, o.shuffle);
  // With subset 'both', Keras builds the validation set with shuffle=False: its order
  // is fixed (the seeded global order), so labels read in one pass line up with
  // predictions made in another. A 'validation' subset alone is shuffled like any dataset.
  const val = (reshuffle: boolean) => make(order.slice(order.length - nVal), 2, reshuffle);
  let result: ImageDataset | [ImageDataset, ImageDataset];
  if (!o.subset) result = make(order, 0, o.shuffle);
  else if (o.subset === 'training') result = train();
  else if (o.subset === 'validation') result = val(o.shuffle);
  else result = [train(), val(false)];
  if (files.length === 0) {
    throw new UserError(
      `No images found in ${dir} (expected files ending in ${IMAGE_EXTENSIONS.join(', ')}). Add images, or pass the folder that holds them.`,
    );
  }
  for (const ds of Array.isArray(result) ? result : [result]) {
    if (ds.size === 0) {
      throw new UserError(
        `validationSplit ${o.validationSplit} leaves no images for one subset of ${dir} (${files.length} images in all). Use a split between 0 and 1 that leaves images on both sides.`,
      );
    }
  }
  return result;
}

interface CheckedOptions {
  labels: 'inferred' | null | number[];
  labelMode: LabelMode | null;
  classNames?: string[];
  colorMode: ColorMode;
  batchSize: number;
  unbatched: boolean;
  imageSize: [number, number];
  shuffle: boolean;
  seed?: number;
  validationSplit?: number;
  subset?: 'training' | 'validation' | 'both';
  interpolation: Interpolation;
  followLinks: boolean;
  cropToAspectRatio: boolean;
  padToAspectRatio: boolean;
  exif?: ExifMode;
  skipBadImages: boolean;
  prefetch: number;
  onBadImage?: (file: string, reason: string) => void;
}

/** Keras's argument checks, in Keras's order (labels, label_mode, color_mode, image_size, interpolation, validation split), then tlkit's own. */
function checkOptions(opts: ImageDatasetOptions): CheckedOptions {
  const given = dropUndefined(opts);
  let labels: 'inferred' | null | number[] = 'labels' in given ? (given.labels as 'inferred' | null | number[]) : 'inferred';
  if (labels !== 'inferred' && labels !== null) {
    if (!Array.isArray(labels) || !labels.every((l) => Number.isInteger(l) && l >= 0)) {
      throw new UserError(
        `labels must be 'inferred' (one class per sub-folder), null (images only) or an array of integer labels, one per image file; got ${JSON.stringify(labels)}.`,
      );
    }
    if (given.classNames) {
      throw new UserError(
        `classNames can only be given with labels 'inferred'; with a labels array the class names are the sorted labels. Drop classNames (got ${JSON.stringify(given.classNames)}).`,
      );
    }
  }
  let labelMode: LabelMode | null = 'labelMode' in given ? (given.labelMode as LabelMode | null) : 'int';
  if (labelMode !== null && !['int', 'binary', 'categorical'].includes(labelMode)) {
    throw new UserError(`labelMode must be 'int', 'binary', 'categorical' or null, got '${labelMode}'.`);
  }
  // As Keras: no labels either way means images only, read from the whole tree.
  if (labels === null || labelMode === null) {
    labels = null;
    labelMode = null;
  }
  const colorMode = given.colorMode ?? 'rgb';
  if (!COLOR_MODES.includes(colorMode))
    throw new UserError(`colorMode must be one of ${COLOR_MODES.map((m) => `'${m}'`).join(', ')}, got '${colorMode}'.`);
  const size = typeof given.imageSize === 'number' ? [given.imageSize, given.imageSize] : (given.imageSize ?? [256, 256]);
  if (!Array.isArray(size) || size.length !== 2 || !size.every((v) => Number.isInteger(v) && v >= 1)) {
    throw new UserError(`imageSize must be [height, width] with positive integers, got ${JSON.stringify(given.imageSize)}.`);
  }
  const interpolation = given.interpolation ?? 'bilinear';
  if (!['bilinear', 'nearest'].includes(interpolation)) {
    throw new UserError(`interpolation must be 'bilinear' or 'nearest', got '${interpolation}'.`);
  }
  // Keras's check_validation_split_arg: a split of 0 counts as no split.
  const split = given.validationSplit || undefined;
  const shuffle = given.shuffle ?? true;
  if (split !== undefined && !(split > 0 && split < 1)) {
    throw new UserError(`validationSplit must be between 0 and 1 (exclusive), got ${split}.`);
  }
  if ((split || given.subset) && !(split && given.subset)) {
    throw new UserError(
      given.subset
        ? `subset '${given.subset}' needs validationSplit (e.g. 0.2), the fraction of the images to hold out.`
        : "validationSplit needs subset: 'training', 'validation' or 'both'.",
    );
  }
  if (given.subset && !['training', 'validation', 'both'].includes(given.subset)) {
    throw new UserError(`subset must be 'training', 'validation' or 'both', got '${given.subset}'.`);
  }
  if (split && shuffle && given.seed === undefined) {
    throw new UserError(
      'validationSplit with shuffling needs a seed (e.g. --seed 1337), so that the training and validation subsets do not overlap.',
    );
  }
  if (labels === null && given.classNames) {
    throw new UserError(
      `classNames cannot be given without labels (labels or labelMode null): there are no classes. Drop classNames (got ${JSON.stringify(given.classNames)}).`,
    );
  }
  const unbatched = 'batchSize' in opts && opts.batchSize === null;
  const batchSize = unbatched ? 1 : (given.batchSize ?? 32);
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new UserError(`batchSize must be a positive integer or null (no batching), got ${given.batchSize}.`);
  const prefetch = given.prefetch ?? 2;
  if (!Number.isInteger(prefetch) || prefetch < 0) throw new UserError(`prefetch must be an integer >= 0, got ${prefetch}.`);
  if (given.cropToAspectRatio && given.padToAspectRatio) {
    throw new UserError('cropToAspectRatio and padToAspectRatio cannot both be true: crop or pad, not both.');
  }
  if (given.exif !== undefined && !EXIF_MODES.includes(given.exif))
    throw new UserError(`exif must be 'apply' or 'ignore', got '${given.exif}'.`);
  return {
    labels,
    labelMode,
    classNames: given.classNames,
    colorMode,
    batchSize,
    unbatched,
    imageSize: [size[0], size[1]],
    shuffle,
    seed: given.seed,
    validationSplit: split,
    subset: given.subset,
    interpolation,
    followLinks: given.followLinks ?? false,
    cropToAspectRatio: given.cropToAspectRatio ?? false,
    padToAspectRatio: given.padToAspectRatio ?? false,
    exif: given.exif,
    skipBadImages: given.skipBadImages ?? false,
    prefetch,
    onBadImage: given.onBadImage,
  };
}

/** Class names and (file, label) pairs of a class-folder directory, in Keras's order. */
export function indexDirectory(
  dir: string,
  requested?: string[],
  opts: ListOptions = {},
): { classNames: string[]; files: string[]; labels: Int32Array } {
  let subdirs: string[];
  try {
    subdirs = listClassDirs(dir);
  } catch {
    throw new UserError(`The data folder ${dir} does not exist or cannot be read. Pass a folder with one sub-folder per class.`);
  }
  if (requested) {
    const unknown = requested.filter((c) => !subdirs.includes(c));
    if (unknown.length || new Set(requested).size !== requested.length || requested.length === 0) {
      throw new UserError(
        `classNames ${JSON.stringify(requested)} do not match the class folders of ${dir}: expected a subset of ${JSON.stringify(subdirs)} without repeats.`,
      );
    }
  }
  if (subdirs.length === 0) {
    throw new UserError(
      `The data folder ${dir} has no class folders. Expected one sub-folder per class (e.g. cats/ and dogs/) holding that class's images.`,
    );
  }
  if (subdirs.every((s) => (SPLIT_NAMES as readonly string[]).includes(s))) {
    throw new UserError(
      `${dir} has ${subdirs.map((s) => s + '/').join(', ')} folders, i.e. the train/validation/test layout; ` +
        `pass one split folder (e.g. ${path.join(dir, 'train')}) here, whose sub-folders are the classes.`,
    );
  }
  const classNames = requested ?? subdirs;
  const files: string[] = [];
  const labels: number[] = [];
  classNames.forEach((c, i) => {
    const found = listImageFiles(path.join(dir, c), opts);
    if (found.length === 0) {
      throw new UserError(
        `The class folder ${path.join(dir, c)} has no images (expected files ending in ${IMAGE_EXTENSIONS.join(', ')}). Add images to it or remove the folder.`,
      );
    }
    for (const f of found) {
      files.push(f);
      labels.push(i);
    }
  });
  return { classNames, files, labels: Int32Array.from(labels) };
}

/** labels null or an explicit array: every image under `dir` (Keras's walk order); class names are the sorted distinct labels. */
function indexUnlabelled(
  dir: string,
  labels: null | number[],
  followLinks: boolean,
): { classNames: string[]; files: string[]; labels: Int32Array } {
  let files: string[];
  try {
    files = listImageFiles(dir, { followLinks });
  } catch {
    throw new UserError(`The data folder ${dir} does not exist or cannot be read. Pass a folder holding images.`);
  }
  if (labels === null) return { classNames: [], files, labels: new Int32Array(files.length) };
  if (labels.length !== files.length) {
    throw new UserError(
      `labels has ${labels.length} entries but ${dir} holds ${files.length} image files: the lengths must match (one label per file, in sorted path order).`,
    );
  }
  return { classNames: [...new Set(labels)].sort((a, b) => a - b).map(String), files, labels: Int32Array.from(labels) };
}

type Decoded = { ok: true; pixels: Float32Array } | { ok: false; error: unknown };

class DirectoryDataset implements ImageDataset {
  readonly size: number;
  readonly numBatches: number;
  readonly batchSize: number;
  readonly imageSize: [number, number];
  readonly labelMode: LabelMode | null;
  readonly unbatched: boolean;
  readonly skipped: string[] = [];
  maxInFlight = 0;
  private epoch = 0;

  constructor(
    readonly classNames: string[] | null,
    readonly files: string[],
    readonly labels: Int32Array,
    private readonly o: CheckedOptions,
    private readonly reshuffle: boolean,
    private readonly seed: number,
  ) {
    this.size = files.length;
    this.batchSize = o.batchSize;
    this.unbatched = o.unbatched;
    this.imageSize = [o.imageSize[0], o.imageSize[1]];
    this.labelMode = o.labelMode;
    this.numBatches = Math.ceil(this.size / this.batchSize);
  }

  batches(): AsyncIterable<Batch> {
    const order = Array.from(this.files.keys());
    if (this.reshuffle) new Rng(deriveSeed(this.seed, this.epoch)).shuffle(order);
    this.epoch++;
    return { [Symbol.asyncIterator]: () => this.iterate(order) };
  }

  elements(): AsyncIterable<Element> {
    const batches = this.batches();
    return {
      [Symbol.asyncIterator]: async function* () {
        for await (const b of batches) {
          const [n, h, w, c] = b.shape;
          const per = h * w * c;
          const labelWidth = b.labels.length / Math.max(n, 1);
          for (let i = 0; i < n; i++) {
            yield {
              image: b.images.slice(i * per, (i + 1) * per),
              shape: [h, w, c] as [number, number, number],
              label: b.labels.slice(i * labelWidth, (i + 1) * labelWidth),
              file: b.files[i],
            };
          }
        }
      },
    };
  }

  private async *iterate(order: number[]): AsyncGenerator<Batch> {
    const [h, w] = this.imageSize;
    const pixelsPer = h * w * channelsOf(this.o.colorMode);
    const decodeOpts = {
      interpolation: this.o.interpolation,
      cropToAspectRatio: this.o.cropToAspectRatio,
      padToAspectRatio: this.o.padToAspectRatio,
      colorMode: this.o.colorMode,
    };
    const decode = (i: number): Promise<Decoded> =>
      decodePixels(this.files[i], undefined, { exif: this.o.exif, alpha: this.o.colorMode === 'rgba' }).then(
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
    const c = channelsOf(this.o.colorMode);
    const n = items.length;
    const per = h * w * c;
    const images = new Float32Array(n * per);
    const k = this.classNames?.length ?? 0;
    items.forEach((it, j) => images.set(it.pixels, j * per));
    const files = items.map((it) => this.files[it.index]);
    const shape: [number, number, number, number] = [n, h, w, c];
    if (this.labelMode === null) return { images, shape, labels: new Int32Array(0), labelShape: [0], files };
    if (this.labelMode === 'int') {
      // Keras yields int32 class ids in 'int' mode, float32 in the two others.
      return { images, shape, labels: Int32Array.from(items, (it) => this.labels[it.index]), labelShape: [n], files };
    }
    const labelWidth = this.labelMode === 'categorical' ? k : 1;
    const labels = new Float32Array(n * labelWidth);
    items.forEach((it, j) => {
      const y = this.labels[it.index];
      if (this.labelMode === 'categorical') labels[j * k + y] = 1;
      else labels[j] = y;
    });
    return { images, shape, labels, labelShape: [n, labelWidth], files };
  }
}

function defaultWarn(file: string, reason: string): void {
  process.stderr.write(`tlkit: warning: skipping ${file}: ${reason}\n`);
}

function dropUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
