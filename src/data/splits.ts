import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors.js';
import { hasImageExtension, IMAGE_EXTENSIONS } from './decode.js';

export type SplitName = 'train' | 'validation' | 'test';
export const SPLIT_NAMES: readonly SplitName[] = ['train', 'validation', 'test'];

/** A dataset folder, resolved and checked. */
export interface DataDir {
  /** The folder the user gave, absolute. */
  root: string;
  /**
   * 'splits': the book's layout, `train/` (required), `validation/`, `test/`, each
   * with one folder per class. 'classes': class folders directly under root; the
   * caller splits it with validationSplit; `splits.train` is then the root itself.
   * 'table': images anywhere under root, labelled by a table (`table`).
   */
  layout: 'splits' | 'classes' | 'table';
  /** Folder holding the class folders, per split present (layout 'table': the data folder, for each split the table has). */
  splits: { train: string; validation?: string; test?: string };
  /** Class names, sorted alphanumerically (Keras order); identical in every split. */
  classNames: string[];
  /** Layout 'table': the labels table and the images and class ids of each split it gives (tableData.ts). */
  table?: TableSplits;
  /** Each image has any number of the classes (a table row with several labels, or the multiLabel option): targets are multi-hot. */
  multiLabel?: boolean;
}

/** The images of a labels table, per split, in the order the class-folder layout of the same images would list them. */
export interface TableSplits {
  /** The table as the user named it, and the sha256 of its bytes. */
  file: string;
  sha256: string;
  splits: { train: LabelledList; validation?: LabelledList };
}

export interface LabelledList {
  files: string[];
  /** A class id a file (multi-label: its first class, which orders the files). */
  labels: Int32Array;
  /** Multi-label: row-major files x classes, 1 where the file has that label. */
  multiHot?: Uint8Array;
}

/**
 * Understand a data folder: the book's layout or class folders directly. Checks that
 * there are class folders, that no class folder is empty, and that validation/test
 * have exactly the classes of train. Every problem is a UserError naming the folder.
 */
export function resolveDataDir(dir: string): DataDir & { layout: 'splits' | 'classes' } {
  const root = path.resolve(dir);
  assertDirectory(root, dir);
  const sub = listClassDirs(root);
  const splitDirs = sub.filter((d) => (SPLIT_NAMES as readonly string[]).includes(d));
  if (splitDirs.length === 0) {
    const classNames = checkClassFolders(root, dir);
    return { root, layout: 'classes', splits: { train: root }, classNames };
  }
  if (!splitDirs.includes('train')) {
    throw new UserError(
      `The data folder ${dir} has ${splitDirs.map((s) => `${s}/`).join(' and ')} but no train/ folder. ` +
        'Expected train/ (required), validation/ and test/, each with one folder per class, or class folders directly under the data folder.',
    );
  }
  const trainClasses = checkClassFolders(path.join(root, 'train'), path.join(dir, 'train'));
  const splits: DataDir['splits'] = { train: path.join(root, 'train') };
  for (const split of ['validation', 'test'] as const) {
    if (!splitDirs.includes(split)) continue;
    const splitDir = path.join(root, split);
    const shown = path.join(dir, split);
    const classes = checkClassFolders(splitDir, shown);
    const missing = trainClasses.filter((c) => !classes.includes(c));
    const extra = classes.filter((c) => !trainClasses.includes(c));
    if (missing.length) {
      throw new UserError(
        `The class${missing.length > 1 ? 'es' : ''} ${quoteList(missing)} of ${path.join(dir, 'train')} ` +
          `${missing.length > 1 ? 'are' : 'is'} missing from ${shown} (it has ${quoteList(classes)}). ` +
          `Every split needs the same class folders: add ${missing.map((c) => path.join(shown, c) + '/').join(', ')} with some images.`,
      );
    }
    if (extra.length) {
      throw new UserError(
        `${shown} has the class folder${extra.length > 1 ? 's' : ''} ${quoteList(extra)} that ${path.join(dir, 'train')} lacks ` +
          `(train has ${quoteList(trainClasses)}). Every split needs the same class folders: add training images for them or remove them.`,
      );
    }
    splits[split] = splitDir;
  }
  return { root, layout: 'splits', splits, classNames: trainClasses };
}

/** Non-hidden sub-folders of `dir`, sorted by code point like Python's sorted(). */
export function listClassDirs(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter(
      (e) =>
        !e.name.startsWith('.') && e.name !== QUARANTINE_DIR && (e.isDirectory() || (e.isSymbolicLink() && isDir(path.join(dir, e.name)))),
    )
    .map((e) => e.name)
    .sort(byCodePoint);
}

/** Options of the file listings. */
export interface ListOptions {
  /**
   * Descend into symlinked folders found inside a class folder. Default false, as
   * Keras's `follow_links=False`. A symlinked CLASS folder is a class either way:
   * Keras lists class folders with `os.path.isdir`, which follows links.
   */
  followLinks?: boolean;
}

