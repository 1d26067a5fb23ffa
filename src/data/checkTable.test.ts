// check-data over a table: every planted problem named with its line and its severity,
// the label counts per split, and the image checks of class folders on the table's files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { solid, tempDir, writeImage } from '../testing/images.js';
import { MOSAIC_CLASSES, MOSAIC_DELIM, makeMosaics } from '../testing/mosaics.js';
import { checkDataset, formatCheckReport } from './checkData.js';

async function plantedDataset(): Promise<{ dir: string; table: string }> {
  const dir = tempDir();
  for (let i = 0; i < 6; i++) {
    await writeImage(path.join(dir, `cat.${i}.jpg`), solid(40, 40, [200, i * 10, 0]), 40, 40);
    await writeImage(path.join(dir, `dog.${i}.jpg`), solid(40, 40, [0, i * 10, 200]), 40, 40);
  }
  fs.writeFileSync(path.join(dir, 'bird.0.jpg'), 'not a jpeg'); // named by the table: a corrupt image
  const lines = [
    'id,label,is_valid',
    'cat.0,cat,0', // 2
    'cat.1,cat,0',
    'cat.2,cat,0',
    'cat.3,cat,1', // 5
    'dog.0,dog,0',
    'dog.1,dog,0',
    'dog.2,dog,0',
    'dog.3,dog,1',
    'dog.4,dgo,1', // 10: a typo, used once
    'cat.77,cat,0', // 11: no such file
    'dog.1,dog,1', // 12: dog.1 again
    'cat.4,,0', // 13: empty label
    'bird.0,bird,0', // 14: corrupt, and bird is used once
  ];
  // cat.5 and dog.5 have no row.
  fs.writeFileSync(path.join(dir, 'train.csv'), `${lines.join('\n')}\n`);
  return { dir, table: path.join(dir, 'train.csv') };
}

test('check-data --labels names each planted problem with its line and severity', async () => {
  const { dir, table } = await plantedDataset();
  const r = await checkDataset(dir, { table: { labels: table }, classes: ['bird', 'cat', 'dog'] });
  assert.equal(r.layout, 'table');
  assert.equal(r.table, table);
  const find = (kind: string) => r.problems.filter((p) => p.kind === kind);
  const one = (kind: string, message: RegExp, severity: 'error' | 'warning') => {
    const found = find(kind);
    assert.equal(found.length, 1, `${kind}: ${JSON.stringify(r.problems)}`);
    assert.match(found[0].message, message);
    assert.equal(found[0].severity, severity);
  };
  one('missing-file', /train\.csv line 11: no file cat\.77\.\* in /, 'error');
  one('duplicate-row', /train\.csv lines 7 and 12 both name dog\.1\.jpg: keep one row a file/, 'error');
  one('empty-label', /train\.csv line 13: cat\.4 has an empty label/, 'error');
  one('unknown-label', /train\.csv line 10: the label 'dgo' is not one of the classes \(bird, cat, dog\)/, 'error');
  one('not-in-table', /2 images of .* have no row in .*train\.csv and are left out of training: cat\.5\.jpg, dog\.5\.jpg/, 'warning');
  one('not-an-image', /bird\.0\.jpg is not an image .*\(.*train\.csv line 14\)$/, 'error');
  const rare = find('rare-label');
  assert.deepEqual(
    rare.map((p) => p.message.match(/line (\d+): the label '(\w+)' is used once/)?.slice(1)),
    [
      ['14', 'bird'],
      ['10', 'dgo'],
    ],
  );
  assert.deepEqual(new Set(rare.map((p) => p.files[0])), new Set(['bird.0', 'dog.4']));
  assert.ok(rare.every((p) => p.severity === 'warning'));
  // Label counts per split: the validation column's rows apart (the duplicate row counted where it sits).
  assert.deepEqual(
    r.splits.map((s) => [s.split, s.counts, s.total]),
    [
      ['train', { bird: 1, cat: 4, dgo: 0, dog: 3 }, 9],
      ['validation', { bird: 0, cat: 1, dgo: 1, dog: 2 }, 4],
    ],
  );
  assert.ok(r.errors >= 5 && !r.ok);
  const text = formatCheckReport(r);
  assert.match(text, /13 rows of .*train\.csv with 4 labels \(bird, cat, dgo, dog\)/);
  assert.match(text, /error +\[missing-file\] .*line 11/);
});

