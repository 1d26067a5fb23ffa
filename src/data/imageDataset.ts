import { UserError } from '../errors.js';
import { deriveSeed, randomSeed, Rng } from '../io/rng.js';
import { indexDirectory, indexUnlabelled } from './datasetIndex.js';
import { IMAGE_EXTENSIONS } from './decode.js';
import { DirectoryDataset, type ImageDataset } from './directoryDataset.js';
import { checkOptions, type CheckedOptions, type ImageDatasetOptions } from './imageDatasetOptions.js';

export type { Batch, ImageDataset } from './directoryDataset.js';
export type { ImageDatasetOptions, LabelMode } from './imageDatasetOptions.js';

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
  return datasetOfIndex(indexed, o, dir);
}

/**
 * A dataset of files already listed with their class ids (a labels table's rows), with
 * every other behaviour of imageDatasetFromDirectory: the same seeded shuffle and split,
 * so the same files in the same order give the same batches. `multiHot` (multi-label) gives
 * labelMode 'multi_hot' each file's labels. `where` names the data in errors.
 */
export function imageDatasetFromFiles(
  indexed: Indexed,
  opts: Omit<ImageDatasetOptions, 'labels' | 'classNames'> & { subset?: 'training' | 'validation' },
  where: string,
): Promise<ImageDataset> {
  return Promise.resolve(datasetOfIndex(indexed, checkOptions(opts), where) as ImageDataset);
}

/** Files with their class ids, and (multi-label) their multi-hot rows, files x classes. */
interface Indexed {
  classNames: string[];
  files: string[];
  labels: Int32Array;
  multiHot?: Uint8Array;
}

function datasetOfIndex(indexed: Indexed, o: CheckedOptions, dir: string): ImageDataset | [ImageDataset, ImageDataset] {
  const { files, labels, multiHot } = indexed;
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
      multiHot && rowsOf(multiHot, indexed.classNames.length, idx),
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

/** Rows `idx` of a row-major table of `width` columns. */
function rowsOf(table: Uint8Array, width: number, idx: number[]): Uint8Array {
  const out = new Uint8Array(idx.length * width);
  idx.forEach((i, j) => out.set(table.subarray(i * width, (i + 1) * width), j * width));
  return out;
}