/** What a walk met besides the files it returns (check-data reports these). */
export interface WalkReport {
  /** Hidden files and folders skipped (names starting with '.', e.g. macOS `._IMG_1.jpg` AppleDouble files). */
  hidden: string[];
  /** Symlinked folders not descended into (followLinks off). */
  symlinkedDirs: string[];
  /** Symlinked folders not descended into because they lead to a folder already read (a loop, or a second link to it). */
  loops: string[];
  /** Symlinks whose target does not exist or cannot be read. */
  broken: string[];
}

/** True for hidden names: dot files such as .DS_Store and macOS `._*` AppleDouble files. */
export function isHiddenName(name: string): boolean {
  return name.startsWith('.');
}

/** The folder inside a data folder where `tlkit review` sets images aside: never a class, never listed. */
export const QUARANTINE_DIR = '_quarantine';

/**
 * Image files (by extension) under `classDir`, recursively, in Keras's order:
 * folders sorted by path, file names sorted within each folder. Hidden files and
 * folders are skipped; symlinked sub-folders are not followed unless followLinks.
 */
export function listImageFiles(classDir: string, opts: ListOptions = {}): string[] {
  return listAllFiles(classDir, opts).filter(hasImageExtension);
}

/**
 * Every non-hidden regular file under `dir`, recursively, in Keras's walk order
 * (os.walk sorted by folder path, names sorted within a folder). Symlinks to files
 * count as files; symlinked folders are descended only with followLinks, and each
 * real folder is read once, so a symlink loop ends the walk instead of failing with
 * ELOOP (or looping). `report`, when given, collects what was skipped.
 */
export function listAllFiles(dir: string, opts: ListOptions = {}, report?: WalkReport): string[] {
  const byFolder: Array<[string, string[]]> = [];
  const visited = new Set<string>();
  const walk = (d: string, viaLink: boolean): void => {
    let real: string;
    try {
      real = fs.realpathSync(d);
    } catch {
      report?.broken.push(d);
      return;
    }
    if (visited.has(real)) {
      // Only reachable through a followed symlink: a loop, or a second way into a folder already read.
      if (viaLink) report?.loops.push(d);
      return;
    }
    visited.add(real);
    const names: string[] = [];
    const entries = fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => byCodePoint(a.name, b.name));
    for (const e of entries) {
      const full = path.join(d, e.name);
      if (isHiddenName(e.name)) {
        report?.hidden.push(full);
        continue;
      }
      if (e.isDirectory()) {
        // What review set aside is out of the dataset (a table's images are listed from the data folder's top).
        if (e.name !== QUARANTINE_DIR) walk(full, viaLink);
      } else if (e.isFile()) names.push(e.name);
      else if (e.isSymbolicLink()) {
        const st = statOrUndefined(full);
        if (!st) report?.broken.push(full);
        else if (st.isFile()) names.push(e.name);
        else if (st.isDirectory()) {
          if (opts.followLinks) walk(full, true);
          else report?.symlinkedDirs.push(full);
        }
      }
    }
    byFolder.push([d, names]);
  };
  walk(dir, false);
  byFolder.sort((a, b) => byCodePoint(a[0], b[0]));
  return byFolder.flatMap(([d, names]) => names.map((n) => path.join(d, n)));
}

/** An empty WalkReport to pass to listAllFiles. */
export function newWalkReport(): WalkReport {
  return { hidden: [], symlinkedDirs: [], loops: [], broken: [] };
}

function statOrUndefined(p: string): fs.Stats | undefined {
  try {
    return fs.statSync(p);
  } catch {
    return undefined;
  }
}

export function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function checkClassFolders(dir: string, shown: string): string[] {
  assertDirectory(dir, shown);
  const classes = listClassDirs(dir);
  if (classes.length === 0) {
    const files = fs.readdirSync(dir).filter((f) => !f.startsWith('.'));
    throw new UserError(
      `The data folder ${shown} has no class folders${files.length ? ` (it holds ${files.length} file(s) directly, e.g. ${files[0]})` : ''}. ` +
        "Expected one sub-folder per class (e.g. cats/ and dogs/) holding that class's images, or train/, validation/ and test/ folders each laid out that way.",
    );
  }
  for (const c of classes) {
    if (listImageFiles(path.join(dir, c)).length === 0) {
      throw new UserError(
        `The class folder ${path.join(shown, c)} has no images (expected files ending in ${IMAGE_EXTENSIONS.join(', ')}). ` +
          'Add images to it or remove the folder.',
      );
    }
  }
  return classes;
}

function assertDirectory(dir: string, shown: string): void {
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch {
    throw new UserError(
      `The data folder ${shown} does not exist. Pass a folder with one sub-folder per class, or train/, validation/, test/ folders.`,
    );
  }
  if (!st.isDirectory()) throw new UserError(`${shown} is not a folder. Pass a data folder with one sub-folder per class.`);
}

function isDir(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function quoteList(items: string[]): string {
  return items.map((s) => `'${s}'`).join(', ');
}
