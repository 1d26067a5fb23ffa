// The labels-table reader's text layer: RFC 4180 quoting, BOMs, line endings, TSV,
// semicolons, JSON lines, and the encodings it refuses with the line and the fix.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { throwsUserError } from '../testing/userError.js';
import { decodeTableText, detectTableFormat, parseTableText } from './tableText.js';

const csv = (text: string) => parseTableText(text, 'csv', 't.csv');

test('CSV: quoted fields keep commas, doubled quotes and line breaks; each row keeps the line it starts on', () => {
  const t = csv('file,label\r\n"a, b.jpg","say ""hi"""\r\nc.jpg,"two\r\nlines"\r\n\r\nd.jpg,x\r\n');
  assert.deepEqual(t.columns, ['file', 'label']);
  assert.equal(t.headerLine, 1);
  assert.deepEqual(
    t.records.map((r) => [r.line, r.cells.file, r.cells.label]),
    [
      [2, 'a, b.jpg', 'say "hi"'],
      [3, 'c.jpg', 'two\r\nlines'],
      [6, 'd.jpg', 'x'],
    ],
  );
});

test('CSV: LF, CR and CRLF endings alike, a last line without a newline, empty fields, blank lines skipped', () => {
  for (const eol of ['\n', '\r', '\r\n']) {
    const t = csv(['id,label,is_valid', 'a,cat,', '', 'b,,1'].join(eol));
    assert.deepEqual(
      t.records.map((r) => [r.line, r.cells.id, r.cells.label, r.cells.is_valid]),
      [
        [2, 'a', 'cat', ''],
        [4, 'b', '', '1'],
      ],
      JSON.stringify(eol),
    );
  }
});

test('a UTF-8 BOM is dropped (Excel writes one); UTF-16 with a BOM is decoded', () => {
  const body = 'id,label\nnaïve,chat\n';
  const withBom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(body)]);
  assert.equal(decodeTableText(withBom, 't.csv'), body);
  assert.deepEqual(csv(decodeTableText(withBom, 't.csv')).columns, ['id', 'label'], 'the first column is id, not \\ufeffid');
  const le = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(body, 'utf16le')]);
  assert.equal(decodeTableText(le, 't.csv'), body);
  const be = Buffer.from(le);
  be.swap16();
  assert.equal(decodeTableText(be, 't.csv'), body);
});

test('invalid UTF-8 names its line; UTF-16 without a BOM is recognised; both say to save as UTF-8', () => {
  const latin1 = Buffer.concat([Buffer.from('id,label\na,cat\n'), Buffer.from([0x63, 0x61, 0x66, 0xe9]), Buffer.from(',dog\n')]);
  throwsUserError(() => decodeTableText(latin1, 'train.csv'), /train\.csv line 3 is not valid UTF-8.*Save the table as UTF-8/);
  const utf16 = Buffer.from('id,label\na,cat\n', 'utf16le');
  throwsUserError(() => decodeTableText(utf16, 'train.csv'), /train\.csv .*UTF-16 without a byte-order mark.*Save the table as UTF-8/);
});

test('TSV and semicolon tables by extension or by their header; JSON lines by content', () => {
  assert.equal(detectTableFormat('x.tsv', 'a,b\tc'), 'tsv');
  assert.equal(detectTableFormat('x.csv', 'id\tlabel\n'), 'tsv');
  assert.equal(detectTableFormat('x.txt', 'id;label\n'), 'ssv');
  assert.equal(detectTableFormat('x.csv', 'id,label\n'), 'csv');
  assert.equal(detectTableFormat('x.csv', '\n{"id": 1}\n'), 'jsonl');
  assert.equal(detectTableFormat('x.jsonl', ''), 'jsonl');
  const tsv = parseTableText('file\tlabel\n"a\tb.jpg"\tcat, dog\n', 'tsv', 't.tsv');
  assert.deepEqual(tsv.records[0].cells, { file: 'a\tb.jpg', label: 'cat, dog' });
  const ssv = parseTableText('file;label\na.jpg;"x;y"\n', 'ssv', 't.csv');
  assert.deepEqual(ssv.records[0].cells, { file: 'a.jpg', label: 'x;y' });
});

test('JSON lines: one object a line, keys in first-seen order, arrays kept; a bad line is named', () => {
  const t = parseTableText(
    '{"file": "a.jpg", "tags": ["x", "y"]}\n\n{"file": "b.jpg", "tags": "z", "is_valid": true}\n',
    'jsonl',
    't.jsonl',
  );
  assert.deepEqual(t.columns, ['file', 'tags', 'is_valid']);
  assert.deepEqual(
    t.records.map((r) => [r.line, r.cells.tags]),
    [
      [1, ['x', 'y']],
      [3, 'z'],
    ],
  );
  throwsUserError(() => parseTableText('{"file": "a.jpg"}\n{"file": b.jpg}\n', 'jsonl', 't.jsonl'), /t\.jsonl line 2 is not valid JSON/);
  throwsUserError(() => parseTableText('["a.jpg", "cat"]\n', 'jsonl', 't.jsonl'), /t\.jsonl line 1 is not a JSON object/);
});

test('broken quoting and ragged rows are named by line with the fix', () => {
  throwsUserError(() => csv('id,label\na,"cat\nb,dog\n'), /t\.csv line 2: a quoted field opened here is never closed/);
  throwsUserError(() => csv('id,label\n"a"x,cat\n'), /t\.csv line 2: text after a closing quote/);
  throwsUserError(() => csv('id,label\na,cat,dog\n'), /t\.csv line 2 has 3 fields but the header \(line 1\) has 2: put double quotes/);
  throwsUserError(() => csv('id,id\na,b\n'), /t\.csv line 1: the header names the column 'id' twice/);
  throwsUserError(() => csv('\n\n'), /t\.csv is empty/);
});
