import path from 'node:path';
import { UserError } from '../errors.js';
import { imageDatasetFromDirectory, imageDatasetFromFiles, type ImageDataset, type ImageDatasetOptions } from './imageDataset.js';
import { labelsTableOptions, readLabelsTable, type LabelsTable, type LabelsTableOptions, type TableRow } from './labelsTable.js';
import { resolveDataDir, type DataDir, type LabelledList, type SplitName } from './splits.js';

/** What a command that takes one label an image says when a table gives some row several labels. */
function multiLabelNotSupported(table: LabelsTable, command: string): UserError {
  const row = table.rows.find((r) => r.labels.length > 1)!;
  return new UserError(
    `${table.shown} line ${row.line} gives '${row.name}' ${row.labels.length} labels (${row.labels.join(', ')}): ${command} takes one label per row so far. ` +
      'Keep one label a row, or drop --label-delim if the separator also occurs inside single labels.',
  );
}

/**
 * The data of a run: the data folder alone (class folders, or the book's layout), or the
 * folder with a labels table (`table.labels`), which gives layout 'table'. Multi-label
 * when a table row has several labels, or when `multiLabel` asks for it (then each image's
 * one label is its multi-hot row).
 */
export function resolveData(dir: string, table?: LabelsTableOptions, multiLabel = false): DataDir {
  const options = table && labelsTableOptions(table);
  if (!options) return multiLabel ? { ...resolveDataDir(dir), multiLabel: true } : resolveDataDir(dir);
  return tableDataDir(readLabelsTable(dir, options), multiLabel);
}

/**
 * A table as a DataDir: refuses what training cannot use (rows without a file, empty
 * labels, a file named twice, fewer than 2 classes), each with its lines. Files are listed
 * by class (multi-label: by their first class), then in Keras's walk order: the order the
 * class-folder layout of the same images gives, so both train alike with the same seed.
 * A multi-label table (or `multiLabel`) also gives each split its multi-hot rows.
 */
function tableDataDir(table: LabelsTable, multiLabelOption: boolean): DataDir {
  checkTableRows(table, 'training', true);
  const { shown } = table;
  const multiLabel = multiLabelOption || table.multiLabel;
  const classNames = table.labelNames;
  if (classNames.length < 2) {
    throw new UserError(
      `${shown} gives every row the label '${classNames[0]}'; a classifier needs at least 2 classes. Check the label column ('${table.columns.label}').`,
    );
  }
  const rank = new Map(table.images.map((f, i) => [f, i]));
  const classOf = new Map(classNames.map((c, i) => [c, i]));
  const k = classNames.length;
  const listOf = (rows: TableRow[]): LabelledList => {
    const sorted = rows
      .map((r) => {
        const ids = r.labels.map((l) => classOf.get(l)!).sort((a, b) => a - b);
        return { file: r.file!, label: ids[0], ids };
      })
      .sort((a, b) => a.label - b.label || rank.get(a.file)! - rank.get(b.file)!);
    const list: LabelledList = { files: sorted.map((s) => s.file), labels: Int32Array.from(sorted, (s) => s.label) };
    if (!multiLabel) return list;
    const multiHot = new Uint8Array(sorted.length * k);
    sorted.forEach((s, i) => {
      for (const c of s.ids) multiHot[i * k + c] = 1;
    });
    return { ...list, multiHot };
  };
  const valid = table.columns.valid;
  const trainRows = table.rows.filter((r) => !r.valid);
  const validRows = table.rows.filter((r) => r.valid);
  if (valid !== undefined && (trainRows.length === 0 || validRows.length === 0)) {
    throw new UserError(
      `${shown}: the validation column '${valid}' marks ${trainRows.length === 0 ? 'every' : 'no'} row true, which leaves no ${trainRows.length === 0 ? 'training' : 'validation'} images. Mark some rows true (validation) and the rest false (training).`,
    );
  }
  const train = listOf(trainRows);
  const inTrain = new Set(trainRows.flatMap((r) => r.labels));
  const absent = classNames.filter((c) => !inTrain.has(c));
  if (absent.length) {
    throw new UserError(
      `${shown}: the class${absent.length > 1 ? 'es' : ''} ${absent.map((c) => `'${c}'`).join(', ')} appear${absent.length > 1 ? '' : 's'} only in validation rows (column '${valid}'). Every class needs training rows: mark some of its rows false.`,
    );
  }
  return {
    root: table.root,
    layout: 'table',
    splits: { train: table.root, ...(valid !== undefined ? { validation: table.root } : {}) },
    classNames,
    table: {
      file: shown,
      sha256: table.sha256,
      splits: { train, ...(valid !== undefined ? { validation: listOf(validRows) } : {}) },
    },
    ...(multiLabel ? { multiLabel: true } : {}),
  };
}

