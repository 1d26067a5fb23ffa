import { UserError } from '../errors.js';

/** How a labels table is written: comma- or semicolon-separated, tab-separated, or one JSON object a line. */
export type TableFormat = 'csv' | 'tsv' | 'ssv' | 'jsonl';

/** One data row of a table: its cells by column name, and the line of the file it starts on (1-based). */
export interface TableRecord {
  line: number;
  cells: Record<string, unknown>;
}

export interface ParsedTable {
  format: TableFormat;
  /** The column names: the header's cells, or every key met in a JSON-lines file (in first-seen order). */
  columns: string[];
  /** The header's line (CSV/TSV; 0 for JSON lines). */
  headerLine: number;
  records: TableRecord[];
}

const SAVE_AS_UTF8 = 'Save the table as UTF-8 (in Excel: Save As > "CSV UTF-8"; in a text editor: encoding UTF-8) and run again.';

/**
 * The text of a table file: UTF-8 with or without a byte-order mark, or UTF-16 with one.
 * Anything else is a UserError naming the line where the bytes stop being UTF-8.
 */
export function decodeTableText(bytes: Uint8Array, shown: string): string {
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) bytes = bytes.subarray(3);
  else if (bytes[0] === 0xff && bytes[1] === 0xfe) return new TextDecoder('utf-16le').decode(bytes.subarray(2));
  else if (bytes[0] === 0xfe && bytes[1] === 0xff) return new TextDecoder('utf-16be').decode(bytes.subarray(2));
  const zeros = bytes.subarray(0, 4096).filter((b) => b === 0).length;
  if (zeros > 0) {
    // ASCII text saved as UTF-16 has a zero byte beside every character.
    const guess = zeros * 4 >= Math.min(bytes.length, 4096) ? ' It looks like UTF-16 without a byte-order mark.' : '';
    throw new UserError(`${shown} is not a text table in UTF-8: it holds zero bytes.${guess} ${SAVE_AS_UTF8}`);
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    const line = firstBadUtf8Line(bytes);
    throw new UserError(
      `${shown} line ${line} is not valid UTF-8 (probably Latin-1 or Windows-1252, e.g. an accented name saved by an older spreadsheet). ${SAVE_AS_UTF8}`,
    );
  }
}

function firstBadUtf8Line(bytes: Uint8Array): number {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let start = 0;
  let line = 1;
  for (let i = 0; i <= bytes.length; i++) {
    if (i === bytes.length || bytes[i] === 0x0a) {
      try {
        decoder.decode(bytes.subarray(start, i));
      } catch {
        return line;
      }
      start = i + 1;
      line++;
    }
  }
  return line;
}

/** The format by the file's extension, then by its first line (JSON lines start with '{'; a header without commas but with tabs is TSV). */
export function detectTableFormat(file: string, text: string): TableFormat {
  const first = text.split(/\r\n|\n|\r/).find((l) => l.trim() !== '') ?? '';
  if (first.trimStart().startsWith('{')) return 'jsonl';
  const ext = file.toLowerCase().split('.').pop() ?? '';
  if (ext === 'jsonl' || ext === 'ndjson' || ext === 'json') return 'jsonl';
  const count = (c: string) => first.split(c).length - 1;
  if (ext === 'tsv' || ext === 'tab') return 'tsv';
  if (count(',') === 0 && count('\t') > 0) return 'tsv';
  // Spreadsheets in locales with a decimal comma write "CSV" with semicolons.
  if (count(',') === 0 && count(';') > 0) return 'ssv';
  return 'csv';
}

