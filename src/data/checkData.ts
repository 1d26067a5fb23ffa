import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { UserError } from '../errors.js';
import {
  BadImageError,
  decodeRgb,
  extensionOf,
  formatName,
  hasImageExtension,
  sniffImageType,
  typeFromExtension,
  type ImageType,
} from './decode.js';
import { byCodePoint, isHiddenName, listAllFiles, listClassDirs, newWalkReport, SPLIT_NAMES } from './splits.js';

export type ProblemKind =
  | 'corrupt' // unreadable, truncated or otherwise undecodable image
  | 'empty-file' // zero bytes
  | 'not-an-image' // content is not JPEG/PNG/GIF/BMP (e.g. a text file named .jpg)
  | 'wrong-extension' // a real image whose content type differs from its extension
  | 'tiny' // smaller than minSize on a side
  | 'duplicate' // identical bytes in two different splits (leakage)
  | 'imbalance' // largest class / smallest class above maxImbalance within a split
  | 'empty-class' // a class folder with no images
  | 'missing-class' // a class present in one split but not another
  | 'one-class' // a single class: no classifier can be trained on it
  | 'ignored-file' // a file training will not read (not an image extension, or not inside a class folder)
  | 'hidden-file' // dot files and macOS ._* AppleDouble files: skipped by every command
  | 'symlink'; // a symlinked class folder (read, as Keras does) or sub-folder (not followed, as Keras's follow_links=False)

/** 'error': breaks or misleads training; 'warning': harmless, or only worth a look. */
export type Severity = 'error' | 'warning';

/** Each kind's severity, from how train and the loaders treat it. */
export const SEVERITY: Readonly<Record<ProblemKind, Severity>> = {
  corrupt: 'error', // training stops on it (unless --skip-bad-images)
  'empty-file': 'error', // ditto
  'not-an-image': 'error', // its image extension makes training decode it, and stop
  duplicate: 'error', // leakage: validation/test accuracy is overstated
  'empty-class': 'error', // train refuses it
  'missing-class': 'error', // train refuses splits whose classes differ
  'one-class': 'error', // train refuses it: a classifier needs at least 2 classes
  'wrong-extension': 'warning', // tlkit reads by content
  tiny: 'warning',
  imbalance: 'warning',
  'ignored-file': 'warning', // not read, as Keras does not
  'hidden-file': 'warning', // skipped by every command
  symlink: 'warning', // read or skipped as Keras does
};

export interface Problem {
  kind: ProblemKind;
  severity: Severity;
  /** Files concerned, relative to the checked folder. */
  files: string[];
  message: string;
}

export interface SplitReport {
  /** 'train', 'validation', 'test', or '.' when class folders sit directly in the checked folder. */
  split: string;
  counts: Record<string, number>;
  total: number;
}

export interface CheckReport {
  dir: string;
  layout: 'splits' | 'classes';
  classNames: string[];
  splits: SplitReport[];
  /** Errors first, then warnings. */
  problems: Problem[];
  /** No findings at all. check-data exits 0 when `errors` is 0 (any finding with --strict). */
  ok: boolean;
  errors: number;
  warnings: number;
}

export interface CheckOptions {
  /** Images with a side shorter than this many pixels are 'tiny'. Default 32. */
  minSize?: number;
  /** A split whose largest class has more than this times the images of its smallest is imbalanced. Default 1.5. */
  maxImbalance?: number;
  /** Files read and decoded at once. Default 8. */
  concurrency?: number;
  onProgress?: (done: number, total: number) => void;
}

/** A problem before its severity is looked up. */
type Finding = Omit<Problem, 'severity'>;

interface ImageEntry {
  file: string;
  rel: string;
  split: string;
}

/**
 * Scan a dataset (the book's train/validation/test layout, or class folders directly)
 * and list everything that would hurt training: unreadable files, wrong extensions,
 * tiny images, exact duplicates across splits (by SHA-256 of the bytes), class
 * imbalance, empty or missing classes, each an error or a warning (SEVERITY). Each
 * image is fully decoded once, with the same decoder training uses, since headers
 * alone miss truncated JPEGs.
 */
