import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors.js';
import { writeFileAtomic } from '../io/atomicWrite.js';
import { detectTableFormat, parseTableText, type TableFormat } from '../data/tableText.js';

// A labels table's row rewritten in place: only that line changes, every other byte of the
// file stays as it was (line breaks, quoting, a byte-order mark). The table is written
// whole and renamed over the old one, so a reader sees the old table or the new one.

export interface TableColumns {
  file: string;
  label: string;
}

interface TableText {
  bom: string;
  /** The lines and the breaks between them: parts[2k] is line k + 1, parts[2k + 1] its break. */
  parts: string[];
  format: TableFormat;
}

function readText(table: string): TableText {
  const bytes = fs.readFileSync(table);
  if ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff))
    throw new UserError(`${table} is UTF-16: review rewrites UTF-8 tables only. Save it as UTF-8 and run again.`);
  let text = bytes.toString('utf8');
  let bom = '';
  if (text.startsWith('\uFEFF')) {
    bom = '\uFEFF';
    text = text.slice(1);
  }
  return { bom, parts: text.split(/(\r\n|\n|\r)/), format: detectTableFormat(table, text) };
}

const joinText = (t: TableText) => t.bom + t.parts.join('');

/** True when the row's file cell names `rel` (with or without its extension, as Kaggle's ids do). */
function names(cell: unknown, rel: string): boolean {
  const name = String(cell ?? '')
    .trim()
    .replace(/\\/g, '/');
  const normal = path.posix.normalize(name);
  return normal === rel || normal === rel.slice(0, rel.length - path.posix.extname(rel).length);
}

/** The line (1-based) and text of the one-line row naming `rel`; a UserError when none, several, or a row over several lines. */
export function findRow(table: string, columns: TableColumns, rel: string): { line: number; text: string; label: unknown } {
  const t = readText(table);
  const parsed = parseTableText(t.parts.join(''), t.format, table);
  const rows = parsed.records.filter((r) => names(r.cells[columns.file], rel));
  if (rows.length !== 1)
    throw new UserError(
      rows.length === 0
        ? `No row of ${table} names ${rel} (column '${columns.file}'): add its row, or relabel it in the table yourself.`
        : `${rows.length} rows of ${table} name ${rel} (lines ${rows.map((r) => r.line).join(', ')}): keep one row an image, then review again.`,
    );
  const { line, cells } = rows[0];
  const text = t.parts[2 * (line - 1)] ?? '';
  // A quoted cell holding a line break spans lines: the line alone would not parse to the same cells.
  const alone = parseTableText(t.format === 'jsonl' ? text : `${t.parts[2 * (parsed.headerLine - 1)]}\n${text}`, t.format, table);
  if (alone.records.length !== 1 || !names(alone.records[0].cells[columns.file], rel))
    throw new UserError(`The row of ${rel} in ${table} (line ${line}) spans several lines: relabel it in the table yourself.`);
  return { line, text, label: cells[columns.label] };
}

function quoteCell(v: string, delim: string): string {
  return /["\r\n]/.test(v) || v.includes(delim) || v !== v.trim() ? `"${v.replace(/"/g, '""')}"` : v;
}

/** The row's text with its label cell set to `label`. */
export function rowWithLabel(table: string, columns: TableColumns, rowText: string, label: string): string {
  const t = readText(table);
  if (t.format === 'jsonl') {
    const o = JSON.parse(rowText) as Record<string, unknown>;
    o[columns.label] = Array.isArray(o[columns.label]) ? [label] : label;
    return JSON.stringify(o);
  }
  const delim = t.format === 'tsv' ? '\t' : t.format === 'ssv' ? ';' : ',';
  const parsed = parseTableText(t.parts.join(''), t.format, table);
  const header = t.parts[2 * (parsed.headerLine - 1)];
  const record = parseTableText(`${header}\n${rowText}`, t.format, table).records[0];
  return parsed.columns
    .map((c) => (c === columns.label ? label : String(record.cells[c] ?? '')))
    .map((v) => quoteCell(v, delim))
    .join(delim);
}

/**
 * Put `next` in place of the line `expected` at `line` (1-based); null removes the line, and
 * an `expected` of null inserts `next` there. A line that no longer holds `expected` (the table
 * was edited since) is a UserError: nothing is written.
 */
export async function replaceRow(table: string, line: number, expected: string | null, next: string | null): Promise<void> {
  const t = readText(table);
  const at = 2 * (line - 1);
  if (expected !== null) {
    if (t.parts[at] !== expected)
      throw new UserError(
        `Line ${line} of ${table} is no longer the row review wrote (${JSON.stringify(expected)}): the table was edited since. Fix the row by hand.`,
      );
    if (next !== null) t.parts[at] = next;
    else t.parts.splice(at, 2);
  } else if (next !== null) {
    const eol = t.parts[1] ?? '\n';
    // After the last line that ends in a break, or at the end of a last line without one.
    if (at >= t.parts.length) {
      if (t.parts.at(-1) !== '') t.parts.push(eol, next);
      else t.parts.splice(t.parts.length - 1, 1, next, eol, '');
    } else t.parts.splice(at, 0, next, eol);
  }
  await writeFileAtomic(table, joinText(t));
}

/** The text of line `line` (1-based), or undefined past the end. */
export function lineAt(table: string, line: number): string | undefined {
  return readText(table).parts[2 * (line - 1)];
}
