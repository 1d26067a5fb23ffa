// check-data over a table: every planted problem named with its line and its severity,
// the label counts per split, and the image checks of class folders on the table's files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { solid, tempDir, writeImage } from '../testing/images.js';
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

test('a clean table: no findings; without --classes no label is unknown; multi-label rows are a warning', async () => {
  const dir = tempDir();
  for (let i = 0; i < 4; i++) await writeImage(path.join(dir, `p${i}.png`), solid(40, 40, [i * 60, 0, 0]), 40, 40);
  fs.writeFileSync(path.join(dir, 't.csv'), 'file,tags\np0.png,a\np1.png,a\np2.png,b\np3.png,b\n');
  const clean = await checkDataset(dir, { table: { labels: path.join(dir, 't.csv') } });
  assert.deepEqual(clean.problems, []);
  assert.deepEqual(clean.splits, [{ split: '.', counts: { a: 2, b: 2 }, total: 4 }]);
  fs.writeFileSync(path.join(dir, 't.csv'), 'file,tags\np0.png,a b\np1.png,a\np2.png,b\np3.png,b a\n');
  const multi = await checkDataset(dir, { table: { labels: path.join(dir, 't.csv'), labelDelim: ' ' } });
  assert.deepEqual(
    multi.problems.map((p) => [p.kind, p.severity]),
    [['multi-label', 'warning']],
  );
  assert.match(multi.problems[0].message, /lines 2 and 5: 2 rows have several labels; multi-label training is not supported yet/);
  assert.deepEqual(multi.splits[0].counts, { a: 3, b: 3 });
});
