import path from 'node:path';
import {
  finishReport,
  imbalanceFindings,
  scanImages,
  type CheckReport,
  type Finding,
  type ImageEntry,
  type SplitReport,
} from './checkFindings.js';
import { readLabelsTable, type LabelsTable, type LabelsTableOptions, type TableRow } from './labelsTable.js';
import { byCodePoint } from './splits.js';

/** The options of checkDataset that a table scan reads. */
interface TableCheckOptions {
  minSize?: number;
  maxImbalance?: number;
  concurrency?: number;
  onProgress?: (done: number, total: number) => void;
  /** The expected classes: any other label is an error. */
  classes?: string[];
}

const SHOWN_LINES = 10;

/**
 * check-data over a data folder labelled by a table: each problem of the table named with
 * its lines (rows naming no image, a file named twice, empty labels, labels not among
 * `classes`, labels used once, images no row names; in a multi-label table, labels no
 * validation row has), the label counts per split (the validation column's rows apart),
 * then every image the table names checked as check-data checks class folders
 * (unreadable, not an image, tiny, identical files in training and validation rows, and
 * for a single-label table imbalance). A table that cannot be read is a UserError.
 */
export async function checkTableDataset(dir: string, tableOptions: LabelsTableOptions, opts: TableCheckOptions = {}): Promise<CheckReport> {
  const table = readLabelsTable(dir, tableOptions);
  const problems: Finding[] = [];
  const { shown } = table;
  const rel = (f: string) => path.relative(table.root, f);
  const at = (rows: TableRow[]) =>
    rows.length === 2
      ? `lines ${rows[0].line} and ${rows[1].line}`
      : listed(
          rows.map((r) => String(r.line)),
          rows.length > 1 ? 'lines' : 'line',
        );

  for (const r of table.rows) {
    if (!r.file) problems.push({ kind: 'missing-file', files: [r.name], message: `${shown} line ${r.line}: ${r.missing}` });
    if (r.labels.length === 0)
      problems.push({
        kind: 'empty-label',
        files: [r.name],
        message: `${shown} line ${r.line}: ${r.name || 'the row'} has an empty label`,
      });
  }
  const byFile = new Map<string, TableRow[]>();
  for (const r of table.rows) if (r.file) byFile.set(r.file, [...(byFile.get(r.file) ?? []), r]);
  for (const [file, rows] of byFile) {
    if (rows.length < 2) continue;
    problems.push({
      kind: 'duplicate-row',
      files: [rel(file)],
      message: `${shown} ${at(rows)} ${rows.length > 2 ? 'all' : 'both'} name ${rel(file)}: keep one row a file`,
    });
  }

  const rowsOf = new Map<string, TableRow[]>();
  for (const r of table.rows) for (const l of r.labels) rowsOf.set(l, [...(rowsOf.get(l) ?? []), r]);
  if (opts.classes) {
    for (const [label, rows] of rowsOf) {
      if (opts.classes.includes(label)) continue;
      problems.push({
        kind: 'unknown-label',
        files: rows.map((r) => r.name),
        message: `${shown} ${at(rows)}: the label '${label}' is not one of the classes (${opts.classes.join(', ')}); fix a typo or add it to --classes`,
      });
    }
  }
  for (const [label, rows] of rowsOf) {
    if (rows.length !== 1) continue;
    problems.push({
      kind: 'rare-label',
      files: [rows[0].name],
      message: `${shown} line ${rows[0].line}: the label '${label}' is used once (${rows[0].name}): one image cannot be both learnt and validated; add images of it, or fix a typo`,
    });
  }
  if (table.multiLabel && table.columns.valid !== undefined) {
    // Each label's threshold is chosen on the validation rows that have it.
    for (const [label, rows] of rowsOf) {
      if (rows.length < 2 || rows.some((r) => r.valid)) continue;
      problems.push({
        kind: 'unvalidated-label',
        files: rows.map((r) => r.name),
        message: `${shown}: no validation row has the label '${label}' (${at(rows)}): its threshold stays 0.5 and its precision cannot be measured; mark some of its rows true in '${table.columns.valid}'`,
      });
    }
  }
  if (table.unlisted.length) {
    const files = table.unlisted.map(rel);
    problems.push({
      kind: 'not-in-table',
      files,
      message: `${files.length} image${files.length > 1 ? 's' : ''} of ${dir} ${files.length > 1 ? 'have' : 'has'} no row in ${shown} and ${files.length > 1 ? 'are' : 'is'} left out of training: ${listed(files, '')}`,
    });
  }
  const labelNames = table.labelNames;
  if (labelNames.length === 1) {
    problems.push({
      kind: 'one-class',
      files: [],
      message: `${shown} gives every row the label '${labelNames[0]}': a classifier needs at least 2 classes; check the label column ('${table.columns.label}')`,
    });
  }

  const splits = splitCounts(table);
  // A multi-label model answers one yes/no question a label, scored by per-label precision
  // and mAP: labels of different frequencies do not mislead it as they mislead accuracy.
  if (!table.multiLabel) imbalanceFindings(splits, opts.maxImbalance ?? 1.5, problems);
  const split = (r: TableRow) => (table.columns.valid === undefined ? '.' : r.valid ? 'validation' : 'train');
  const images: ImageEntry[] = [...byFile].map(([file, rows]) => ({ file, rel: rel(file), split: split(rows[0]) }));
  const before = problems.length;
  await scanImages(images, { minSize: opts.minSize ?? 32, concurrency: opts.concurrency, onProgress: opts.onProgress }, problems);
  // The image findings name their rows too.
  const lineOf = new Map(images.map((img) => [img.rel, byFile.get(img.file)![0].line]));
  for (const p of problems.slice(before)) {
    const lines = p.files.map((f) => lineOf.get(f)).filter((l) => l !== undefined);
    if (lines.length) p.message += ` (${shown} ${lines.length > 1 ? 'lines' : 'line'} ${lines.join(', ')})`;
  }
  const multiLabelRows = table.multiLabel ? table.rows.filter((r) => r.labels.length > 1).length : undefined;
  return finishReport(
    { dir, layout: 'table', classNames: labelNames, splits, table: shown, ...(multiLabelRows !== undefined ? { multiLabelRows } : {}) },
    problems,
  );
}

/** Rows per label in each split ('train' and 'validation' by the validation column, else '.'); total: the rows. */
function splitCounts(table: LabelsTable): SplitReport[] {
  const parts: Array<[string, TableRow[]]> =
    table.columns.valid === undefined
      ? [['.', table.rows]]
      : [
          ['train', table.rows.filter((r) => !r.valid)],
          ['validation', table.rows.filter((r) => r.valid)],
        ];
  return parts.map(([split, rows]) => {
    const counts: Record<string, number> = Object.fromEntries(table.labelNames.map((l) => [l, 0]));
    for (const r of rows) for (const l of r.labels) counts[l]++;
    return { split, counts, total: rows.length };
  });
}

/** The first few items, then how many more. */
function listed(items: string[], noun: string): string {
  const sorted = noun ? items : [...items].sort(byCodePoint);
  const head = sorted.slice(0, SHOWN_LINES).join(', ');
  const more = sorted.length > SHOWN_LINES ? ` and ${sorted.length - SHOWN_LINES} more` : '';
  return `${noun ? `${noun} ` : ''}${head}${more}`;
}
