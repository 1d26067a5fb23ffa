import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { checkDataset, formatCheckReport, type CheckReport } from './checkData.js';
import { solid, tempDir, writeImage } from '../testing/images.js';

const repo = path.resolve(import.meta.dirname, '../..');
const shared = path.resolve(repo, '../shared');
const catsDogs = path.join(shared, 'data/cats_vs_dogs_small');

/** A small copy of the shared dataset: real JPEGs, 3/2/2 per class. */
function smallCopy(): string {
  const root = tempDir();
  const n: Record<string, number> = { train: 3, validation: 2, test: 2 };
  for (const split of Object.keys(n)) {
    for (const cls of ['cats', 'dogs']) {
      const src = path.join(catsDogs, split, cls);
      const dst = path.join(root, split, cls);
      fs.mkdirSync(dst, { recursive: true });
      for (const f of fs.readdirSync(src).sort().slice(0, n[split])) fs.copyFileSync(path.join(src, f), path.join(dst, f));
    }
  }
  return root;
}

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [path.join(repo, 'bin/tlkit.js'), ...args], { cwd: repo });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

const kinds = (r: CheckReport) => r.problems.map((p) => `${p.kind} ${p.files.join(' ')}`);

test('a clean dataset: counts per split and class, no problems, exit 0', async () => {
  const root = smallCopy();
  const r = await checkDataset(root);
  assert.equal(r.layout, 'splits');
  assert.deepEqual(r.classNames, ['cats', 'dogs']);
  assert.deepEqual(
    r.splits.map((s) => [s.split, s.counts.cats, s.counts.dogs, s.total]),
    [
      ['train', 3, 3, 6],
      ['validation', 2, 2, 4],
      ['test', 2, 2, 4],
    ],
  );
  assert.deepEqual(r.problems, []);
  assert.ok(r.ok);
  const run = await cli('check-data', root);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /14 images in 2 classes/);
  assert.match(run.stdout, /No problems found/);
});

test('names all four: a corrupt file, a zero-byte file, a text file named .jpg, a duplicate across splits; exit 2', async () => {
  const root = smallCopy();
  const trainCats = path.join(root, 'train/cats');
  const [first, second] = fs.readdirSync(trainCats).sort();
  const bytes = fs.readFileSync(path.join(trainCats, second));
  fs.writeFileSync(path.join(trainCats, second), bytes.subarray(0, Math.floor(bytes.length * 0.6))); // truncated JPEG
  fs.writeFileSync(path.join(root, 'train/dogs/empty.jpg'), '');
  fs.writeFileSync(path.join(root, 'validation/dogs/readme.jpg'), 'These are photos of dogs.\n');
  fs.copyFileSync(path.join(trainCats, first), path.join(root, 'test/cats/leaked.jpg'));

  const r = await checkDataset(root);
  assert.equal(r.ok, false);
  assert.deepEqual(kinds(r).sort(), [
    `corrupt ${path.join('train/cats', second)}`,
    `duplicate ${path.join('test/cats/leaked.jpg')} ${path.join('train/cats', first)}`,
    'empty-file train/dogs/empty.jpg',
    'not-an-image validation/dogs/readme.jpg',
  ]);
  assert.match(r.problems.find((p) => p.kind === 'not-an-image')!.message, /looks like a text file/);
  assert.match(r.problems.find((p) => p.kind === 'corrupt')!.message, /truncated|premature/i);
  assert.ok(
    r.problems.every((p) => p.severity === 'error'),
    'each would stop or mislead training',
  );
  assert.deepEqual([r.errors, r.warnings], [4, 0]);

  const run = await cli('check-data', root, '--json');
  assert.equal(run.code, 2);
  const json = JSON.parse(run.stdout) as CheckReport;
  assert.equal(json.problems.length, 4);
  const text = await cli('check-data', root);
  assert.equal(text.code, 2);
  for (const f of [second, 'empty.jpg', 'readme.jpg', 'leaked.jpg']) assert.ok(text.stdout.includes(f), `${f} in:\n${text.stdout}`);
});

