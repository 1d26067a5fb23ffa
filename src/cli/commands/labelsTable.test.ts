// Labels from a table through the command line: Kaggle's layout (one flat folder, a
// train.csv of `id,label` without extensions, an is_valid column) trains, evaluates and
// predicts exactly as the class-folder layout of the same photos; check-data --labels exits
// by severity; bad tables exit 2 naming the file, the line and the fix, on every command.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../../testing/images.js';
import { SHARED } from '../../testing/photos.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const cli = (...args: string[]) =>
  spawnSync(process.execPath, [path.join(repo, 'bin/tlkit.js'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, TLKIT_BACKEND: 'cpu' },
  });
const SHARED_CATS_DOGS = path.join(SHARED, 'data/cats_vs_dogs_small');
const SHARED_MOBILENET = path.join(SHARED, 'models/mobilenet_v1_1.0_224_imagenet_truncated');
const PER_CLASS = { train: 60, validation: 30, test: 30 };

let root = '';
let flat = '';
let folders = '';
let testFiles: string[] = [];

/** The same shared photos twice: one flat folder with train.csv and test.csv, and the book's class folders. */
before(() => {
  root = tempDir();
  flat = path.join(root, 'flat');
  folders = path.join(root, 'folders');
  fs.mkdirSync(flat);
  const trainRows = ['id,label,is_valid'];
  const testRows = ['id,label'];
  for (const [split, n] of Object.entries(PER_CLASS)) {
    for (const cls of ['cats', 'dogs']) {
      const from = path.join(SHARED_CATS_DOGS, split, cls);
      fs.mkdirSync(path.join(folders, split, cls), { recursive: true });
      for (const f of fs.readdirSync(from).sort().slice(0, n)) {
        fs.symlinkSync(path.join(from, f), path.join(flat, f));
        fs.symlinkSync(path.join(from, f), path.join(folders, split, cls, f));
        const id = path.parse(f).name; // cat.1: Kaggle's ids name no extension
        if (split === 'test') {
          testRows.push(`${id},${cls.slice(0, -1)}`);
          testFiles.push(f);
        } else trainRows.push(`${id},${cls.slice(0, -1)},${split === 'validation'}`);
      }
    }
  }
  // Rows in no particular order: the table's order does not matter.
  fs.writeFileSync(path.join(flat, 'train.csv'), `${[trainRows[0], ...trainRows.slice(1).reverse()].join('\r\n')}\r\n`);
  fs.writeFileSync(path.join(flat, 'test.csv'), `${testRows.join('\n')}\n`);
  testFiles = testFiles.sort();
});

// The runs and feature caches take a few megabytes.
after(() => fs.rmSync(root, { recursive: true, force: true }));

/** Every meta.json of a feature cache folder, by split. */
function cachedSplits(cache: string): Record<string, { files: string[] }> {
  const out: Record<string, { files: string[] }> = {};
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name === 'meta.json' && path.basename(d) !== d) out[path.basename(d)] = JSON.parse(fs.readFileSync(p, 'utf8'));
    }
  };
  walk(cache);
  return out;
}