/** Parse a table's text: a header row and data rows (CSV/TSV, RFC 4180 quoting), or JSON lines. */
export function parseTableText(text: string, format: TableFormat, shown: string): ParsedTable {
  if (format === 'jsonl') return parseJsonLines(text, shown);
  const rows = parseDelimited(text, format === 'tsv' ? '\t' : format === 'ssv' ? ';' : ',', shown);
  if (rows.length === 0) throw new UserError(`${shown} is empty: expected a header row (e.g. id,label) and one row per image.`);
  const [header, ...data] = rows;
  const columns = header.fields.map((c) => c.trim());
  const seen = new Set<string>();
  for (const c of columns) {
    if (c !== '' && seen.has(c))
      throw new UserError(`${shown} line ${header.line}: the header names the column '${c}' twice. Give each column its own name.`);
    seen.add(c);
  }
  const records = data.map((r): TableRecord => {
    if (r.fields.length > columns.length) {
      throw new UserError(
        `${shown} line ${r.line} has ${r.fields.length} fields but the header (line ${header.line}) has ${columns.length}: ` +
          `put double quotes around values that contain the separator (e.g. "a, b"), or fix the row.`,
      );
    }
    return { line: r.line, cells: Object.fromEntries(columns.map((c, i) => [c, r.fields[i] ?? ''])) };
  });
  return { format, columns, headerLine: header.line, records };
}

/**
 * RFC 4180 fields: separated by `delim`, a record a line (CRLF, LF or CR); a field in
 * double quotes may hold the separator, line breaks and "" for a quote. Blank lines are
 * skipped. Each record keeps the line it starts on.
 */
function parseDelimited(text: string, delim: string, shown: string): Array<{ line: number; fields: string[] }> {
  const rows: Array<{ line: number; fields: string[] }> = [];
  let fields: string[] = [];
  let field = '';
  let line = 1;
  let rowLine = 1;
  let i = 0;
  const endField = () => {
    fields.push(field);
    field = '';
  };
  const endRow = () => {
    endField();
    if (!(fields.length === 1 && fields[0].trim() === '')) rows.push({ line: rowLine, fields });
    fields = [];
  };
  const n = text.length;
  while (i < n) {
    const c = text[i];
    if (c === '"' && field.trim() === '') {
      // A quoted field: up to the closing quote, "" standing for one quote.
      const opened = line;
      field = '';
      i++;
      for (;;) {
        if (i >= n)
          throw new UserError(
            `${shown} line ${opened}: a quoted field opened here is never closed. Close the quote, or write a quote inside a quoted field as "".`,
          );
        const q = text[i];
        if (q === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        if (q === '\r' || q === '\n') {
          if (q === '\r' && text[i + 1] === '\n') {
            field += '\r';
            i++;
          }
          line++;
        }
        field += text[i];
        i++;
      }
      // Only blanks may follow the closing quote before the separator or the line's end.
      while (i < n && (text[i] === ' ' || (text[i] === '\t' && delim !== '\t'))) i++;
      if (i < n && text[i] !== delim && text[i] !== '\r' && text[i] !== '\n') {
        throw new UserError(
          `${shown} line ${line}: text after a closing quote ("${field.slice(-10)}"${text
            .slice(i)
            .split(/[\r\n]/)[0]
            .slice(0, 10)}). Inside a quoted field write a quote as "".`,
        );
      }
      continue;
    }
    if (c === delim) {
      endField();
      i++;
    } else if (c === '\r' || c === '\n') {
      endRow();
      i += c === '\r' && text[i + 1] === '\n' ? 2 : 1;
      line++;
      rowLine = line;
    } else {
      field += c;
      i++;
    }
  }
  if (field !== '' || fields.length > 0) endRow();
  return rows;
}

function parseJsonLines(text: string, shown: string): ParsedTable {
  const columns: string[] = [];
  const records: TableRecord[] = [];
  text.split(/\r\n|\n|\r/).forEach((raw, i) => {
    if (raw.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (e) {
      throw new UserError(
        `${shown} line ${i + 1} is not valid JSON (${(e as Error).message}). A JSON-lines table has one object a line, e.g. {"file": "a.jpg", "label": "cat"}.`,
      );
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new UserError(`${shown} line ${i + 1} is not a JSON object. Write one object a line, e.g. {"file": "a.jpg", "label": "cat"}.`);
    }
    for (const k of Object.keys(value)) if (!columns.includes(k)) columns.push(k);
    records.push({ line: i + 1, cells: value as Record<string, unknown> });
  });
  if (records.length === 0)
    throw new UserError(`${shown} is empty: expected one JSON object a line, e.g. {"file": "a.jpg", "label": "cat"}.`);
  return { format: 'jsonl', columns, headerLine: 0, records };
}
