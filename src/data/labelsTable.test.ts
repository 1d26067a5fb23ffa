// Labels from a table: columns found by header or given, Kaggle's ids without extension,
// the validation column, several labels a cell, and the bad tables refused with their line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { throwsUserError } from '../testing/userError.js';
import { makeClassFolders, solid, tempDir, writeImage } from '../testing/images.js';
import { indexDirectory } from './datasetIndex.js';
import { imageDatasetFromDirectory } from './imageDataset.js';
import { readLabelsTable } from './labelsTable.js';
import { splitDataset } from './split.js';
import { imageDatasetOfSplit, resolveData } from './tableData.js';
import { resolveDataDir } from './splits.js';

/** A flat folder of tiny PNGs, named as given, and a table file beside them. */
async function flat(names: string[], table: string, tableName = 'labels.csv'): Promise<{ dir: string; table: string }> {
  const dir = tempDir();
  for (const [i, n] of names.entries()) await writeImage(path.join(dir, n), solid(8, 8, [i * 20, 0, 0]), 8, 8);
  fs.writeFileSync(path.join(dir, tableName), table);
  return { dir, table: path.join(dir, tableName) };
}

test('columns by their usual names, in any case; an id without extension matches the image (Kaggle)', async () => {
  const { dir, table } = await flat(['a1.png', 'sub/b2.jpg'], 'Image_Name,Category\na1,cat\nsub/b2.jpg,dog\n');
  const t = readLabelsTable(dir, { labels: table });
  assert.deepEqual(t.columns, { file: 'Image_Name', label: 'Category' });
  assert.deepEqual(
    t.rows.map((r) => [r.line, path.relative(dir, r.file!), r.labels]),
    [
      [2, 'a1.png', ['cat']],
      [3, 'sub/b2.jpg', ['dog']],
    ],
  );
  assert.equal(t.format, 'csv');
  assert.match(t.sha256, /^[0-9a-f]{64}$/);
  assert.deepEqual(t.labelNames, ['cat', 'dog']);
  assert.equal(t.multiLabel, false);
});

test('given columns win; the table is found relative to the data folder too; the validation column takes true/false/1/0/yes/no', async () => {
  const { dir } = await flat(
    ['x.png', 'y.png', 'z.png', 'w.png'],
    'pic\tlabel\tanimal\tholdout\nx\tq\tcat\tyes\ny\tq\tdog\tNo\nz\tq\tcat\t0\nw\tq\tdog\tTRUE\n',
    't.tsv',
  );
  const t = readLabelsTable(dir, { labels: 't.tsv', fileColumn: 'pic', labelColumn: 'animal', validColumn: 'holdout' });
  assert.equal(t.format, 'tsv');
  assert.deepEqual(t.columns, { file: 'pic', label: 'animal', valid: 'holdout' });
  assert.deepEqual(
    t.rows.map((r) => [r.labels[0], r.valid]),
    [
      ['cat', true],
      ['dog', false],
      ['cat', false],
      ['dog', true],
    ],
  );
});

test('several labels a cell with labelDelim, or a JSON array; is_valid is picked up by its name', async () => {
  const { dir, table } = await flat(['a.png', 'b.png'], 'image_name,tags,is_valid\na,cat dog  cat,false\nb,dog,true\n');
  const t = readLabelsTable(dir, { labels: table, labelDelim: ' ' });
  assert.deepEqual(
    t.rows.map((r) => r.labels),
    [['cat', 'dog'], ['dog']],
    'split, trimmed, each label once',
  );
  assert.equal(t.multiLabel, true);
  assert.equal(t.columns.valid, 'is_valid');
  fs.writeFileSync(path.join(dir, 't.jsonl'), '{"file":"a.png","labels":["x","y"]}\n{"file":"b.png","labels":"y"}\n');
  const j = readLabelsTable(dir, { labels: path.join(dir, 't.jsonl') });
  assert.deepEqual(
    j.rows.map((r) => r.labels),
    [['x', 'y'], ['y']],
  );
  // Without a delimiter a cell is one label, spaces and all.
  assert.deepEqual(readLabelsTable(dir, { labels: table }).rows[0].labels, ['cat dog  cat']);
});

test('rows naming no image are kept with the reason; images without a row are listed', async () => {
  const { dir, table } = await flat(['a.png', 'b.png', 'notes.txt.png'], 'file,label\na,cat\nmissing.jpg,dog\n,dog\n');
  fs.writeFileSync(path.join(dir, 'readme.txt'), 'hi');
  fs.appendFileSync(table, 'readme.txt,cat\n');
  const t = readLabelsTable(dir, { labels: table });
  assert.deepEqual(
    t.rows.map((r) => r.missing),
    [undefined, `no file missing.jpg in ${dir}`, 'its file cell is empty', 'readme.txt is not an image file tlkit reads (.txt)'],
  );
  assert.deepEqual(t.unlisted.map((f) => path.basename(f)).sort(), ['b.png', 'notes.txt.png']);
});