/** The images of each label of a single-label table (every row, the validation column aside), in Keras's walk order. */
export function tableClassFiles(table: LabelsTable, command: string): Map<string, string[]> {
  checkTableRows(table, command);
  const rank = new Map(table.images.map((f, i) => [f, i]));
  const map = new Map(table.labelNames.map((l) => [l, [] as string[]]));
  for (const r of table.rows) map.get(r.labels[0])!.push(r.file!);
  for (const files of map.values()) files.sort((a, b) => rank.get(a)! - rank.get(b)!);
  return map;
}

/** What no command can use: rows without an image, a file named twice, empty labels; several labels a row unless `multiLabel` is taken. */
function checkTableRows(table: LabelsTable, command: string, multiLabel = false): void {
  const { shown } = table;
  const check = `Fix the table, or see every problem at once with \`tlkit check-data ${path.relative(process.cwd(), table.root) || '.'} --labels ${shown}\`.`;
  const lines = (rows: TableRow[], say: (r: TableRow) => string) =>
    rows
      .slice(0, 5)
      .map((r) => `line ${r.line}: ${say(r)}`)
      .join('; ') + (rows.length > 5 ? `; and ${rows.length - 5} more` : '');
  const missing = table.rows.filter((r) => !r.file);
  if (missing.length) {
    throw new UserError(
      `${shown}: ${missing.length} row${missing.length > 1 ? 's name' : ' names'} no image (${lines(missing, (r) => r.missing!)}). ${check}`,
    );
  }
  const firstLine = new Map<string, number>();
  const twice: Array<{ row: TableRow; first: number }> = [];
  for (const r of table.rows) {
    const first = firstLine.get(r.file!);
    if (first !== undefined) twice.push({ row: r, first });
    else firstLine.set(r.file!, r.line);
  }
  if (twice.length) {
    const t = twice[0];
    throw new UserError(
      `${shown} line ${t.row.line} names ${path.relative(table.root, t.row.file!)}, which line ${t.first} names already${twice.length > 1 ? ` (and ${twice.length - 1} more file${twice.length > 2 ? 's' : ''} twice)` : ''}. Keep one row a file. ${check}`,
    );
  }
  const empty = table.rows.filter((r) => r.labels.length === 0);
  if (empty.length)
    throw new UserError(
      `${shown}: ${empty.length} row${empty.length > 1 ? 's have' : ' has'} an empty label (${lines(empty, (r) => r.name)}). ${check}`,
    );
  if (table.multiLabel && !multiLabel) throw multiLabelNotSupported(table, command);
}

/**
 * One split of the data as a dataset: the class folders of that split, or the table's
 * rows for it, in the same order and with the same seeded shuffles either way.
 */
export async function imageDatasetOfSplit(
  data: DataDir,
  split: SplitName,
  opts: Omit<ImageDatasetOptions, 'labels' | 'classNames' | 'subset' | 'validationSplit'>,
): Promise<ImageDataset> {
  const dir = data.splits[split];
  if (!dir) throw new UserError(`The data ${data.root} has no ${split} split.`);
  const list = data.table?.splits[split as 'train' | 'validation'];
  if (!data.table) return (await imageDatasetFromDirectory(dir, { ...opts, classNames: data.classNames })) as ImageDataset;
  if (!list) throw new UserError(`The labels table ${data.table.file} has no ${split} rows.`);
  return imageDatasetFromFiles(
    { classNames: data.classNames, files: list.files, labels: list.labels, multiHot: list.multiHot },
    opts,
    `${data.table.file} (${split})`,
  );
}

/**
 * The rows of a table to evaluate a model on: every row, each label one of the model's
 * classes (a class may have no rows). Files in the table's order. `labelLists` holds each
 * row's labels in class order; a multi-label model (`multiLabel`) takes rows with several
 * labels, and its `labels` are -1 (no single class).
 */
export function tableEvaluationFiles(
  dir: string,
  table: LabelsTableOptions,
  classes: string[],
  opts: { multiLabel?: boolean } = {},
): { dir: string; files: string[]; labels: number[]; labelLists: string[][] } {
  const read = readLabelsTable(dir, table);
  checkTableRows(read, 'evaluate', opts.multiLabel);
  const unknown = read.labelNames.filter((l) => !classes.includes(l));
  if (unknown.length) {
    const row = read.rows.find((r) => r.labels.some((l) => unknown.includes(l)))!;
    const first = row.labels.find((l) => unknown.includes(l))!;
    throw new UserError(
      `${read.shown} line ${row.line} labels ${row.name} '${first}', which is not a class of the model [${classes.join(', ')}]${
        unknown.length > 1
          ? ` (nor are ${unknown
              .filter((u) => u !== first)
              .map((u) => `'${u}'`)
              .join(', ')})`
          : ''
      }. Evaluate on rows whose labels are the model's classes${opts.multiLabel ? ', split by the --label-delim the model was trained with' : ''}.`,
    );
  }
  return {
    dir: read.root,
    files: read.rows.map((r) => r.file!),
    labels: read.rows.map((r) => (opts.multiLabel ? -1 : classes.indexOf(r.labels[0]))),
    labelLists: read.rows.map((r) => classes.filter((c) => r.labels.includes(c))),
  };
}
