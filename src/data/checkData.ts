import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors.js';
import {
  finishReport,
  imbalanceFindings,
  scanImages,
  type CheckReport,
  type Finding,
  type ImageEntry,
  type SplitReport,
} from './checkFindings.js';
import { checkTableDataset } from './checkTable.js';
import { hasImageExtension } from './decode.js';
import type { LabelsTableOptions } from './labelsTable.js';
import { byCodePoint, isHiddenName, listAllFiles, listClassDirs, newWalkReport, SPLIT_NAMES } from './splits.js';

export type { CheckReport, Severity } from './checkFindings.js';

export interface CheckOptions {
  /** Images with a side shorter than this many pixels are 'tiny'. Default 32. */
  minSize?: number;
  /** A split whose largest class has more than this times the images of its smallest is imbalanced. Default 1.5. */
  maxImbalance?: number;
  /** Files read and decoded at once. Default 8. */
  concurrency?: number;
  onProgress?: (done: number, total: number) => void;
  /** Labels from a table over the folder (`labels`: its file) instead of class folders: see checkTableDataset. */
  table?: LabelsTableOptions;
  /** With a table: the expected classes; any other label is an 'unknown-label' error. */
  classes?: string[];
}

/**
 * Scan a dataset (the book's train/validation/test layout, or class folders directly)
 * and list everything that would hurt training: unreadable files, wrong extensions,
 * tiny images, exact duplicates across splits (by SHA-256 of the bytes), class
 * imbalance, empty or missing classes, each an error or a warning (SEVERITY). Each
 * image is fully decoded once, with the same decoder training uses, since headers
 * alone miss truncated JPEGs.
 */
export function checkDataset(
  dir: string,
  opts?: CheckOptions & { table?: undefined },
): Promise<CheckReport & { layout: 'splits' | 'classes' }>;
export function checkDataset(dir: string, opts?: CheckOptions): Promise<CheckReport>;
export async function checkDataset(dir: string, opts: CheckOptions = {}): Promise<CheckReport> {
  const minSize = opts.minSize ?? 32;
  const maxImbalance = opts.maxImbalance ?? 1.5;
  const root = path.resolve(dir);
  if (opts.table?.labels && fs.existsSync(root) && fs.statSync(root).isDirectory()) return checkTableDataset(dir, opts.table, opts);
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

  imbalanceFindings(splits, maxImbalance, problems);

  await scanImages(images, { minSize, concurrency: opts.concurrency, onProgress: opts.onProgress }, problems);
  return finishReport({ dir, layout, classNames: allClasses, splits }, problems);
}

/** The report as text: counts per split and class, one line a problem with its severity, then the counts of each. */
export function formatCheckReport(r: CheckReport): string {
  const lines: string[] = [];
  const total = r.splits.reduce((a, s) => a + s.total, 0);
  const what = r.table ? `rows of ${r.table} with ${r.classNames.length} labels` : `images in ${r.classNames.length} classes`;
  lines.push(`${r.dir}: ${total.toLocaleString('en-US')} ${what} (${r.classNames.join(', ')})`);
  if (r.multiLabelRows !== undefined) {
    lines.push(
      `  multi-label: ${r.multiLabelRows.toLocaleString('en-US')} of the rows have several labels (train makes one sigmoid a label); a row counts once under each of its labels`,
    );
  }
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
