import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors.js';
import { hasImageExtension } from './decode.js';
import { byCodePoint, listImageFiles } from './splits.js';
import { decodeTableText, detectTableFormat, parseTableText, type TableFormat } from './tableText.js';

/**
 * Labels read from a table instead of class folders: one column names each image
 * (relative to the data folder), one holds its label(s). The names match train()'s
 * options, so a training run's options can be passed as they are.
 */
export interface LabelsTableOptions {
  /** The table: CSV, TSV or JSON lines (a path as given, else relative to the data folder). */
  labels?: string;
  /** Splits a label cell into several labels (fastai's label_delim), e.g. ' ' for "cat dog". */
  labelDelim?: string;
  /** The column naming the file; default the first of id, file, filename, path, image, image_name ... found. */
  fileColumn?: string;
  /** The column of the label(s); default the first of label, labels, tags, class, category ... found. */
  labelColumn?: string;
  /** A true/false column picking the validation rows (fastai's is_valid); default a column named is_valid, if any. */
  validColumn?: string;
}

/** One data row of the table. */
export interface TableRow {
  /** The line of the table the row starts on (1-based, the header is line 1 of a CSV). */
  line: number;
  /** The file cell as written. */
  name: string;
  /** The image it names (absolute), or undefined when no image of the data folder matches. */
  file?: string;
  /** Why `file` is undefined. */
  missing?: string;
  /** Its labels, trimmed, empty ones dropped: one for a single-label table, none when the cell is empty. */
  labels: string[];
  /** The validation column's value, when the table has one. */
  valid?: boolean;
}

export interface LabelsTable {
  /** The table file as the user named it. */
  shown: string;
  /** Its absolute path. */
  path: string;
  /** sha256 of its bytes. */
  sha256: string;
  format: TableFormat;
  root: string;
  columns: { file: string; label: string; valid?: string };
  rows: TableRow[];
  /** Every image of the data folder (absolute, Keras's walk order: sorted folders, sorted names). */
  images: string[];
  /** Images of the data folder that no row names (absolute, Keras's walk order). */
  unlisted: string[];
  /** Distinct labels, sorted by code point as Keras sorts class folders. */
  labelNames: string[];
  /** True when some row has more than one label. */
  multiLabel: boolean;
}

const FILE_COLUMNS = ['file', 'filename', 'file_name', 'filepath', 'path', 'image', 'image_name', 'image_id', 'img', 'fname', 'id'];
const LABEL_COLUMNS = ['label', 'labels', 'tags', 'tag', 'class', 'category', 'target'];
const VALID_COLUMNS = ['is_valid'];
const TRUE_WORDS = ['true', '1', 'yes', 'y', 't'];
const FALSE_WORDS = ['false', '0', 'no', 'n', 'f', ''];

/** The table options of a larger object (train()'s options), or undefined when it names no table. */
export function labelsTableOptions(o: LabelsTableOptions): LabelsTableOptions | undefined {
  if (o.labels === undefined) return undefined;
  return { labels: o.labels, labelDelim: o.labelDelim, fileColumn: o.fileColumn, labelColumn: o.labelColumn, validColumn: o.validColumn };
}

/**
 * Read a labels table over the data folder `dataDir`. A table that cannot be read as
 * meant (encoding, quoting, a missing column, a path outside the data folder, an
 * ambiguous id, a bad true/false value) is a UserError naming the file, the line and
 * the fix. Rows without a file, with empty labels or naming a file twice are kept for
 * the caller to judge (check-data reports them; training refuses them).
 */
export function readLabelsTable(dataDir: string, opts: LabelsTableOptions): LabelsTable {
  if (!opts.labels) throw new UserError('labels must name a table file (CSV, TSV or JSON lines), e.g. --labels train.csv.');
  const root = path.resolve(dataDir);
  const tablePath = findTable(opts.labels, root, dataDir);
  const shown = opts.labels;
  const bytes = fs.readFileSync(tablePath);
  const text = decodeTableText(bytes, shown);
  const parsed = parseTableText(text, detectTableFormat(tablePath, text), shown);
  const where = parsed.format === 'jsonl' ? `${shown} (the keys of its objects)` : `${shown} line ${parsed.headerLine} (the header)`;
  const has = parsed.columns.length ? parsed.columns.map((c) => `'${c}'`).join(', ') : 'none';
  const fileColumn = pickColumn(parsed.columns, opts.fileColumn, FILE_COLUMNS, 'file', '--file-column', where, has);
  const labelColumn = pickColumn(parsed.columns, opts.labelColumn, LABEL_COLUMNS, 'label', '--label-column', where, has);
  const validColumn =
    opts.validColumn !== undefined
      ? pickColumn(parsed.columns, opts.validColumn, VALID_COLUMNS, 'validation', '--valid-column', where, has)
      : parsed.columns.find((c) => VALID_COLUMNS.includes(c.trim().toLowerCase()));
  if (fileColumn === labelColumn)
    throw new UserError(
      `${where}: the column '${fileColumn}' cannot be both the file and the label column. Pass --file-column and --label-column.`,
    );
  if (opts.labelDelim === '') throw new UserError('labelDelim (--label-delim) must not be empty. Pass e.g. " " or ";".');

  const images = listImages(root, dataDir);
  const rows: TableRow[] = parsed.records.map((r) => {
    const name = cellText(r.cells[fileColumn]).trim();
    const row: TableRow = { line: r.line, name, labels: labelsOf(r.cells[labelColumn], opts.labelDelim) };
    const found = resolveRow(name, root, images, shown, r.line, dataDir);
    if (found.file) row.file = found.file;
    else row.missing = found.missing;
    if (validColumn !== undefined) row.valid = parseValid(r.cells[validColumn], shown, r.line, validColumn);
    return row;
  });
  const listed = new Set(rows.flatMap((r) => (r.file ? [r.file] : [])));
  const labelNames = [...new Set(rows.flatMap((r) => r.labels))].sort(byCodePoint);
  return {
    shown,
    path: tablePath,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    format: parsed.format,
    root,
    columns: { file: fileColumn, label: labelColumn, ...(validColumn !== undefined ? { valid: validColumn } : {}) },
    rows,
    images: images.all,
    unlisted: images.all.filter((f) => !listed.has(f)),
    labelNames,
    multiLabel: rows.some((r) => r.labels.length > 1),
  };
}