test('bad tables: missing column (with the columns it has), absolute paths, paths outside the data folder, ambiguous ids, bad booleans', async () => {
  const { dir, table } = await flat(['a.png', 'a.jpg', 'b.png'], 'name,kind\na.png,cat\n');
  throwsUserError(
    () => readLabelsTable(dir, { labels: table }),
    /labels\.csv line 1 \(the header\) has no file column: its columns are 'name', 'kind', none of them a usual name .* Pass the column's name as --file-column/,
  );
  throwsUserError(
    () => readLabelsTable(dir, { labels: table, fileColumn: 'name' }),
    /has no label column: its columns are 'name', 'kind'.*--label-column/,
  );
  throwsUserError(
    () => readLabelsTable(dir, { labels: table, fileColumn: 'name', labelColumn: 'klass' }),
    /has no column 'klass' \(--label-column\); its columns are 'name', 'kind'/,
  );
  const write = (text: string) => {
    fs.writeFileSync(table, text);
    return () => readLabelsTable(dir, { labels: table });
  };
  throwsUserError(
    write('file,label\nb.png,cat\n/etc/passwd.png,dog\n'),
    /labels\.csv line 3: '\/etc\/passwd\.png' is an absolute path; the file column holds paths relative to the data folder/,
  );
  throwsUserError(write('file,label\n..\\up.png,dog\n'), /labels\.csv line 2: '\.\.\\up\.png' points outside the data folder/);
  throwsUserError(write('file,label\nsub/../../x.jpg,dog\n'), /line 2: 'sub\/\.\.\/\.\.\/x\.jpg' points outside the data folder/);
  throwsUserError(
    write('file,label\na,dog\n'),
    /labels\.csv line 2: 'a' matches 2 images \(a\.jpg, a\.png\)\. Write the file name with its extension/,
  );
  throwsUserError(
    write('file,label,is_valid\nb.png,dog,maybe\n'),
    /labels\.csv line 2: 'maybe' in the validation column 'is_valid' is not true or false/,
  );
  throwsUserError(() => readLabelsTable(dir, { labels: 'nope.csv' }), /The labels table nope\.csv does not exist/);
});

test('a single-label table lists its images as the class-folder layout of the same images does: same classes, files, labels and batches', async () => {
  const folders = tempDir();
  await makeClassFolders(folders, { cats: 5, dogs: 4, birds: 3 });
  // The same images in one flat folder, named <class>_<file>, the table's rows shuffled.
  const root = tempDir();
  const rows: string[] = [];
  for (const c of ['dogs', 'birds', 'cats']) {
    for (const f of fs.readdirSync(path.join(folders, c))) {
      fs.copyFileSync(path.join(folders, c, f), path.join(root, `${c}_${f}`));
      rows.push(`${c}_${path.parse(f).name},${c}`);
    }
  }
  rows.reverse();
  fs.writeFileSync(path.join(root, 'train.csv'), `id,label\n${rows.join('\n')}\n`);
  const data = resolveData(root, { labels: path.join(root, 'train.csv') });
  const indexed = indexDirectory(folders);
  assert.equal(data.layout, 'table');
  assert.deepEqual(data.classNames, indexed.classNames);
  assert.deepEqual(data.splits, { train: root });
  const list = data.table!.splits.train;
  assert.deepEqual(
    list.files.map((f) => path.basename(f)),
    indexed.files.map((f) => `${path.basename(path.dirname(f))}_${path.basename(f)}`),
  );
  assert.deepEqual([...list.labels], [...indexed.labels]);
  // The same seeded shuffle: batch for batch, the same pixels and labels.
  const opts = { labelMode: 'int' as const, batchSize: 4, imageSize: [8, 8] as [number, number], shuffle: true, seed: 7 };
  const fromTable = await imageDatasetOfSplit(data, 'train', opts);
  const fromFolders = await imageDatasetOfSplit(resolveDataDir(folders), 'train', opts);
  const direct = await imageDatasetFromDirectory(folders, opts);
  for (let epoch = 0; epoch < 2; epoch++) {
    const a = [];
    for await (const b of fromTable.batches()) a.push(b);
    const b2 = [];
    for await (const b of fromFolders.batches()) b2.push(b);
    const c = [];
    for await (const b of direct.batches()) c.push(b);
    assert.equal(a.length, 3);
    for (let i = 0; i < a.length; i++) {
      assert.deepEqual(a[i].images, b2[i].images, `epoch ${epoch} batch ${i}`);
      assert.deepEqual(a[i].labels, b2[i].labels);
      assert.deepEqual(b2[i].labels, c[i].labels);
    }
  }
});

