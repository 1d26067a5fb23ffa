import fs from 'node:fs';
import path from 'node:path';
import { checkDataset } from '../data/checkData.js';
import type { DatasetMap } from '../explore/datasetMap.js';
import { LOSS_SHOWN_BELOW, topLossesPerClass } from '../report/topLosses.js';
import type { FileResult } from '../run/evaluation.js';
import { sha256Of } from './execute.js';
import { absOf } from './journal.js';
import { ReviewStore } from './actions.js';
import { runScores, runTable } from './scores.js';
import { readMeta } from '../run/meta.js';

// The images to look at first after a run, each with why: fastai's top losses (per class,
// over every split, the training images too), the predictions nearest a tie, check-data's
// findings (duplicates across splits, tiny images), and the dataset map's outliers. An
// image marked checked leaves the queue until its bytes change.

export type ReasonKind = 'top-loss' | 'uncertain' | 'duplicate' | 'tiny' | 'outlier';

export interface QueueReason {
  kind: ReasonKind;
  text: string;
}

export interface QueueItem {
  /** Relative to the data folder, '/'-separated. */
  file: string;
  split: string;
  /** Its class now (null when the run's classes do not list it). */
  label: string | null;
  /** The run's answer and its probability, and P(its own label). */
  predicted?: string;
  confidence?: number;
  probability?: number;
  /** -log P(label), as Keras's cross-entropy clips it. */
  loss?: number;
  reasons: QueueReason[];
}

export interface ReviewQueue {
  run: string;
  dataRoot: string;
  classes: string[];
  /** The labels table when the run's labels come from one (relabel rewrites its row), relative to the data folder. */
  table?: string;
  journal: string;
  items: QueueItem[];
  /** Images marked checked, left out. */
  checked: number;
  /** Images the model ran on to build this queue (the others' scores were cached). */
  scored: number;
  /** The map the outliers came from, if any. */
  map?: string;
}

export interface QueueOptions {
  /** Top losses a class (default 8). */
  perClass?: number;
  /** The most uncertain predictions (default 8): those whose two most likely classes are less than 0.4 apart. */
  uncertain?: number;
  /** Outliers of the map (default 8), those with an outlier score of at least 0.5. */
  outliers?: number;
  /** A map.json (`tlkit map`) of this data folder; by default RUN/map/map.json or RUN/map.json when there. */
  map?: string;
  /** Run check-data's scan (default true). */
  checkData?: boolean;
  onProgress?: (done: number, total: number) => void;
}

/** An answer is uncertain when its two most likely classes are less than this apart. */
const UNCERTAIN_BELOW = 0.4;

const clip = (p: number) => Math.min(1 - 1e-7, Math.max(1e-7, p));
const pct = (p: number) => `${(100 * p).toFixed(1)}%`;

/** The map of the data folder beside the run, if there is one. */
function defaultMap(runDir: string): string | undefined {
  return [path.join(runDir, 'map', 'map.json'), path.join(runDir, 'map.json')].find((f) => fs.existsSync(f));
}

