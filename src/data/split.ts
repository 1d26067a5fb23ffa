import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors.js';
import { Rng } from '../io/rng.js';
import { IMAGE_EXTENSIONS } from './decode.js';
import { readLabelsTable, type LabelsTableOptions } from './labelsTable.js';
import { byCodePoint, listClassDirs, listImageFiles, SPLIT_NAMES, type SplitName } from './splits.js';
import { tableClassFiles } from './tableData.js';

/** How `splitDataset` puts a file into the output: a symlink to the source, a hard link, or a copy. */
export type LinkMode = 'symlink' | 'hardlink' | 'copy';
export const LINK_MODES: readonly LinkMode[] = ['symlink', 'hardlink', 'copy'];

/** An amount per class: a count (a whole number >= 1, or 0 for none) or a fraction in (0, 1). */
export type Amount = number;

export interface SplitOptions {
  /** The folder to create: out/train/<class>/..., out/validation/<class>/..., out/test/<class>/... It must not exist or must be empty, and must not lie inside the source. */
  out: string;
  /** Training images per class: a count or a fraction. Default: every image the other two splits leave. */
  train?: Amount;
  /** Validation images per class. Default 0.1 when neither validation nor test is given, else 0. */
  validation?: Amount;
  /** Test images per class. Default 0.1 when neither validation nor test is given, else 0. */
  test?: Amount;
  /** Seed of the per-class shuffle: the same seed gives the same split. Default 1337. */
  seed?: number;
  /** Default 'copy'. */
  link?: LinkMode;
  /**
   * For one flat folder of images: a regular expression whose first capture group
   * (or whole match) in each file name is its class, e.g. '^(cat|dog)\\.' for
   * Kaggle's cat.123.jpg. Without it, the source must hold one folder per class.
   */
  labelFromName?: string;
  /** Labels from a table over the source (`labels`: its file; one label a row) instead of class folders or names. */
  table?: LabelsTableOptions;
}

export interface SplitResult {
  out: string;
  classNames: string[];
  seed: number;
  /** Images per split and class. */
  counts: Record<SplitName, Record<string, number>>;
  /** Image files of the source not used by any split (amounts smaller than the class). */
  unused: number;
}

/**
 * Make the book's layout (train/, validation/, test/, one folder per class in each)
 * from class folders, or from one flat folder with labelFromName: each class's files,
 * in Keras's order, shuffled with the seed, then the first ones go to validation, the
 * next to test, the next to train. The source is only read; the output is built in a
 * temporary folder beside it and renamed into place whole.
 */