test('training refuses what it cannot use, each with its line: no file, a file twice, an empty label, one class, no validation rows', async () => {
  const { dir, table } = await flat(['a.png', 'b.png', 'c.png'], '');
  const write = (text: string, extra = {}) => {
    fs.writeFileSync(table, text);
    return () => resolveData(dir, { labels: table, ...extra });
  };
  throwsUserError(
    write('file,label\na,cat\nzz,dog\n'),
    /labels\.csv: 1 row names no image \(line 3: no file zz\.\* in .*\)\. Fix the table, or see every problem at once with `tlkit check-data .* --labels .*labels\.csv`/,
  );
  throwsUserError(
    write('file,label\na,cat\nb,dog\na.png,dog\n'),
    /labels\.csv line 4 names a\.png, which line 2 names already\. Keep one row a file/,
  );
  throwsUserError(write('file,label\na,cat\nb, \n'), /labels\.csv: 1 row has an empty label \(line 3: b\)/);
  throwsUserError(write('file,label\na,cat\nb,cat\n'), /gives every row the label 'cat'; a classifier needs at least 2 classes/);
  throwsUserError(write('file,label,is_valid\na,cat,0\nb,dog,0\n'), /the validation column 'is_valid' marks no row true/);
  throwsUserError(write('file,label,is_valid\na,cat,0\nb,dog,1\n'), /the class 'dog' appears only in validation rows/);
  const ok = write('file,label,is_valid\na,cat,0\nb,dog,0\nc,dog,1\n')();
  assert.deepEqual(ok.splits, { train: dir, validation: dir });
  assert.deepEqual(ok.table!.splits.validation!.files, [path.join(dir, 'c.png')]);
  assert.deepEqual([...ok.table!.splits.validation!.labels], [1]);
});

test('split --labels: the book layout from a flat folder and its table', async () => {
  const names = Array.from({ length: 10 }, (_, i) => `img${i}.png`);
  const { dir, table } = await flat(
    names,
    `id,label\n${names.map((n, i) => `${path.parse(n).name},${i % 2 ? 'dog' : 'cat'}`).join('\n')}\n`,
  );
  const out = path.join(tempDir(), 'split');
  const r = splitDataset(dir, { out, table: { labels: table }, validation: 1, test: 1, seed: 3 });
  assert.deepEqual(r.classNames, ['cat', 'dog']);
  assert.deepEqual(r.counts, { train: { cat: 3, dog: 3 }, validation: { cat: 1, dog: 1 }, test: { cat: 1, dog: 1 } });
  const catFiles = ['train', 'validation', 'test'].flatMap((s) => fs.readdirSync(path.join(out, s, 'cat')));
  assert.deepEqual(catFiles.sort(), ['img0.png', 'img2.png', 'img4.png', 'img6.png', 'img8.png']);
  throwsUserError(
    () => splitDataset(dir, { out: path.join(tempDir(), 'x'), table: { labels: table }, labelFromName: '^(img)' }),
    /--labels and --label-from-name both give the classes/,
  );
});

test('a table with several labels in a row is multi-label: sorted union of labels, multi-hot rows; multiLabel makes one label a row multi-hot too', async () => {
  const { dir, table } = await flat(['a.png', 'b.png', 'c.png', 'd.png'], '');
  fs.writeFileSync(table, 'file,tags,is_valid\na,dog cat,0\nb,dog,0\nc,bird,0\nd,cat bird,1\n');
  const data = resolveData(dir, { labels: table, labelDelim: ' ' });
  assert.equal(data.multiLabel, true);
  assert.deepEqual(data.classNames, ['bird', 'cat', 'dog']);
  const train = data.table!.splits.train;
  // Ordered by first class, then walk order: c (bird), a (cat dog), b (dog).
  assert.deepEqual(
    train.files.map((f) => path.basename(f)),
    ['c.png', 'a.png', 'b.png'],
  );
  assert.deepEqual([...train.multiHot!], [1, 0, 0, 0, 1, 1, 0, 0, 1]);
  assert.deepEqual([...data.table!.splits.validation!.multiHot!], [1, 1, 0]);
  const dataset = await imageDatasetOfSplit(data, 'train', { labelMode: 'multi_hot', batchSize: 3, imageSize: 4, shuffle: false });
  for await (const b of dataset.batches()) {
    assert.deepEqual(b.labelShape, [3, 3]);
    assert.deepEqual([...b.labels], [1, 0, 0, 0, 1, 1, 0, 0, 1]);
  }
  // The same table with one label a row: single-label, unless multiLabel asks.
  fs.writeFileSync(table, 'file,tags,is_valid\na,dog,0\nb,cat,0\nc,cat,1\n');
  assert.equal(resolveData(dir, { labels: table }).multiLabel, undefined);
  const forced = resolveData(dir, { labels: table }, true);
  assert.equal(forced.multiLabel, true);
  assert.deepEqual([...forced.table!.splits.train.multiHot!], [1, 0, 0, 1]);
});