export async function checkDataset(dir: string, opts: CheckOptions = {}): Promise<CheckReport> {
  const minSize = opts.minSize ?? 32;
  const maxImbalance = opts.maxImbalance ?? 1.5;
  const root = path.resolve(dir);
  if (!fs.existsSync(root) || !fs.statSync(root).isDirectory()) {
    throw new UserError(
      `The data folder ${dir} does not exist or is not a folder. Pass a folder with train/, validation/, test/ sub-folders, or one sub-folder per class.`,
    );
  }
  const rel = (f: string) => path.relative(root, f);
  const problems: Finding[] = [];
  const top = listClassDirs(root);
  const splitNames = top.filter((d) => (SPLIT_NAMES as readonly string[]).includes(d));
  const layout = splitNames.length ? 'splits' : 'classes';
  const splitDirs: Array<[string, string]> =
    layout === 'splits' ? SPLIT_NAMES.filter((s) => splitNames.includes(s)).map((s) => [s, path.join(root, s)]) : [['.', root]];
  if (layout === 'splits') {
    for (const d of top.filter((d) => !splitNames.includes(d))) {
      problems.push({ kind: 'ignored-file', files: [d + '/'], message: `${d}/ is not train/, validation/ or test/ and will be ignored` });
    }
  }

  const images: ImageEntry[] = [];
  const splits: SplitReport[] = [];
  const walked = newWalkReport();
  const classesBySplit = new Map<string, string[]>();
  for (const [split, splitDir] of splitDirs) {
    const classes = listClassDirs(splitDir);
    classesBySplit.set(split, classes);
    const shownSplit = split === '.' ? path.basename(root) : split;
    if (classes.length === 0) {
      problems.push({ kind: 'empty-class', files: [split === '.' ? '.' : split + '/'], message: `${shownSplit}/ has no class folders` });
    }
    for (const f of fs.readdirSync(splitDir, { withFileTypes: true })) {
      if (isHiddenName(f.name)) {
        if (!f.isDirectory()) walked.hidden.push(path.join(splitDir, f.name));
      } else if (f.isFile()) {
        const r = rel(path.join(splitDir, f.name));
        problems.push({ kind: 'ignored-file', files: [r], message: `${r} is not inside a class folder and will be ignored` });
      }
    }
    const counts: Record<string, number> = {};
    for (const c of classes) {
      const classDir = path.join(splitDir, c);
      if (fs.lstatSync(classDir).isSymbolicLink()) {
        problems.push({
          kind: 'symlink',
          files: [rel(classDir) + '/'],
          message: `${rel(classDir)}/ is a symlink to ${fs.readlinkSync(classDir)}: it is read as the class '${c}' (as Keras does); make sure it does not point into another split`,
        });
      }
      const all = listAllFiles(classDir, {}, walked);
      const found = all.filter(hasImageExtension);
      for (const f of all.filter((f) => !hasImageExtension(f))) {
        problems.push({
          kind: 'ignored-file',
          files: [rel(f)],
          message: `${rel(f)} does not end in .jpg/.jpeg/.png/.bmp/.gif and will be ignored`,
        });
      }
      counts[c] = found.length;
      if (found.length === 0) {
        problems.push({ kind: 'empty-class', files: [rel(classDir) + '/'], message: `class folder ${rel(classDir)}/ has no images` });
      }
      for (const f of found) images.push({ file: f, rel: rel(f), split });
    }
    splits.push({ split, counts, total: Object.values(counts).reduce((a, b) => a + b, 0) });
  }

  if (walked.hidden.length) {
    const files = walked.hidden.map(rel).sort(byCodePoint);
    const shown = files.slice(0, 5).join(', ') + (files.length > 5 ? ` and ${files.length - 5} more` : '');
    problems.push({
      kind: 'hidden-file',
      files,
      message: `${files.length} hidden file${files.length > 1 ? 's' : ''} skipped by every tlkit command (macOS ._* AppleDouble copies, .DS_Store, ...): ${shown}; delete them (e.g. dot_clean, or find DIR -name '._*' -delete)`,
    });
  }
  for (const d of walked.symlinkedDirs) {
    problems.push({
      kind: 'symlink',
      files: [rel(d) + '/'],
      message: `${rel(d)}/ is a symlinked folder inside a class folder: its images are not read (Keras's follow_links=False); move or copy them into the class folder to use them`,
    });
  }
  for (const d of walked.broken) {
    problems.push({ kind: 'symlink', files: [rel(d)], message: `${rel(d)} is a broken symlink (its target is missing) and is ignored` });
  }

  // Every split must have the classes of the others.
  const allClasses = [...new Set([...classesBySplit.values()].flat())].sort(byCodePoint);
  if (allClasses.length === 1) {
    const where = layout === 'splits' ? splitDirs.map(([s]) => `${s}/`).join(', ') : `${path.basename(root)}/`;
    problems.push({
      kind: 'one-class',
      files: [],
      message: `only one class, '${allClasses[0]}' (in ${where}): a classifier needs at least 2 classes; add a folder of images for each other class${layout === 'splits' ? ' in every split' : ''}`,
    });
  }
  for (const [split, classes] of classesBySplit) {
    for (const c of allClasses.filter((c) => !classes.includes(c))) {
      const has = [...classesBySplit].filter(([, cs]) => cs.includes(c)).map(([s]) => s);
      problems.push({
        kind: 'missing-class',
        files: [path.join(split, c) + '/'],
        message: `class '${c}' is in ${has.join(', ')} but missing from ${split}/`,
      });
    }
  }

  for (const s of splits) {
    const nonEmpty = Object.entries(s.counts).filter(([, n]) => n > 0);
    if (nonEmpty.length < 2) continue;
    const max = nonEmpty.reduce((a, b) => (b[1] > a[1] ? b : a));
    const min = nonEmpty.reduce((a, b) => (b[1] < a[1] ? b : a));
    if (max[1] / min[1] > maxImbalance) {
      problems.push({
        kind: 'imbalance',
        files: [],
        message: `${s.split === '.' ? 'the dataset' : s.split + '/'} is imbalanced: '${max[0]}' has ${max[1]} images, '${min[0]}' only ${min[1]} (${(max[1] / min[1]).toFixed(1)}x); accuracy will be misleading — collect more '${min[0]}' images or weight the classes`,
      });
    }
  }

  // Read, hash and decode every image with bounded concurrency.
  const hashes = new Map<string, ImageEntry[]>();
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < images.length) {
      const img = images[next++];
      const p = await inspectImage(img, minSize);
      if (p.problem) problems.push(p.problem);
      if (p.hash) {
        const group = hashes.get(p.hash);
        if (group) group.push(img);
        else hashes.set(p.hash, [img]);
      }
      opts.onProgress?.(++done, images.length);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, opts.concurrency ?? 8) }, worker));

  for (const group of hashes.values()) {
    const splitsOf = new Set(group.map((g) => g.split));
    if (splitsOf.size < 2) continue;
    const files = group.map((g) => g.rel).sort(byCodePoint);
    problems.push({
      kind: 'duplicate',
      files,
      message: `identical files in ${[...splitsOf].join(' and ')} (validation/test leakage): ${files.join(', ')}`,
    });
  }

  const found = problems.map(({ kind, files, message }): Problem => ({ kind, severity: SEVERITY[kind], files, message }));
  const rank = (p: Problem) => (p.severity === 'error' ? 0 : 1);
  found.sort((a, b) => rank(a) - rank(b) || byCodePoint(a.kind, b.kind) || byCodePoint(a.files[0] ?? '', b.files[0] ?? ''));
  const errors = found.filter((p) => p.severity === 'error').length;
  return { dir, layout, classNames: allClasses, splits, problems: found, ok: found.length === 0, errors, warnings: found.length - errors };
}

