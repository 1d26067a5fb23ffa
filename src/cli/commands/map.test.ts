import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { catsDogsSubset, SHARED_CATS_DOGS, SHARED_MOBILENET } from '../../testing/catsDogsSubset.js';
import { makeTinyRun } from '../../testing/tinyRun.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

function tlkit(args: string[]) {
  return spawnSync(process.execPath, [path.join(repoRoot, 'bin/tlkit.js'), ...args], { encoding: 'utf8', cwd: repoRoot });
}

/** map.json's points without the run's duration. */
const pointsOf = (file: string) => JSON.parse(fs.readFileSync(file, 'utf8')).points as Array<Record<string, unknown>>;

test('tlkit map --data --base: extracts once, writes map.json and the plots, prints the outliers; the same seed, the same map', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-cli-map-'));
  const data = catsDogsSubset(path.join(root, 'data'), { train: 15, validation: 10 });
  const cats = fs.readdirSync(path.join(SHARED_CATS_DOGS, 'train/cats')).sort();
  fs.symlinkSync(path.join(SHARED_CATS_DOGS, 'train/cats', cats[cats.length - 1]), path.join(data, 'train/dogs/dog.planted.jpg'));
  const common = ['--data', data, '--base', SHARED_MOBILENET, '--image-size', '128', '--cache-dir', path.join(root, 'cache')];
  const first = tlkit(['map', ...common, '--neighbors', '8', '--out', path.join(root, 'one'), '--json']);
  assert.equal(first.status, 0, first.stderr);
  const r = JSON.parse(first.stdout);
  assert.equal(r.images, 51);
  assert.deepEqual(r.splits, ['train', 'validation']);
  assert.equal(r.outliers.length, 10);
  assert.equal(r.outliers[0].file, path.join(data, 'train/dogs/dog.planted.jpg'));
  assert.deepEqual([r.outliers[0].label, r.outliers[0].looksLike], ['dogs', 'cats']);
  for (const f of Object.values(r.files) as string[]) assert.ok(fs.statSync(f).size > 0, f);
  assert.equal(pointsOf(r.files.json).length, 51);

  // Another process, the same seed: the features come from the cache, the map is the same.
  const second = tlkit(['map', ...common, '--neighbors', '8', '--out', path.join(root, 'two'), '--top', '3']);
  assert.equal(second.status, 0, second.stderr);
  assert.doesNotMatch(second.stderr, /extract/);
  assert.match(second.stdout, /Map of 51 images \(train 31, validation 20\)/);
  assert.match(second.stdout, /Top outliers/);
  assert.match(second.stdout, /1\. 1\.00 +\S+dog\.planted\.jpg +label dogs, looks like cats/);
  assert.equal(second.stdout.match(/^ +\d\. /gm)?.length, 3);
  assert.deepEqual(pointsOf(path.join(root, 'two/map.json')), pointsOf(r.files.json));
  // Another seed moves the points.
  const third = tlkit(['map', ...common, '--neighbors', '8', '--seed', '9', '--out', path.join(root, 'three'), '--json']);
  assert.equal(third.status, 0, third.stderr);
  assert.notDeepEqual(pointsOf(path.join(root, 'three/map.json')), pointsOf(r.files.json));
});

test('tlkit map RUN and tlkit map FEATURES: the run finds its data, base and feature cache', async () => {
  const { run } = await makeTinyRun(1);
  const out = path.join(path.dirname(run), 'map');
  const r = tlkit(['map', run, '--out', out, '--neighbors', '5', '--epochs', '50', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const result = JSON.parse(r.stdout);
  // The tiny dataset's three splits, 16 + 8 + 8 images a class.
  assert.equal(result.images, 64);
  assert.deepEqual(result.splits, ['train', 'validation', 'test']);
  const cache = path.join(path.dirname(run), 'cache');
  const [folder] = fs.readdirSync(cache).filter((f) => fs.existsSync(path.join(cache, f, 'manifest.json')));
  const direct = tlkit(['map', path.join(cache, folder), '--splits', 'validation', '--neighbors', '5', '--out', out, '--json']);
  assert.equal(direct.status, 0, direct.stderr);
  assert.equal(JSON.parse(direct.stdout).images, 16);
});

test('tlkit map: bad input exits 2 with a one-paragraph message', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-cli-map-bad-'));
  const cases: Array<[string[], RegExp]> = [
    [['map'], /Name the features to map/],
    [['map', root], /is neither a feature folder \(manifest\.json.*nor a run folder/],
    [['map', '--data', path.join(root, 'nope'), '--base', SHARED_MOBILENET], /nope/],
    [['map', root, '--metric', 'manhattan'], /--metric must be cosine or euclidean, got 'manhattan'/],
    [['map', root, '--min-dist', '3'], /--min-dist must be a number in \[0, 1\], got '3'/],
  ];
  fs.writeFileSync(path.join(root, 'file'), '');
  cases.push([['map', '--data', root, '--base', SHARED_MOBILENET, '--out', path.join(root, 'file')], /--out/]);
  fs.mkdirSync(path.join(root, 'features'));
  fs.writeFileSync(path.join(root, 'features', 'manifest.json'), '{"format":"tlkit-features","splits":{}}');
  cases.push([
    ['map', path.join(root, 'features'), '--base', 'vgg16'],
    /is a feature folder, which fixes the data and the base; drop --base/,
  ]);
  cases.push([['map', path.join(root, 'features')], /holds no images|has no/]);
  for (const [args, message] of cases) {
    const r = tlkit(args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /^tlkit: /);
    assert.match(r.stderr, message, args.join(' '));
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  }
});