/** The review queue of a run over its data folder (see the file's comment). */
export async function reviewQueue(runDir: string, dataRoot: string, o: QueueOptions = {}): Promise<ReviewQueue> {
  const root = path.resolve(dataRoot);
  const meta = await readMeta(runDir);
  const table = runTable(root, meta.options ?? {});
  const store = await ReviewStore.open(root, table);
  const s = await runScores(runDir, root, { onProgress: o.onProgress });
  const { classes } = s;
  const items = new Map<string, QueueItem>();
  const byFile = new Map(s.images.map((img) => [img.rel, img]));
  const itemOf = (rel: string): QueueItem => {
    let item = items.get(rel);
    if (!item) {
      const img = byFile.get(rel);
      item = { file: rel, split: img?.split ?? rel.split('/')[0], label: img ? classes[img.label] : null, reasons: [] };
      if (img) {
        let top = 0;
        img.scores.forEach((v, c) => {
          if (v > img.scores[top]) top = c;
        });
        Object.assign(item, {
          predicted: classes[top],
          confidence: img.scores[top],
          probability: img.scores[img.label],
          loss: -Math.log(clip(img.scores[img.label])),
        });
      }
      items.set(rel, item);
    }
    return item;
  };
  const add = (rel: string, kind: ReasonKind, text: string) => itemOf(rel).reasons.push({ kind, text });

  // Top losses per class, ranked as the report and the Results panel rank them.
  const files: FileResult[] = s.images.map((img) => ({ file: img.rel, label: img.label, scores: img.scores }));
  const groups = topLossesPerClass(files, classes, o.perClass ?? 8);
  const rounds = Math.max(0, ...groups.map((g) => g.items.length));
  for (let r = 0; r < rounds; r++)
    for (const g of groups) {
      const i = g.items[r];
      if (i)
        add(
          i.file,
          'top-loss',
          `filed as ${classes[i.label]}, the run says ${classes[i.predicted]} (P(${classes[i.label]}) ${pct(i.scores[i.label])}), loss ${i.loss.toFixed(2)}`,
        );
    }

  // The most uncertain: the smallest gap between the two most probable classes.
  const margins = s.images
    .map((img) => {
      const sorted = [...img.scores].sort((a, b) => b - a);
      return { rel: img.rel, margin: sorted[0] - (sorted[1] ?? 0) };
    })
    .filter((m) => m.margin < UNCERTAIN_BELOW)
    .sort((a, b) => a.margin - b.margin)
    .slice(0, o.uncertain ?? 8);
  for (const m of margins) add(m.rel, 'uncertain', `the run hesitates: its two most likely classes are ${pct(m.margin)} apart`);

  if (o.checkData ?? true) {
    const report = await checkDataset(root, table ? { table: table.options } : {});
    for (const p of report.problems) {
      if (p.kind !== 'duplicate' && p.kind !== 'tiny') continue;
      for (const f of p.files) add(f.split(path.sep).join('/'), p.kind, p.message);
    }
  }

  const mapFile = o.map ?? defaultMap(runDir);
  if (mapFile) {
    const map = JSON.parse(fs.readFileSync(mapFile, 'utf8')) as DatasetMap;
    const picked = map.outliers
      .map((i) => map.points[i])
      .filter((p) => p.outlier >= 0.5 && byFile.has(p.file))
      .slice(0, o.outliers ?? 8);
    for (const p of picked)
      add(
        p.file,
        'outlier',
        `${pct(p.outlier)} of its nearest neighbours on the map are ${p.looksLike ?? 'another class'}, not ${p.label}`,
      );
  }

  // Checked images stay out while their bytes are the ones checked.
  const checked = store.checked();
  let hidden = 0;
  const list = [...items.values()].filter((item) => {
    const sha = checked.get(item.file);
    if (sha === undefined || !fs.existsSync(absOf(root, item.file)) || sha256Of(absOf(root, item.file)) !== sha) return true;
    hidden++;
    return false;
  });
  return {
    run: runDir,
    dataRoot: root,
    classes,
    ...(table ? { table: path.relative(root, table.file).split(path.sep).join('/') } : {}),
    journal: store.journal,
    items: list,
    checked: hidden,
    scored: s.scored,
    ...(mapFile ? { map: mapFile } : {}),
  };
}

/** The queue as text: one image a line with its class, the run's answer, and why it is listed. */
export function formatQueue(q: ReviewQueue): string {
  const lines = [
    `Review queue of ${q.run} over ${q.dataRoot}: ${q.items.length} image${q.items.length === 1 ? '' : 's'} to look at` +
      `${q.checked ? ` (${q.checked} checked left out)` : ''}. Losses are listed when P(label) < ${LOSS_SHOWN_BELOW} or the answer is wrong.`,
  ];
  for (const item of q.items) {
    const answer = item.predicted !== undefined ? ` -> ${item.predicted} ${pct(item.confidence ?? 0)}` : '';
    lines.push(`${item.file}  [${item.label ?? '?'}${answer}]`);
    for (const r of item.reasons) lines.push(`    ${r.kind}: ${r.text}`);
  }
  lines.push(`Journal: ${q.journal}`);
  return lines.join('\n');
}