test('a clean table: no findings; without --classes no label is unknown', async () => {
  const dir = tempDir();
  for (let i = 0; i < 4; i++) await writeImage(path.join(dir, `p${i}.png`), solid(40, 40, [i * 60, 0, 0]), 40, 40);
  fs.writeFileSync(path.join(dir, 't.csv'), 'file,tags\np0.png,a\np1.png,a\np2.png,b\np3.png,b\n');
  const clean = await checkDataset(dir, { table: { labels: path.join(dir, 't.csv') } });
  assert.deepEqual(clean.problems, []);
  assert.deepEqual(clean.splits, [{ split: '.', counts: { a: 2, b: 2 }, total: 4 }]);
  assert.equal(clean.multiLabelRows, undefined);
});

test('a multi-label table is no problem: label counts per split, the rows with several labels, labels no validation row has', async () => {
  const dir = tempDir();
  for (let i = 0; i < 8; i++) await writeImage(path.join(dir, `p${i}.png`), solid(40, 40, [i * 30, 0, 0]), 40, 40);
  const table = path.join(dir, 't.csv');
  // a on 6 rows, b on 2: an imbalance a single-label table is warned of.
  fs.writeFileSync(table, 'file,tags\np0.png,a b\np1.png,a\np2.png,a\np3.png,b a\np4.png,a\np5.png,a\n');
  const multi = await checkDataset(dir, { table: { labels: table, labelDelim: ' ' } });
  assert.deepEqual(
    multi.problems.map((p) => p.kind),
    ['not-in-table'],
    JSON.stringify(multi.problems),
  );
  assert.equal(multi.errors, 0);
  assert.equal(multi.multiLabelRows, 2);
  assert.deepEqual(multi.splits, [{ split: '.', counts: { a: 6, b: 2 }, total: 6 }]);
  const text = formatCheckReport(multi);
  assert.match(text, /6 rows of .*t\.csv with 2 labels \(a, b\)\n {2}multi-label: 2 of the rows have several labels/);
  assert.match(text, /\. +6 +2 +6\n/);
  // The same counts with one label a row: imbalance is a finding there.
  fs.writeFileSync(table, 'file,tags\np0.png,b\np1.png,a\np2.png,a\np3.png,b\np4.png,a\np5.png,a\np6.png,a\np7.png,a\n');
  const single = await checkDataset(dir, { table: { labels: table } });
  assert.deepEqual(
    single.problems.map((p) => p.kind),
    ['imbalance'],
  );

  // With a validation column: per-split counts, and a label no validation row has is named.
  fs.writeFileSync(
    table,
    'file,tags,is_valid\np0.png,a b,0\np1.png,a c,0\np2.png,c,0\np3.png,b,1\np4.png,a,1\np5.png,a c,0\np6.png,b,0\np7.png,a b,1\n',
  );
  const split = await checkDataset(dir, { table: { labels: table, labelDelim: ' ' } });
  assert.deepEqual(
    split.splits.map((s) => [s.split, s.counts, s.total]),
    [
      ['train', { a: 3, b: 2, c: 3 }, 5],
      ['validation', { a: 2, b: 2, c: 0 }, 3],
    ],
  );
  assert.equal(split.multiLabelRows, 4);
  assert.deepEqual(
    split.problems.map((p) => [p.kind, p.severity]),
    [['unvalidated-label', 'warning']],
  );
  assert.match(
    split.problems[0].message,
    /no validation row has the label 'c' \(lines 3, 4, 7\): its threshold stays 0\.5 .*mark some of its rows true in 'is_valid'/,
  );
});

test("check-data on the mosaic set: its label counts per split are the set's own", async () => {
  const set = await makeMosaics({ out: path.join(tempDir(), 'mosaics'), count: { train: 9, validation: 6, test: 6 }, size: 40, seed: 2 });
  const r = await checkDataset(set.dir, { table: { labels: set.labels, labelDelim: MOSAIC_DELIM }, classes: [...MOSAIC_CLASSES] });
  // The test mosaics are in test.csv, not in labels.csv.
  assert.deepEqual(
    r.problems.map((p) => [p.kind, p.files.length]),
    [['not-in-table', 6]],
  );
  const expected = (split: string) => {
    const ms = set.mosaics.filter((m) => m.split === split);
    return [split, Object.fromEntries(MOSAIC_CLASSES.map((c) => [c, ms.filter((m) => m.labels.includes(c)).length])), ms.length];
  };
  assert.deepEqual(
    r.splits.map((s) => [s.split, s.counts, s.total]),
    [expected('train'), expected('validation')],
  );
  assert.equal(r.multiLabelRows, set.mosaics.filter((m) => m.split !== 'test' && m.labels.length > 1).length);
});