test('wrong extension, tiny images, imbalance, missing and empty classes, ignored files', async () => {
  const root = tempDir();
  for (let i = 0; i < 7; i++) await writeImage(path.join(root, 'train/a', `${i}.png`), solid(40, 40, [i, 0, 0]), 40, 40);
  await writeImage(path.join(root, 'train/b/0.png'), solid(40, 40, [0, 9, 0]), 40, 40);
  await writeImage(path.join(root, 'train/b/png-named.jpg'), solid(40, 40, [0, 8, 0]), 40, 40); // writeImage writes JPEG for .jpg
  await writeImage(path.join(root, 'train/b/tmp.png'), solid(40, 40, [0, 7, 0]), 40, 40);
  fs.renameSync(path.join(root, 'train/b/tmp.png'), path.join(root, 'train/b/really-png.jpg'));
  await writeImage(path.join(root, 'train/b/tiny.png'), solid(20, 50, [0, 6, 0]), 20, 50);
  fs.writeFileSync(path.join(root, 'train/b/notes.txt'), 'hello');
  await writeImage(path.join(root, 'validation/a/0.png'), solid(40, 40, [1, 1, 1]), 40, 40);
  fs.mkdirSync(path.join(root, 'validation/c'));

  const r = await checkDataset(root);
  const got = kinds(r);
  assert.ok(got.includes('wrong-extension train/b/really-png.jpg'), got.join('\n'));
  assert.ok(!got.some((k) => k.includes('png-named.jpg')), 'a real JPEG named .jpg is fine');
  assert.ok(got.includes('tiny train/b/tiny.png'));
  assert.ok(got.includes('ignored-file train/b/notes.txt'));
  assert.ok(got.includes('empty-class validation/c/'));
  assert.ok(got.includes('missing-class validation/b/'));
  assert.ok(got.includes('missing-class train/c/'));
  assert.ok(got.includes('imbalance '), 'train has 7 a vs 4 b');
  assert.match(r.problems.find((p) => p.kind === 'imbalance')!.message, /train\/ is imbalanced: 'a' has 7 images, 'b' only 4/);
  assert.match(formatCheckReport(r), /warning +\[wrong-extension\] train\/b\/really-png\.jpg is a PNG image named \.jpg/);
  // Training refuses empty and missing classes; it copes with the rest.
  const severities = Object.fromEntries(r.problems.map((p) => [p.kind, p.severity]));
  assert.deepEqual(severities, {
    'empty-class': 'error',
    'missing-class': 'error',
    'wrong-extension': 'warning',
    tiny: 'warning',
    'ignored-file': 'warning',
    imbalance: 'warning',
  });
  assert.deepEqual([r.errors, r.warnings], [3, 4]);
  assert.deepEqual(
    r.problems.map((p) => p.severity),
    [...Array(3).fill('error'), ...Array(4).fill('warning')],
    'errors first',
  );
  assert.match(formatCheckReport(r), /\n3 errors, 4 warnings$/);
  // Class folders directly under the checked folder work too.
  const flat = await checkDataset(path.join(root, 'train'));
  assert.equal(flat.layout, 'classes');
  assert.deepEqual(flat.splits[0].counts, { a: 7, b: 4 });
});

test('the shared cats_vs_dogs_small: 2,000 / 1,000 / 1,000 images in 2 classes and no problems', async () => {
  // Every image read and decoded exactly once, with progress to the end (observed, not timed).
  const progress: Array<[number, number]> = [];
  const r = await checkDataset(catsDogs, { onProgress: (done, total) => progress.push([done, total]) });
  assert.deepEqual(
    progress,
    Array.from({ length: 4000 }, (_, i) => [i + 1, 4000]),
  );
  assert.deepEqual(r.classNames, ['cats', 'dogs']);
  assert.deepEqual(
    r.splits.map((s) => [s.split, s.total, s.counts.cats, s.counts.dogs]),
    [
      ['train', 2000, 1000, 1000],
      ['validation', 1000, 500, 500],
      ['test', 1000, 500, 500],
    ],
  );
  assert.deepEqual(r.problems, []);
});

test('check-data on a missing folder exits 2 with a one-paragraph message', async () => {
  const run = await cli('check-data', path.join(tempDir(), 'nope'));
  assert.equal(run.code, 2);
  assert.match(run.stderr, /^tlkit: The data folder .*nope does not exist/);
  assert.doesNotMatch(run.stderr, /at .*\.ts:\d+/);
});

test('one class is an error finding (train refuses it), in the book layout and in class folders; exit 2', async () => {
  const root = tempDir();
  for (const [s, split] of ['train', 'validation'].entries())
    for (let i = 0; i < 2; i++) await writeImage(path.join(root, split, 'cats', `${i}.png`), solid(40, 40, [i, 10 * s, 0]), 40, 40);
  const r = await checkDataset(root);
  assert.deepEqual(kinds(r), ['one-class ']);
  assert.equal(r.errors, 1);
  assert.match(r.problems[0].message, /only one class, 'cats' \(in train\/, validation\/\): a classifier needs at least 2 classes/);
  assert.doesNotMatch(formatCheckReport(r), /No problems found/);
  const flat = await checkDataset(path.join(root, 'train'));
  assert.deepEqual(kinds(flat), ['one-class ']);
  const run = await cli('check-data', root);
  assert.equal(run.code, 2, run.stdout);
  assert.match(run.stdout, /error +\[one-class\]/);
});
