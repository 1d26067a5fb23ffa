// evaluate and predict on photos as users have them: AppleDouble files, unreadable
// files (--skip-bad-images), a symlink loop, an EXIF-rotated photo (--exif).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { makeTinyRun } from '../../testing/tinyRun.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const cli = (...args: string[]) =>
  spawnSync(process.execPath, [path.join(repo, 'bin/tlkit.js'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, TLKIT_BACKEND: 'cpu' },
  });
const APPLE_DOUBLE = Buffer.concat([
  Buffer.from([0x00, 0x05, 0x16, 0x07, 0x00, 0x02, 0x00, 0x00]),
  Buffer.from('Mac OS X        '),
  Buffer.alloc(2000, 0x41),
]);

let data = '';
let run = '';
before(async () => {
  ({ data, run } = await makeTinyRun());
  for (const c of ['cats', 'dogs']) fs.writeFileSync(path.join(data, 'test', c, `._${c}.0.png`), APPLE_DOUBLE);
});

test('evaluate skips AppleDouble ._ files; an unreadable image stops it, unless --skip-bad-images leaves it out', () => {
  const clean = cli('evaluate', '--model', run, '--data', data, '--json');
  assert.equal(clean.status, 0, clean.stderr);
  assert.equal(JSON.parse(clean.stdout).n, 16, 'the ._ files are not images');

  const withBad = path.join(path.dirname(data), 'data-bad');
  fs.cpSync(data, withBad, { recursive: true });
  fs.writeFileSync(path.join(withBad, 'test', 'cats', 'cats.99.png'), 'not a png at all');
  const stopped = cli('evaluate', '--model', run, '--data', withBad, '--json');
  assert.equal(stopped.status, 2);
  assert.match(stopped.stderr, /cats\.99\.png/);
  assert.match(stopped.stderr, /--skip-bad-images/);
  const skipped = cli('evaluate', '--model', run, '--data', withBad, '--json', '--skip-bad-images');
  assert.equal(skipped.status, 0, skipped.stderr);
  assert.equal(JSON.parse(skipped.stdout).n, 16);
  assert.match(skipped.stderr, /warning: skipping .*cats\.99\.png/);
  assert.match(skipped.stderr, /1 unreadable image left out; evaluated 16/);
});

test('predict: a folder with a symlink loop is searched once; --skip-bad-images keeps the other predictions of a batch', () => {
  const dogs = path.join(data, 'test', 'dogs');
  const loop = path.join(dogs, 'again');
  fs.symlinkSync('..', loop);
  try {
    const plain = cli('predict', '--model', run, dogs, '--json');
    assert.equal(plain.status, 0, plain.stderr);
    assert.equal(plain.stdout.trim().split('\n').length, 8, 'the 8 dogs; the symlinked folder is not followed');
    // Followed: again/ leads to test/, whose cats/ is new and whose dogs/ is the loop, read once.
    const followed = cli('predict', '--model', run, dogs, '--json', '--follow-links');
    assert.equal(followed.status, 0, followed.stderr);
    const files = followed.stdout
      .trim()
      .split('\n')
      .map((l) => path.relative(dogs, JSON.parse(l).file));
    assert.equal(files.length, 16);
    assert.equal(new Set(files.map((f) => path.basename(f))).size, 16, 'each image once');
  } finally {
    fs.unlinkSync(loop);
  }
  const bad = path.join(path.dirname(data), 'broken.jpg');
  fs.writeFileSync(bad, 'not really a jpeg');
  const good = [path.join(data, 'test', 'cats', 'cats.0.png'), path.join(data, 'test', 'dogs', 'dogs.0.png')];
  const stopped = cli('predict', '--model', run, good[0], bad, good[1], '--json');
  assert.equal(stopped.status, 2);
  assert.match(stopped.stderr, /broken\.jpg/);
  const r = cli('predict', '--model', run, good[0], bad, good[1], '--json', '--skip-bad-images');
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(
    r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).file),
    good,
  );
  assert.match(r.stderr, /warning: skipping .*broken\.jpg/);
  assert.match(r.stderr, /1 of 3 images skipped/);
});

test('predict applies EXIF orientation by default; --exif ignore reads the stored pixels, as Keras', async () => {
  // Red on the left, blue on the right, stored with orientation 6 (shown turned 90 degrees).
  const w = 32;
  const h = 16;
  const px = Buffer.alloc(w * h * 3);
  for (let i = 0; i < w * h; i++) {
    const left = i % w < w / 2;
    px.set(left ? [230, 20, 20] : [20, 20, 230], i * 3);
  }
  const photo = path.join(path.dirname(data), 'phone.jpg');
  await sharp(px, { raw: { width: w, height: h, channels: 3 } })
    .jpeg({ quality: 100 })
    .withMetadata({ orientation: 6 })
    .toFile(photo);
  // References without an orientation tag, as lossless PNGs: the photo as shown (libvips
  // turns it by its tag) and as stored.
  const shown = path.join(path.dirname(data), 'phone-shown.png');
  const stored = path.join(path.dirname(data), 'phone-stored.png');
  await sharp(photo).rotate().png().toFile(shown);
  await sharp(photo).png().toFile(stored);
  assert.deepEqual([(await sharp(shown).metadata()).width, (await sharp(stored).metadata()).width], [h, w]);
  /** P(dogs) of the photo, the shown and the stored reference, in one predict call. */
  const p = (...extra: string[]) => {
    const r = cli(...extra, 'predict', '--model', run, photo, shown, stored, '--json');
    assert.equal(r.status, 0, r.stderr);
    return r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).probabilities.find((x: { label: string }) => x.label === 'dogs').probability as number);
  };
  const close = (a: number, b: number) => Math.abs(a - b) <= 1e-6;
  const [applied, shownP, storedP] = p();
  assert.ok(
    !close(shownP, storedP),
    `the turned and the stored pixels classify differently (${shownP} vs ${storedP}), so this test can tell them apart`,
  );
  assert.ok(close(applied, shownP), `by default the photo is read as shown: ${applied} vs ${shownP} (stored: ${storedP})`);
  const [ignored, shownI, storedI] = p('--exif', 'ignore');
  assert.ok(close(ignored, storedI), `--exif ignore reads the stored pixels: ${ignored} vs ${storedI} (shown: ${shownI})`);
  assert.ok(close(shownI, shownP) && close(storedI, storedP), 'files without a tag read the same either way');
  const bad = cli('predict', '--model', run, photo, '--exif', 'sideways');
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--exif must be 'apply' or 'ignore', got 'sideways'/);
});