export function splitDataset(src: string, opts: SplitOptions): SplitResult {
  const source = path.resolve(src);
  let st: fs.Stats;
  try {
    st = fs.statSync(source);
  } catch {
    throw new UserError(
      `The source folder ${src} does not exist. Pass the folder you unzipped (class folders, or one flat folder of images with --label-from-name).`,
    );
  }
  if (!st.isDirectory()) throw new UserError(`${src} is not a folder. Pass the folder holding the images.`);
  const out = path.resolve(opts.out);
  const realSource = fs.realpathSync(source);
  const realOutParent = realpathOfNearest(out);
  if (realOutParent === realSource || realOutParent.startsWith(realSource + path.sep)) {
    throw new UserError(
      `--out ${opts.out} lies inside the source folder ${src}: the split would be read back as data next time. Put it beside the source, e.g. --out ${path.join(path.dirname(source), 'data')}.`,
    );
  }
  if (fs.existsSync(out)) {
    if (!fs.statSync(out).isDirectory()) throw new UserError(`--out ${opts.out} is an existing file. Give a new folder path.`);
    if (fs.readdirSync(out).length > 0)
      throw new UserError(
        `--out ${opts.out} already exists and is not empty; tlkit split never overwrites. Give a new folder path, or remove it first.`,
      );
  }
  const link = opts.link ?? 'copy';
  if (!LINK_MODES.includes(link)) throw new UserError(`--link must be symlink, hardlink or copy, got '${link}'.`);
  const seed = opts.seed ?? 1337;
  const amounts = resolveAmounts(opts);

  if (opts.table?.labels && opts.labelFromName !== undefined)
    throw new UserError('--labels and --label-from-name both give the classes: keep one of them.');
  const byClass = opts.table?.labels
    ? classesFromTable(source, src, opts.table)
    : opts.labelFromName !== undefined
      ? classesFromNames(source, src, opts.labelFromName)
      : classesFromFolders(source, src);
  const classNames = [...byClass.keys()].sort(byCodePoint);
  const counts = Object.fromEntries(SPLIT_NAMES.map((s) => [s, {}])) as SplitResult['counts'];
  const plan: Array<{ from: string; split: SplitName; cls: string; name: string }> = [];
  let unused = 0;
  for (const cls of classNames) {
    const files = byClass.get(cls)!;
    const n = files.length;
    const want = {
      validation: countOf(amounts.validation, n),
      test: countOf(amounts.test, n),
    };
    const train = amounts.train === 'rest' ? n - want.validation - want.test : countOf(amounts.train, n);
    if (want.validation + want.test + train > n || train < 0) {
      throw new UserError(
        `Class '${cls}' has ${n} images, fewer than the ${want.validation + want.test + Math.max(train, 0)} asked for (train ${amounts.train === 'rest' ? 'the rest' : train}, validation ${want.validation}, test ${want.test}). ` +
          'Ask for fewer with --train/--validation/--test (counts per class, or fractions such as 0.2).',
      );
    }
    const order = new Rng(seed).shuffle(Array.from(files.keys()));
    const take = (split: SplitName, k: number, start: number) => {
      for (const i of order.slice(start, start + k)) plan.push({ from: files[i].file, split, cls, name: files[i].name });
      counts[split][cls] = k;
    };
    take('validation', want.validation, 0);
    take('test', want.test, want.validation);
    take('train', train, want.validation + want.test);
    unused += n - want.validation - want.test - train;
  }
  for (const s of SPLIT_NAMES) {
    const total = Object.values(counts[s]).reduce((a, b) => a + b, 0);
    if (total === 0) delete (counts as Partial<SplitResult['counts']>)[s];
  }

  // Build beside the destination, then rename: an interrupted split leaves no half-made --out.
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const tmp = fs.mkdtempSync(path.join(path.dirname(out), `.${path.basename(out)}.tmp-`));
  try {
    for (const p of plan) {
      const dir = path.join(tmp, p.split, p.cls);
      fs.mkdirSync(dir, { recursive: true });
      const dest = path.join(dir, p.name);
      if (link === 'symlink') fs.symlinkSync(fs.realpathSync(p.from), dest);
      else if (link === 'hardlink') hardlink(p.from, dest);
      else fs.copyFileSync(p.from, dest, fs.constants.COPYFILE_EXCL);
    }
    if (fs.existsSync(out)) fs.rmdirSync(out); // empty (checked above)
    fs.renameSync(tmp, out);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  return { out, classNames, seed, counts, unused };
}

type AmountSpec = { kind: 'count'; n: number } | { kind: 'fraction'; f: number };

function resolveAmounts(o: SplitOptions): { train: AmountSpec | 'rest'; validation: AmountSpec; test: AmountSpec } {
  const parse = (flag: string, v: number | undefined, fallback: number): AmountSpec => {
    const x = v ?? fallback;
    if (!Number.isFinite(x) || x < 0)
      throw new UserError(`--${flag} must be a count (0, 1, 2, ...) or a fraction between 0 and 1, got ${v}.`);
    if (x > 0 && x < 1) return { kind: 'fraction', f: x };
    if (!Number.isInteger(x))
      throw new UserError(`--${flag} must be a whole count of images per class, or a fraction below 1 (e.g. 0.2), got ${v}.`);
    return { kind: 'count', n: x };
  };
  const neither = o.validation === undefined && o.test === undefined;
  return {
    train: o.train === undefined ? 'rest' : parse('train', o.train, 0),
    validation: parse('validation', o.validation, neither ? 0.1 : 0),
    test: parse('test', o.test, neither ? 0.1 : 0),
  };
}

/** Images of a class for an amount: a count as is, a fraction of the class truncated (as Keras's validation_split). */
function countOf(a: AmountSpec, n: number): number {
  return a.kind === 'count' ? a.n : Math.trunc(a.f * n);
}

interface SourceFile {
  file: string;
  /** The name in the output class folder: the path inside the class folder, '__' between folders. */
  name: string;
}

function classesFromFolders(source: string, shown: string): Map<string, SourceFile[]> {
  const classes = listClassDirs(source);
  if (classes.length === 0) {
    throw new UserError(
      `${shown} has no class folders. For one flat folder of images (e.g. Kaggle's cat.0.jpg, dog.0.jpg), give the class pattern: --label-from-name '^(cat|dog)\\.'.`,
    );
  }
  if (classes.every((c) => (SPLIT_NAMES as readonly string[]).includes(c))) {
    throw new UserError(
      `${shown} is already split (it has ${classes.map((c) => c + '/').join(', ')}). Pass a folder of class folders, or one flat folder of images with --label-from-name.`,
    );
  }
  if (classes.length === 1) {
    throw new UserError(
      `${shown} has one class folder ('${classes[0]}'); a classifier needs at least 2 classes. Add a folder of images for each other class beside it, or, for one flat folder of images, give the class pattern with --label-from-name.`,
    );
  }
  const map = new Map<string, SourceFile[]>();
  for (const c of classes) {
    const dir = path.join(source, c);
    const files = listImageFiles(dir).map((f) => ({ file: f, name: path.relative(dir, f).split(path.sep).join('__') }));
    if (files.length === 0)
      throw new UserError(
        `The class folder ${path.join(shown, c)} has no images (files ending in ${IMAGE_EXTENSIONS.join(', ')}). Add images or remove it.`,
      );
    map.set(c, files);
  }
  return map;
}

function classesFromTable(source: string, shown: string, table: LabelsTableOptions): Map<string, SourceFile[]> {
  const read = readLabelsTable(shown, table);
  const byLabel = tableClassFiles(read, 'split');
  if (byLabel.size < 2)
    throw new UserError(
      `${read.shown} gives every row the label ${[...byLabel.keys()].map((k) => `'${k}'`).join('')}; a classifier needs at least 2 classes. Check the label column ('${read.columns.label}').`,
    );
  const map = new Map<string, SourceFile[]>();
  for (const [label, files] of byLabel) {
    if (label.includes('/') || label.includes('\\') || label.startsWith('.')) {
      const row = read.rows.find((r) => r.labels[0] === label)!;
      throw new UserError(
        `${read.shown} line ${row.line}: the label '${label}' cannot be a folder name (it has a slash or starts with a dot). Rename the label in the table.`,
      );
    }
    map.set(
      label,
      files.map((f) => ({ file: f, name: path.relative(source, f).split(path.sep).join('__') })),
    );
  }
  return map;
}

function classesFromNames(source: string, shown: string, pattern: string): Map<string, SourceFile[]> {
  let re: RegExp;
  try {
    re = new RegExp(pattern);
  } catch (e) {
    throw new UserError(
      `--label-from-name ${pattern} is not a valid regular expression (${(e as Error).message}). Example: '^(cat|dog)\\.' for cat.123.jpg.`,
    );
  }
  const files = listImageFiles(source);
  if (files.length === 0) throw new UserError(`${shown} holds no images (files ending in ${IMAGE_EXTENSIONS.join(', ')}).`);
  const map = new Map<string, SourceFile[]>();
  const unmatched: string[] = [];
  for (const f of files) {
    const name = path.relative(source, f).split(path.sep).join('__');
    const m = re.exec(path.basename(f));
    const label = m ? (m[1] ?? m[0]) : undefined;
    if (!label) {
      unmatched.push(path.relative(source, f));
      continue;
    }
    if (label.includes('/') || label.includes('\\') || label.startsWith('.')) {
      throw new UserError(
        `--label-from-name gives the class '${label}' for ${path.relative(source, f)}, which cannot be a folder name. Capture only the class part of the name.`,
      );
    }
    if (!map.has(label)) map.set(label, []);
    map.get(label)!.push({ file: f, name });
  }
  if (unmatched.length) {
    throw new UserError(
      `${unmatched.length} of ${files.length} images in ${shown} do not match --label-from-name ${pattern} (e.g. ${unmatched.slice(0, 3).join(', ')}). ` +
        'Fix the pattern so that every file name yields its class, or move those files away.',
    );
  }
  if (map.size < 2)
    throw new UserError(
      `--label-from-name ${pattern} finds only the class ${[...map.keys()].map((k) => `'${k}'`).join('')} in ${shown}; a classifier needs at least 2 classes. Check the pattern's capture group.`,
    );
  return map;
}

function hardlink(from: string, to: string): void {
  try {
    fs.linkSync(from, to);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EXDEV' || code === 'EPERM' || code === 'EMLINK') {
      throw new UserError(
        `Cannot hard-link ${from} into ${path.dirname(to)} (${code}: ${code === 'EXDEV' ? 'a different disk' : 'not allowed here'}). Use --link copy or --link symlink.`,
      );
    }
    throw e;
  }
}

