import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { splitDataset } from './split.js';
import { resolveDataDir, listImageFiles } from './splits.js';
import { isUserError } from '../errors.js';
import { solid, tempDir, writeImage } from '../testing/images.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const cli = (...args: string[]) => spawnSync(process.execPath, [path.join(repo, 'bin/tlkit.js'), ...args], { encoding: 'utf8' });

/** Kaggle's train.zip, unzipped: one flat folder of cat.N.jpg and dog.N.jpg (plus a macOS ._ file). */
async function kaggleFlat(n: number): Promise<string> {
  const dir = path.join(tempDir(), 'train');
  for (let i = 0; i < n; i++) {
    await writeImage(path.join(dir, `cat.${i}.png`), solid(8, 8, [200, i, 0]), 8, 8);
    await writeImage(path.join(dir, `dog.${i}.png`), solid(8, 8, [0, i, 200]), 8, 8);
  }
  fs.writeFileSync(path.join(dir, '._cat.0.png'), 'AppleDouble');
  return dir;
}

/** Class folders: a/ with 10 images (one in a sub-folder), b/ with 20. */
async function classFolders(): Promise<string> {
  const dir = path.join(tempDir(), 'photos');
  for (let i = 0; i < 9; i++) await writeImage(path.join(dir, 'a', `${i}.png`), solid(8, 8, [i, 1, 1]), 8, 8);
  await writeImage(path.join(dir, 'a', 'old', '0.png'), solid(8, 8, [99, 1, 1]), 8, 8);
  for (let i = 0; i < 20; i++) await writeImage(path.join(dir, 'b', `${i}.png`), solid(8, 8, [i, 2, 2]), 8, 8);
  return dir;
}

/** Every file of a tree with its bytes and mtime, to show the source is untouched. */
function snapshot(dir: string): string {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else
        out.push(
          `${path.relative(dir, p)} ${fs.statSync(p).size} ${fs.statSync(p).mtimeMs} ${fs.readFileSync(p).toString('base64').slice(0, 40)}`,
        );
    }
  };
  walk(dir);
  return out.join('\n');
}

const names = (dir: string) =>
  listImageFiles(dir)
    .map((f) => path.basename(f))
    .sort();

test('split: a flat Kaggle folder with --label-from-name and counts per class, like the book (train/validation/test)', async () => {
  const src = await kaggleFlat(12);
  const before = snapshot(src);
  const out = path.join(path.dirname(src), 'cats_vs_dogs_small');
  const r = splitDataset(src, { out, labelFromName: '^(cat|dog)\\.', train: 6, validation: 3, test: 2 });
  assert.deepEqual(r.classNames, ['cat', 'dog']);
  assert.deepEqual(r.counts, { train: { cat: 6, dog: 6 }, validation: { cat: 3, dog: 3 }, test: { cat: 2, dog: 2 } });
  assert.equal(r.unused, 2);
  const layout = resolveDataDir(out);
  assert.equal(layout.layout, 'splits');
  assert.deepEqual(layout.classNames, ['cat', 'dog']);
  const all = ['train', 'validation', 'test'].flatMap((s) =>
    ['cat', 'dog'].flatMap((c) => names(path.join(out, s, c)).map((n) => `${c}:${n}`)),
  );
  assert.equal(new Set(all).size, 22, 'no image in two splits');
  assert.ok(
    all.every((x) => x.startsWith(x.split(':')[1].split('.')[0])),
    'each file in its own class',
  );
  assert.equal(snapshot(src), before, 'the source is untouched');
});

test('split: class folders and fractions (validation 0.2, test 0.1, train the rest); default amounts', async () => {
  const src = await classFolders();
  const out = path.join(path.dirname(src), 'data');
  const r = splitDataset(src, { out, validation: 0.2, test: 0.1 });
  assert.deepEqual(r.counts, { train: { a: 7, b: 14 }, validation: { a: 2, b: 4 }, test: { a: 1, b: 2 } });
  assert.equal(r.unused, 0);
  const every = ['train', 'validation', 'test'].flatMap((s) => names(path.join(out, s, 'a')));
  assert.equal(every.length, 10);
  assert.ok(every.includes('old__0.png'), 'a file in a sub-folder keeps its path in its name');
  const d = splitDataset(src, { out: path.join(path.dirname(src), 'defaults') });
  assert.deepEqual(
    d.counts,
    { train: { a: 8, b: 16 }, validation: { a: 1, b: 2 }, test: { a: 1, b: 2 } },
    'default: 0.1 validation, 0.1 test, the rest train',
  );
});

test('split: the same seed gives the same split, another seed another; growing train keeps validation and test', async () => {
  const src = await classFolders();
  const base = path.dirname(src);
  const run = (name: string, seed: number, train?: number) => {
    const out = path.join(base, name);
    splitDataset(src, { out, seed, validation: 3, test: 3, train });
    return ['train', 'validation', 'test'].map((s) => names(path.join(out, s, 'b')).join(','));
  };
  const a = run('s1', 1);
  assert.deepEqual(run('s1-again', 1), a);
  assert.notDeepEqual(run('s2', 2), a);
  const smaller = run('s1-small', 1, 4);
  assert.deepEqual(smaller.slice(1), a.slice(1), 'validation and test do not depend on --train');
  assert.equal(smaller[0].split(',').length, 4);
});

