import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors.js';
import { labelsTableOptions, readLabelsTable, type LabelsTableOptions } from '../data/labelsTable.js';
import { listClassDirs, listImageFiles, resolveDataDir } from '../data/splits.js';
import { loadClassifier } from '../inference/classifier.js';
import { writeFileAtomic } from '../io/atomicWrite.js';
import { readMeta } from '../run/meta.js';
import { runPaths } from '../run/paths.js';
import type { ReviewTable } from './actions.js';

// The run's class probabilities for every labelled image of the data folder, training images
// included: a mislabelled photo is most often among those the head was trained on. Scores
// depend on the image and the model, not on the label, so they are kept in the run folder by
// file name, size and mtime (what a rename keeps): after a relabel the queue is rebuilt
// without running the model again.

/** The cache of scores in the run folder. */
const SCORES_FILE = 'review-scores.json';

/** One labelled image of the data folder. */
export interface LabelledImage {
  /** Relative to the data folder, '/'-separated. */
  rel: string;
  /** 'train', 'validation', 'test', or '.' for class folders directly (a table: train or validation). */
  split: string;
  /** Index into the run's classes. */
  label: number;
}

export interface ScoredImage extends LabelledImage {
  scores: number[];
}

export interface RunScores {
  classes: string[];
  images: ScoredImage[];
  /** Images the model ran on this time (the others came from the cache). */
  scored: number;
}

/** The run's labels table, when it was trained from one, with its columns as the table reader picked them. */
export function runTable(dataRoot: string, options: Record<string, unknown>): (ReviewTable & { options: LabelsTableOptions }) | undefined {
  const o = labelsTableOptions(options as LabelsTableOptions);
  if (!o) return undefined;
  const t = readLabelsTable(dataRoot, o);
  return { file: t.path, columns: { file: t.columns.file, label: t.columns.label }, options: o };
}

/** Every image of the data folder with one of `classes` as its label: each split's class folders, or the table's rows. */
export function labelledImages(dataRoot: string, classes: string[], table?: LabelsTableOptions): LabelledImage[] {
  const rel = (f: string) => path.relative(dataRoot, f).split(path.sep).join('/');
  const out: LabelledImage[] = [];
  if (table) {
    for (const row of readLabelsTable(dataRoot, table).rows) {
      const label = row.labels.length === 1 ? classes.indexOf(row.labels[0]) : -1;
      if (row.file && label >= 0) out.push({ rel: rel(row.file), split: row.valid ? 'validation' : 'train', label });
    }
    return out;
  }
  const d = resolveDataDir(dataRoot);
  for (const [split, dir] of Object.entries(d.splits)) {
    if (!dir) continue;
    for (const c of listClassDirs(dir)) {
      const label = classes.indexOf(c);
      if (label < 0) continue;
      for (const f of listImageFiles(path.join(dir, c))) out.push({ rel: rel(f), split: d.layout === 'classes' ? '.' : split, label });
    }
  }
  return out;
}

interface ScoresCache {
  /** meta.json's mtime: a run written again scores anew. */
  model: number;
  byFile: Record<string, number[]>;
}

const keyOf = (abs: string, st: fs.Stats) => `${path.basename(abs)}\0${st.size}\0${st.mtimeMs}`;

/**
 * The scores of the run for every labelled image of `dataRoot`; cached in the run folder
 * (the model runs only on images it has not scored yet). Single-label runs only.
 */
export async function runScores(
  runDir: string,
  dataRoot: string,
  opts: { onProgress?: (done: number, total: number) => void } = {},
): Promise<RunScores> {
  const meta = await readMeta(runDir);
  if (meta.labelMode === 'multi-label')
    throw new UserError(`The run ${runDir} is multi-label: review ranks single-label runs (one class an image) only.`);
  const table = runTable(dataRoot, meta.options ?? {});
  const images = labelledImages(dataRoot, meta.classes, table?.options);
  if (images.length === 0) throw new UserError(`${dataRoot} has no images of the run's classes (${meta.classes.join(', ')}).`);
  const cacheFile = path.join(runDir, SCORES_FILE);
  const model = fs.statSync(runPaths(runDir).meta).mtimeMs;
  let cache: ScoresCache = { model, byFile: {} };
  try {
    const read = JSON.parse(fs.readFileSync(cacheFile, 'utf8')) as ScoresCache;
    if (read.model === model) cache = read;
  } catch {
    // none yet
  }
  const abs = images.map((i) => path.join(dataRoot, ...i.rel.split('/')));
  const keys = abs.map((f) => keyOf(f, fs.statSync(f)));
  const todo = keys.flatMap((k, i) => (cache.byFile[k] ? [] : [i]));
  if (todo.length > 0) {
    const classifier = await loadClassifier(runDir);
    try {
      const scores = await classifier.scoresOfFiles(
        todo.map((i) => abs[i]),
        16,
        { onProgress: opts.onProgress },
      );
      todo.forEach((i, j) => {
        cache.byFile[keys[i]] = scores[j].map((v) => Number(v.toPrecision(7)));
      });
    } finally {
      await classifier.dispose();
    }
    // Only the images still there: the cache does not grow with every move.
    const live = new Set(keys);
    cache.byFile = Object.fromEntries(Object.entries(cache.byFile).filter(([k]) => live.has(k)));
    await writeFileAtomic(cacheFile, JSON.stringify(cache));
  }
  return { classes: meta.classes, images: images.map((img, i) => ({ ...img, scores: cache.byFile[keys[i]] })), scored: todo.length };
}