function findTable(labels: string, root: string, dataDir: string): string {
  const candidates = [path.resolve(labels), path.resolve(root, labels)];
  for (const c of candidates) {
    let st: fs.Stats | undefined;
    try {
      st = fs.statSync(c);
    } catch {
      continue;
    }
    if (st.isDirectory()) throw new UserError(`labels ${labels} is a folder. Give the table file (e.g. train.csv).`);
    return c;
  }
  throw new UserError(
    `The labels table ${labels} does not exist (looked at ${candidates[0]} and ${candidates[1]}). Give the path of a CSV, TSV or JSON-lines table, e.g. --labels ${path.join(dataDir, 'train.csv')}.`,
  );
}

function pickColumn(
  columns: string[],
  given: string | undefined,
  common: string[],
  what: string,
  flag: string,
  where: string,
  has: string,
): string {
  if (given !== undefined) {
    const found = columns.find((c) => c === given) ?? columns.find((c) => c.trim().toLowerCase() === given.trim().toLowerCase());
    if (found !== undefined) return found;
    throw new UserError(`${where} has no column '${given}' (${flag}); its columns are ${has}. Pass one of them as ${flag}.`);
  }
  for (const name of common) {
    const found = columns.find((c) => c.trim().toLowerCase() === name);
    if (found !== undefined) return found;
  }
  throw new UserError(
    `${where} has no ${what} column: its columns are ${has}, none of them a usual name (${common.join(', ')}). Pass the column's name as ${flag}.`,
  );
}

function cellText(v: unknown): string {
  if (v === undefined || v === null) return '';
  return typeof v === 'string' ? v : typeof v === 'object' ? JSON.stringify(v) : String(v);
}

function labelsOf(v: unknown, delim: string | undefined): string[] {
  // JSON lines may give the labels as an array.
  const parts = Array.isArray(v) ? v.map(cellText) : delim !== undefined ? cellText(v).split(delim) : [cellText(v)];
  return [...new Set(parts.map((p) => p.trim()).filter((p) => p !== ''))];
}

function parseValid(v: unknown, shown: string, line: number, column: string): boolean {
  if (typeof v === 'boolean') return v;
  const t = cellText(v).trim().toLowerCase();
  if (TRUE_WORDS.includes(t)) return true;
  if (FALSE_WORDS.includes(t)) return false;
  throw new UserError(
    `${shown} line ${line}: '${cellText(v)}' in the validation column '${column}' is not true or false. Write true/false, 1/0 or yes/no.`,
  );
}

interface ImageIndex {
  all: string[];
  /** Relative path with '/' -> absolute. */
  byPath: Map<string, string>;
  /** Relative path without its extension -> absolute paths (Kaggle's ids name no extension). */
  byStem: Map<string, string[]>;
}

function listImages(root: string, shown: string): ImageIndex {
  let all: string[];
  try {
    all = listImageFiles(root);
  } catch {
    throw new UserError(
      `The data folder ${shown} does not exist or cannot be read. Pass the folder the table's file names are relative to.`,
    );
  }
  const byPath = new Map<string, string>();
  const byStem = new Map<string, string[]>();
  for (const f of all) {
    const rel = path.relative(root, f).split(path.sep).join('/');
    byPath.set(rel, f);
    const stem = rel.slice(0, rel.length - path.extname(rel).length);
    byStem.set(stem, [...(byStem.get(stem) ?? []), f]);
  }
  return { all, byPath, byStem };
}

function resolveRow(
  name: string,
  root: string,
  images: ImageIndex,
  shown: string,
  line: number,
  dataDir: string,
): { file?: string; missing?: string } {
  if (name === '') return { missing: 'its file cell is empty' };
  const slashed = name.replace(/\\/g, '/');
  if (path.isAbsolute(name) || path.posix.isAbsolute(slashed) || /^[A-Za-z]:\//.test(slashed)) {
    throw new UserError(
      `${shown} line ${line}: '${name}' is an absolute path; the file column holds paths relative to the data folder ${dataDir}. Write it as a relative path (e.g. ${path.basename(slashed)}).`,
    );
  }
  const rel = path.posix.normalize(slashed);
  if (rel === '..' || rel.startsWith('../')) {
    throw new UserError(
      `${shown} line ${line}: '${name}' points outside the data folder ${dataDir}. Every file must lie inside it: move the images in, or pass their common parent folder as the data folder.`,
    );
  }
  const exact = images.byPath.get(rel);
  if (exact) return { file: exact };
  if (!hasImageExtension(rel)) {
    const matches = images.byStem.get(rel) ?? [];
    if (matches.length === 1) return { file: matches[0] };
    if (matches.length > 1) {
      throw new UserError(
        `${shown} line ${line}: '${name}' matches ${matches.length} images (${matches.map((m) => path.relative(root, m)).join(', ')}). Write the file name with its extension.`,
      );
    }
  }
  const onDisk = path.join(root, rel);
  if (fs.existsSync(onDisk)) return { missing: `${rel} is not an image file tlkit reads (${path.extname(rel) || 'no extension'})` };
  return { missing: `no file ${rel}${hasImageExtension(rel) ? '' : '.*'} in ${dataDir}` };
}