async function inspectImage(img: ImageEntry, minSize: number): Promise<{ hash?: string; problem?: Finding }> {
  let bytes: Buffer;
  try {
    bytes = await readFile(img.file);
  } catch (e) {
    return {
      problem: {
        kind: 'corrupt',
        files: [img.rel],
        message: `${img.rel} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
      },
    };
  }
  if (bytes.length === 0) return { problem: { kind: 'empty-file', files: [img.rel], message: `${img.rel} is empty (0 bytes)` } };
  const hash = createHash('sha256').update(bytes).digest('hex');
  const actual = sniffImageType(bytes.subarray(0, 16));
  if (!actual) {
    const text = looksLikeText(bytes) ? ' (it looks like a text file)' : '';
    return {
      hash,
      problem: {
        kind: 'not-an-image',
        files: [img.rel],
        message: `${img.rel} is not an image (not JPEG, PNG, GIF, BMP, WebP, TIFF or AVIF)${text}`,
      },
    };
  }
  try {
    const decoded = await decodeRgb(img.file, bytes);
    const expected = typeFromExtension(img.file);
    if (expected && expected !== actual) {
      return { hash, problem: { kind: 'wrong-extension', files: [img.rel], message: wrongExtensionMessage(img, actual) } };
    }
    if (Math.min(decoded.width, decoded.height) < minSize) {
      return {
        hash,
        problem: {
          kind: 'tiny',
          files: [img.rel],
          message: `${img.rel} is tiny (${decoded.width}x${decoded.height}, under ${minSize} px a side); upscaling it adds no information`,
        },
      };
    }
    return { hash };
  } catch (e) {
    const reason = e instanceof BadImageError ? e.reason : (e as Error).message;
    return { hash, problem: { kind: 'corrupt', files: [img.rel], message: `${img.rel} cannot be decoded: ${reason}` } };
  }
}

/** tlkit reads the file by its content; the advice depends on whether Keras could read it. */
function wrongExtensionMessage(img: ImageEntry, actual: ImageType): string {
  const base = `${img.rel} is a ${formatName(actual)} image named ${path.extname(img.file)}`;
  if (['jpeg', 'png', 'gif', 'bmp'].includes(actual))
    return `${base}; tlkit reads it by its content, but rename it to ${extensionOf(actual)}`;
  return `${base}; tlkit reads it by its content, but Keras (tf.io.decode_image) cannot read ${formatName(actual)}: convert it to PNG or JPEG for Keras parity`;
}

function looksLikeText(bytes: Uint8Array): boolean {
  const head = bytes.subarray(0, 512);
  return head.every((b) => b === 9 || b === 10 || b === 13 || (b >= 32 && b < 127) || b >= 128);
}

/** The report as text: counts per split and class, one line a problem with its severity, then the counts of each. */
export function formatCheckReport(r: CheckReport): string {
  const lines: string[] = [];
  const total = r.splits.reduce((a, s) => a + s.total, 0);
  lines.push(`${r.dir}: ${total.toLocaleString('en-US')} images in ${r.classNames.length} classes (${r.classNames.join(', ')})`);
  const w = Math.max(5, ...r.splits.map((s) => s.split.length));
  lines.push(`  ${'split'.padEnd(w)}  ${r.classNames.map((c) => c.padStart(Math.max(6, c.length))).join('  ')}  ${'total'.padStart(6)}`);
  for (const s of r.splits) {
    const cells = r.classNames.map((c) => String(s.counts[c] ?? 0).padStart(Math.max(6, c.length)));
    lines.push(`  ${s.split.padEnd(w)}  ${cells.join('  ')}  ${String(s.total).padStart(6)}`);
  }
  const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;
  const summary = `${plural(r.errors, 'error')}, ${plural(r.warnings, 'warning')}`;
  if (r.ok) {
    lines.push(`No problems found: ${summary}.`);
  } else {
    for (const p of r.problems) lines.push(`  ${p.severity.padEnd(7)} [${p.kind}] ${p.message}`);
    lines.push(summary);
  }
  return lines.join('\n');
}