test('Kaggle layout: train --labels, evaluate --labels and predict give what the class folders of the same photos give', () => {
  const common = ['--base', SHARED_MOBILENET, '--epochs', '5', '--image-size', '128', '--quiet'];
  const runTable = path.join(root, 'run-table');
  const runFolders = path.join(root, 'run-folders');
  const a = cli(
    'train',
    '--data',
    flat,
    '--labels',
    path.join(flat, 'train.csv'),
    '--out',
    runTable,
    '--cache-dir',
    path.join(root, 'cache-table'),
    ...common,
  );
  assert.equal(a.status, 0, a.stderr);
  const b = cli('train', '--data', folders, '--out', runFolders, '--cache-dir', path.join(root, 'cache-folders'), ...common);
  assert.equal(b.status, 0, b.stderr);

  // The same files in the same order, with the same labels, in each split of the feature cache.
  const ta = cachedSplits(path.join(root, 'cache-table'));
  const tb = cachedSplits(path.join(root, 'cache-folders'));
  for (const split of ['train', 'validation']) {
    assert.equal(ta[split].files.length, split === 'train' ? 120 : 60);
    assert.deepEqual(
      ta[split].files,
      tb[split].files.map((f) => path.basename(f)),
      `${split}: the table lists the files in the class-folder order`,
    );
  }
  // The same seed and order: the same training, epoch for epoch.
  const history = (run: string) => JSON.parse(fs.readFileSync(path.join(run, 'history.json'), 'utf8'));
  const ha = history(runTable);
  const hb = history(runFolders);
  assert.deepEqual(ha, hb);
  const meta = JSON.parse(fs.readFileSync(path.join(runTable, 'meta.json'), 'utf8'));
  assert.deepEqual(meta.classes, ['cat', 'dog']);

  const ea = cli('evaluate', '--model', runTable, '--data', flat, '--labels', path.join(flat, 'test.csv'), '--json');
  assert.equal(ea.status, 0, ea.stderr);
  const eb = cli('evaluate', '--model', runFolders, '--data', folders, '--json');
  assert.equal(eb.status, 0, eb.stderr);
  const ja = JSON.parse(ea.stdout);
  const jb = JSON.parse(eb.stdout);
  assert.equal(ja.n, 60);
  assert.equal(jb.n, 60);
  assert.ok(Math.abs(ja.accuracy - jb.accuracy) <= 0.005, `table ${ja.accuracy} vs folders ${jb.accuracy}`);
  assert.deepEqual(ja.confusion, jb.confusion);
  assert.ok(ja.accuracy > 0.75, `a real classifier: test accuracy ${ja.accuracy}`);

  const pa = cli('predict', '--model', runTable, ...testFiles.slice(0, 6).map((f) => path.join(flat, f)), '--json');
  assert.equal(pa.status, 0, pa.stderr);
  const pb = cli(
    'predict',
    '--model',
    runFolders,
    ...testFiles.slice(0, 6).map((f) => path.join(folders, 'test', `${f.split('.')[0]}s`, f)),
    '--json',
  );
  assert.equal(pb.status, 0, pb.stderr);
  const rows = (out: string) =>
    out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { file: string; label: string; probability: number });
  const ra = rows(pa.stdout);
  const rb = rows(pb.stdout);
  assert.equal(ra.length, 6);
  ra.forEach((r, i) => {
    assert.equal(path.basename(r.file), path.basename(rb[i].file));
    assert.equal(`${r.label}s`, rb[i].label);
    assert.ok(Math.abs(r.probability - rb[i].probability) < 1e-5, `${r.file}: ${r.probability} vs ${rb[i].probability}`);
  });
});

test('check-data --labels exits 2 on table errors (each named with its line), 0 on a clean table, 2 on warnings with --strict', () => {
  const clean = cli('check-data', flat, '--labels', path.join(flat, 'train.csv'), '--classes', 'cat,dog');
  // The test photos have no row in train.csv: one warning, no error.
  assert.equal(clean.status, 0, clean.stdout + clean.stderr);
  assert.match(clean.stdout, /warning \[not-in-table\] 60 images of .* have no row in .*train\.csv/);
  assert.match(clean.stdout, /train +60 +60 +120\n +validation +30 +30 +60/);
  assert.equal(cli('check-data', flat, '--labels', path.join(flat, 'train.csv'), '--strict').status, 2);
  const broken = path.join(root, 'broken.csv');
  fs.writeFileSync(broken, 'id,label\ncat.1,cat\ncat.1,cat\ncat.0,cat\ndog.1,\ndog.10,dog\n');
  const r = cli('check-data', flat, '--labels', broken, '--json');
  assert.equal(r.status, 2);
  const report = JSON.parse(r.stdout);
  const kinds = report.problems
    .filter((p: { severity: string }) => p.severity === 'error')
    .map((p: { kind: string; message: string }) => `${p.kind}: ${p.message}`);
  assert.equal(kinds.length, 3, kinds.join('\n'));
  assert.match(kinds.join('\n'), /duplicate-row: .*lines 2 and 3 both name cat\.1\.jpg/);
  assert.match(kinds.join('\n'), /missing-file: .*line 4: no file cat\.0\.\*/);
  assert.match(kinds.join('\n'), /empty-label: .*line 5: dog\.1 has an empty label/);
});

