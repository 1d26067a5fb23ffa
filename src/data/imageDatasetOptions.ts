import { UserError } from '../errors.js';
import { COLOR_MODES, EXIF_MODES, type ColorMode, type ExifMode, type Interpolation } from './decode.js';

/** Keras's label modes, and 'multi_hot' (float32 [n, classes], 1 for each label a file has: multi-label targets). */
export type LabelMode = 'int' | 'binary' | 'categorical' | 'multi_hot';

/** Options of imageDatasetFromDirectory, Keras's names in camelCase, Keras's defaults. */
export interface ImageDatasetOptions {
  /**
   * 'inferred' (default): one class per sub-folder. null: no labels (the whole tree
   * is read, images only). An array: one integer label per image file, in the order
   * of the files' sorted paths (Keras's os.walk order) under `dir`.
   */
  labels?: 'inferred' | null | number[];
  /** 'int' (default): int32 class ids, shape [n]; 'binary': float32 0/1, [n, 1] (exactly 2 classes); 'categorical': float32 one-hot, [n, classes]; 'multi_hot': float32 [n, classes], a 1 for each of a file's labels (one-hot where a file has one); null: no labels. */
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

export interface CheckedOptions {
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
export function checkOptions(opts: ImageDatasetOptions): CheckedOptions {
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
  if (labelMode !== null && !['int', 'binary', 'categorical', 'multi_hot'].includes(labelMode)) {
    throw new UserError(`labelMode must be 'int', 'binary', 'categorical', 'multi_hot' or null, got '${labelMode}'.`);
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

function dropUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