/** The real path of `p`, or of its nearest existing parent joined with the rest (p may not exist yet). */
function realpathOfNearest(p: string): string {
  let cur = p;
  const rest: string[] = [];
  while (!fs.existsSync(cur)) {
    rest.unshift(path.basename(cur));
    const up = path.dirname(cur);
    if (up === cur) break;
    cur = up;
  }
  return path.join(fs.realpathSync(cur), ...rest);
}

/** The summary `tlkit split` prints: one row per split, one column per class. */
export function formatSplitResult(r: SplitResult, link: LinkMode): string {
  const w = Math.max(10, ...r.classNames.map((c) => c.length + 2));
  const splits = SPLIT_NAMES.filter((s) => r.counts[s]);
  const lines = [
    `wrote ${r.out} (seed ${r.seed}, ${link === 'copy' ? 'copies' : link === 'symlink' ? 'symlinks' : 'hard links'}):`,
    `  ${'split'.padEnd(12)}${r.classNames.map((c) => c.padStart(w)).join('')}${'total'.padStart(w)}`,
    ...splits.map((s) => {
      const row = r.classNames.map((c) => r.counts[s][c] ?? 0);
      return `  ${s.padEnd(12)}${row.map((v) => String(v).padStart(w)).join('')}${String(row.reduce((a, b) => a + b, 0)).padStart(w)}`;
    }),
  ];
  if (r.unused)
    lines.push(
      `  ${r.unused} image${r.unused > 1 ? 's' : ''} of the source not used (the amounts asked for are smaller than the classes).`,
    );
  return lines.join('\n');
}