test('split: symlinks and hard links point at the source files', async () => {
  const src = await classFolders();
  const sym = path.join(path.dirname(src), 'sym');
  splitDataset(src, { out: sym, link: 'symlink', validation: 0.5 });
  const one = listImageFiles(path.join(sym, 'train', 'b'))[0];
  assert.ok(fs.lstatSync(one).isSymbolicLink());
  assert.ok(fs.realpathSync(one).startsWith(fs.realpathSync(src)));
  const hard = path.join(path.dirname(src), 'hard');
  splitDataset(src, { out: hard, link: 'hardlink', validation: 0.5 });
  const h = listImageFiles(path.join(hard, 'train', 'b'))[0];
  assert.equal(fs.statSync(h).nlink, 2);
});

test('split refuses: --out inside the source, an existing non-empty --out, too many images asked, a pattern that misses files', async () => {
  const src = await classFolders();
  const refuse = (opts: Parameters<typeof splitDataset>[1], re: RegExp) =>
    assert.throws(
      () => splitDataset(src, opts),
      (e: unknown) => isUserError(e) && re.test((e as Error).message),
    );
  refuse({ out: path.join(src, 'split') }, /lies inside the source folder/);
  refuse({ out: src }, /lies inside the source folder/);
  refuse({ out: path.join(src, 'a', 'deeper', 'x') }, /lies inside the source folder/);
  const taken = path.join(path.dirname(src), 'taken');
  fs.mkdirSync(taken);
  fs.writeFileSync(path.join(taken, 'keep.txt'), 'mine');
  refuse({ out: taken }, /already exists and is not empty; tlkit split never overwrites/);
  assert.equal(fs.readFileSync(path.join(taken, 'keep.txt'), 'utf8'), 'mine');
  refuse({ out: path.join(path.dirname(src), 'big'), train: 15, validation: 5 }, /Class 'a' has 10 images, fewer than the 20 asked for/);
  assert.ok(!fs.existsSync(path.join(path.dirname(src), 'big')), 'nothing written when refused');
  refuse({ out: path.join(path.dirname(src), 'x'), labelFromName: '^(cat|dog)\\.' }, /0 of|do not match --label-from-name/);
  // One class is refused from class folders as it is from a flat folder: a classifier needs two.
  const lone = path.join(tempDir(), 'lone');
  for (let i = 0; i < 3; i++) await writeImage(path.join(lone, 'cats', `${i}.png`), solid(8, 8, [i, 1, 1]), 8, 8);
  assert.throws(
    () => splitDataset(lone, { out: path.join(path.dirname(lone), 'lone-split') }),
    (e: unknown) => isUserError(e) && /one class folder \('cats'\); a classifier needs at least 2 classes/.test((e as Error).message),
  );
  assert.ok(!fs.existsSync(path.join(path.dirname(lone), 'lone-split')));
  const flatLone = path.join(tempDir(), 'flat');
  for (let i = 0; i < 3; i++) await writeImage(path.join(flatLone, `cat.${i}.png`), solid(8, 8, [i, 1, 1]), 8, 8);
  assert.throws(
    () => splitDataset(flatLone, { out: path.join(path.dirname(flatLone), 'flat-split'), labelFromName: '^(cat|dog)\\.' }),
    (e: unknown) => isUserError(e) && /a classifier needs at least 2 classes/.test((e as Error).message),
  );
  assert.ok(!fs.readdirSync(src).some((n) => n !== 'a' && n !== 'b'), 'nothing written into the source');
});

test('tlkit split: the command prints the table, exits 2 with one paragraph on bad input', async () => {
  const src = await kaggleFlat(5);
  const out = path.join(path.dirname(src), 'data');
  const r = cli(
    'split',
    src,
    '--out',
    out,
    '--label-from-name',
    '^(cat|dog)\\.',
    '--train',
    '3',
    '--validation',
    '0.2',
    '--test',
    '1',
    '--seed',
    '7',
  );
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /wrote .*data \(seed 7, copies\)/);
  assert.match(r.stdout, /train\s+3\s+3\s+6/);
  assert.match(r.stdout, /validation\s+1\s+1\s+2/);
  assert.deepEqual(resolveDataDir(out).classNames, ['cat', 'dog']);
  const inside = cli('split', src, '--out', path.join(src, 'out'), '--label-from-name', '^(cat|dog)\\.');
  assert.equal(inside.status, 2);
  assert.match(inside.stderr, /^tlkit: --out .* lies inside the source folder/);
  assert.doesNotMatch(inside.stderr, /\n\s+at /);
  const noPattern = cli('split', src, '--out', path.join(path.dirname(src), 'y'));
  assert.equal(noPattern.status, 2);
  assert.match(noPattern.stderr, /no class folders.*--label-from-name/);
  const badLink = cli('split', src, '--out', path.join(path.dirname(src), 'z'), '--link', 'move');
  assert.equal(badLink.status, 2);
  assert.match(badLink.stderr, /--link must be one of symlink, hardlink, copy, got 'move'/);
  const badAmount = cli('split', src, '--out', path.join(path.dirname(src), 'w'), '--train', '2.5', '--label-from-name', '^(cat|dog)');
  assert.equal(badAmount.status, 2);
  assert.match(badAmount.stderr, /--train must be a whole count/);
});
