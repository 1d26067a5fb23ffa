import path from 'node:path';
import { UserError } from '../errors.js';
import { IMAGE_EXTENSIONS } from './decode.js';
import { listClassDirs, listImageFiles, SPLIT_NAMES, type ListOptions } from './splits.js';

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
export function indexUnlabelled(
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