test('bad tables exit 2 on every command, naming the file, the line and the fix', () => {
  const table = (name: string, text: string | Buffer) => {
    const file = path.join(root, name);
    fs.writeFileSync(file, text);
    return file;
  };
  const out = path.join(root, 'never');
  const train = (labels: string, ...more: string[]) =>
    cli(
      'train',
      '--data',
      flat,
      '--labels',
      labels,
      '--base',
      SHARED_MOBILENET,
      '--out',
      out,
      '--cache-dir',
      path.join(root, 'c'),
      ...more,
    );
  const cases: Array<[string, ReturnType<typeof cli>, RegExp]> = [
    [
      'missing column',
      train(table('cols.csv', 'name,animal\ncat.1,cat\n')),
      /cols\.csv line 1 \(the header\) has no file column: its columns are 'name', 'animal'.*--file-column/,
    ],
    [
      'duplicate file',
      train(table('dup.csv', 'id,label,is_valid\ncat.1,cat,0\ndog.1,dog,0\ncat.1.jpg,dog,1\n')),
      /dup\.csv line 4 names cat\.1\.jpg, which line 2 names already\. Keep one row a file/,
    ],
    [
      'outside --data',
      train(table('up.csv', 'id,label\n../folders/train/cats/cat.1.jpg,cat\n')),
      /up\.csv line 2: '\.\.\/folders\/train\/cats\/cat\.1\.jpg' points outside the data folder/,
    ],
    [
      'Latin-1',
      train(table('latin1.csv', Buffer.concat([Buffer.from('id,label\ncat.1,cat\ndog.1,chien '), Buffer.from([0xe9]), Buffer.from('\n')]))),
      /latin1\.csv line 3 is not valid UTF-8 .*Save the table as UTF-8/,
    ],
    [
      '--threshold with one label a row',
      train(table('single.csv', 'id,label\ncat.1,cat\ndog.1,dog\n'), '--threshold', '0.4'),
      /--threshold sets the decision threshold of a multi-label run.*Add --multi-label/,
    ],
    [
      'no validation',
      train(table('noval.csv', 'id,label\ncat.1,cat\ndog.1,dog\n')),
      /noval\.csv has no validation column.*--valid-column.*--validation-split 0\.2/,
    ],
    [
      'extract',
      cli('extract', '--data', flat, '--labels', path.join(root, 'dup.csv'), '--base', SHARED_MOBILENET, '--out', out),
      /dup\.csv line 4 names cat\.1\.jpg/,
    ],
    [
      'evaluate',
      cli('evaluate', '--model', path.join(root, 'run-table'), '--data', flat, '--labels', path.join(root, 'up.csv')),
      /up\.csv line 2: .* points outside the data folder/,
    ],
    [
      'evaluate without --data',
      cli('evaluate', '--model', path.join(root, 'run-table'), '--labels', path.join(root, 'up.csv')),
      /--labels needs --data DIR/,
    ],
    ['check-data', cli('check-data', flat, '--labels', path.join(root, 'cols.csv')), /cols\.csv line 1 \(the header\) has no file column/],
    ['split', cli('split', flat, '--labels', path.join(root, 'latin1.csv'), '--out', out), /latin1\.csv line 3 is not valid UTF-8/],
    ['a column flag alone', cli('check-data', flat, '--file-column', 'id'), /--file-column applies to a labels table: add --labels FILE/],
  ];
  for (const [what, r, message] of cases) {
    assert.equal(r.status, 2, `${what}: ${r.stderr}`);
    assert.match(r.stderr, message, what);
    assert.doesNotMatch(r.stderr, /\n +at /, `${what}: no stack trace`);
  }
  assert.ok(!fs.existsSync(out), 'nothing was created');
});
