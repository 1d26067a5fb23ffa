// Photos as users have them: macOS AppleDouble files, symlinks (loops, symlinked
// folders), files whose name lies about their format, CMYK JPEGs, EXIF-rotated phone
// photos. Every file is written by the test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { checkDataset, formatCheckReport } from './checkData.js';
import { collectImageFiles } from './collect.js';
import { BadImageError, decodeImage, decodeRgb, getExifDefault, setExifDefault, sniffImageType } from './decode.js';
import { imageDatasetFromDirectory } from './imageDataset.js';
import { listImageFiles, resolveDataDir } from './splits.js';
import { isUserError } from '../errors.js';
import { solid, tempDir, writeImage } from '../testing/images.js';
import { assertWorstError, maxAbsError } from '../testing/numerics.js';

/** What macOS writes beside each file on a FAT/exFAT/network volume: AppleDouble magic, then resource-fork junk. */
const APPLE_DOUBLE = Buffer.concat([
  Buffer.from([0x00, 0x05, 0x16, 0x07, 0x00, 0x02, 0x00, 0x00]),
  Buffer.from('Mac OS X        '),
  Buffer.alloc(4000, 0x41),
]);

/** A W x H RGB image with distinct pixels, so flips and turns show. */
function ramp(w: number, h: number): Uint8Array {
  return Uint8Array.from({ length: w * h * 3 }, (_, i) => (i * 53 + Math.floor(i / 3) * 7) % 256);
}

test('AppleDouble ._ files and other hidden files are skipped by the dataset, the layout checks and predict, and listed by check-data', async () => {
  const root = tempDir();
  for (const split of ['train', 'validation']) {
    for (const c of ['cats', 'dogs']) {
      await writeImage(path.join(root, split, c, `${c}.1.png`), solid(40, 40, [c === 'cats' ? 200 : 10, 50, 50]), 40, 40);
      fs.writeFileSync(path.join(root, split, c, `._${c}.1.png`), APPLE_DOUBLE);
    }
  }
  fs.writeFileSync(path.join(root, 'train', '.DS_Store'), 'junk');
  assert.deepEqual(
    listImageFiles(path.join(root, 'train', 'cats')).map((f) => path.basename(f)),
    ['cats.1.png'],
  );
  const ds = await imageDatasetFromDirectory(path.join(root, 'train'), { imageSize: [8, 8], shuffle: false });
  assert.deepEqual(
    ds.files.map((f) => path.basename(f)),
    ['cats.1.png', 'dogs.1.png'],
  );
  for await (const b of ds.batches()) assert.equal(b.shape[0], 2, 'no decode error from the AppleDouble files');
  assert.deepEqual(resolveDataDir(root).classNames, ['cats', 'dogs']);
  assert.deepEqual(
    collectImageFiles([path.join(root, 'train')]).map((f) => path.basename(f)),
    ['cats.1.png', 'dogs.1.png'],
  );

  const report = await checkDataset(root);
  const hidden = report.problems.find((p) => p.kind === 'hidden-file');
  assert.ok(hidden, formatCheckReport(report));
  assert.deepEqual(hidden.files, [
    path.join('train', '.DS_Store'),
    path.join('train', 'cats', '._cats.1.png'),
    path.join('train', 'dogs', '._dogs.1.png'),
    path.join('validation', 'cats', '._cats.1.png'),
    path.join('validation', 'dogs', '._dogs.1.png'),
  ]);
  assert.match(formatCheckReport(report), /\[hidden-file\] 5 hidden files skipped by every tlkit command .*train\/cats\/\._cats\.1\.png/);
  assert.ok(!report.problems.some((p) => p.kind === 'corrupt'), 'the AppleDouble files are not decoded');
});

test("a symlink loop: listing and predict's folder search end (each image once) instead of failing with ELOOP", async () => {
  const root = tempDir();
  const photos = path.join(root, 'photos');
  await writeImage(path.join(photos, 'a.png'), solid(8, 8, [1, 2, 3]), 8, 8);
  await writeImage(path.join(photos, 'sub', 'b.png'), solid(8, 8, [4, 5, 6]), 8, 8);
  fs.symlinkSync('..', path.join(photos, 'sub', 'up')); // sub/up -> photos: a loop
  fs.symlinkSync('self', path.join(photos, 'self')); // points at itself: ELOOP on stat
  const names = (files: string[]) => files.map((f) => path.relative(photos, f));
  assert.deepEqual(names(collectImageFiles([photos])), ['a.png', path.join('sub', 'b.png')]);
  assert.deepEqual(names(collectImageFiles([photos], { followLinks: true })), ['a.png', path.join('sub', 'b.png')]);
  assert.throws(
    () => collectImageFiles([path.join(photos, 'self')]),
    (e: unknown) => isUserError(e) && /symlink loop/.test((e as Error).message),
  );
});

test('a symlinked folder inside a class folder is not followed by default (Keras follow_links=False), is with followLinks, and check-data reports it', async () => {
  const root = tempDir();
  const data = path.join(root, 'data');
  await writeImage(path.join(data, 'cats', 'c0.png'), solid(40, 40, [200, 0, 0]), 40, 40);
  await writeImage(path.join(data, 'dogs', 'd0.png'), solid(40, 40, [0, 0, 200]), 40, 40);
  await writeImage(path.join(root, 'more-cats', 'c1.png'), solid(40, 40, [190, 0, 0]), 40, 40);
  fs.symlinkSync(path.join(root, 'more-cats'), path.join(data, 'cats', 'more'));
  const plain = await imageDatasetFromDirectory(data, { imageSize: [4, 4], shuffle: false });
  assert.deepEqual(
    plain.files.map((f) => path.relative(data, f)),
    [path.join('cats', 'c0.png'), path.join('dogs', 'd0.png')],
  );
  const followed = await imageDatasetFromDirectory(data, { imageSize: [4, 4], shuffle: false, followLinks: true });
  assert.deepEqual(
    followed.files.map((f) => path.relative(data, f)),
    [path.join('cats', 'c0.png'), path.join('cats', 'more', 'c1.png'), path.join('dogs', 'd0.png')],
  );
  assert.deepEqual(Array.from(followed.labels), [0, 0, 1]);

  // A symlinked CLASS folder is a class in Keras too (os.path.isdir follows links): read, and reported.
  fs.symlinkSync(path.join(root, 'more-cats'), path.join(data, 'lions'));
  const withLink = await imageDatasetFromDirectory(data, { imageSize: [4, 4], shuffle: false });
  assert.deepEqual(withLink.classNames, ['cats', 'dogs', 'lions']);
  const report = await checkDataset(data);
  const links = report.problems.filter((p) => p.kind === 'symlink').map((p) => p.message);
  assert.equal(links.length, 2, links.join('\n'));
  assert.match(
    links.join('\n'),
    /cats\/more\/ is a symlinked folder inside a class folder: its images are not read \(Keras's follow_links=False\)/,
  );
  assert.match(links.join('\n'), /lions\/ is a symlink to .*more-cats: it is read as the class 'lions' \(as Keras does\)/);
});

test('decode by content: a WebP named .png, a TIFF and an AVIF are read; check-data names the mismatch; truly unreadable files name the format seen', async () => {
  const dir = tempDir();
  const px = ramp(10, 6);
  const raw = () => sharp(Buffer.from(px), { raw: { width: 10, height: 6, channels: 3 } });
  fs.mkdirSync(path.join(dir, 'data', 'cats'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'data', 'dogs'), { recursive: true });
  const webpAsPng = path.join(dir, 'data', 'cats', 'kitten.png');
  fs.writeFileSync(webpAsPng, await raw().webp({ lossless: true }).toBuffer());
  const tiffAsJpg = path.join(dir, 'data', 'dogs', 'scan.jpg');
  fs.writeFileSync(tiffAsJpg, await raw().tiff({ compression: 'lzw' }).toBuffer());
  const avif = path.join(dir, 'photo.avif');
  fs.writeFileSync(avif, await raw().avif({ lossless: true }).toBuffer());
  assert.equal(sniffImageType(fs.readFileSync(webpAsPng)), 'webp');
  assert.equal(sniffImageType(fs.readFileSync(tiffAsJpg)), 'tiff');
  assert.equal(sniffImageType(fs.readFileSync(avif)), 'avif');
  for (const f of [webpAsPng, tiffAsJpg]) assert.deepEqual(Array.from((await decodeRgb(f)).data), Array.from(px), path.basename(f));
  const a = await decodeRgb(avif);
  assert.deepEqual([a.width, a.height], [10, 6]);
  const ds = await imageDatasetFromDirectory(path.join(dir, 'data'), { imageSize: [6, 10], shuffle: false, batchSize: 4 });
  for await (const b of ds.batches()) assert.equal(b.shape[0], 2);

  const report = await checkDataset(path.join(dir, 'data'), { minSize: 1 });
  const wrong = report.problems.filter((p) => p.kind === 'wrong-extension').map((p) => p.message);
  assert.deepEqual(wrong, [
    `${path.join('cats', 'kitten.png')} is a WebP image named .png; tlkit reads it by its content, but Keras (tf.io.decode_image) cannot read WebP: convert it to PNG or JPEG for Keras parity`,
    `${path.join('dogs', 'scan.jpg')} is a TIFF image named .jpg; tlkit reads it by its content, but Keras (tf.io.decode_image) cannot read TIFF: convert it to PNG or JPEG for Keras parity`,
  ]);

  const heic = path.join(dir, 'iphone.jpg');
  fs.writeFileSync(heic, Buffer.concat([Buffer.from([0, 0, 0, 0x18]), Buffer.from('ftypheic'), Buffer.alloc(64)]));
  const webpCut = path.join(dir, 'cut.png');
  fs.writeFileSync(webpCut, (await raw().webp({ quality: 80 }).toBuffer()).subarray(0, 30));
  const junk = path.join(dir, 'junk.jpg');
  fs.writeFileSync(junk, Buffer.from([0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8]));
  for (const [f, seen] of [
    [heic, /its content is a HEIF\/HEIC image/],
    [webpCut, /the WebP data is corrupt or truncated/],
    [junk, /not an image format tlkit reads \(first bytes: de ad be ef\)/],
  ] as const) {
    await assert.rejects(decodeImage(f, [4, 4]), (e: unknown) => {
      assert.ok(e instanceof BadImageError, String(e));
      assert.match(e.message, new RegExp(path.basename(f).replace('.', '\\.')));
      assert.match(e.message, seen);
      return true;
    });
  }
});

/** TF's decode_jpeg CMYK -> RGB (jpeg_mem.cc), written out independently: integer products, truncating division. */
function tfCmykToRgb(c: number, m: number, y: number, k: number): [number, number, number] {
  const ik = 255 - k;
  return [Math.trunc(((255 - c) * ik) / 255), Math.trunc(((255 - m) * ik) / 255), Math.trunc(((255 - y) * ik) / 255)];
}

test("a CMYK JPEG decodes with TF's plain conversion (within 1 level), not through ICC colour management", async () => {
  const dir = tempDir();
  const w = 48;
  const h = 32;
  const px = Uint8Array.from({ length: w * h * 3 }, (_, i) => {
    const p = Math.floor(i / 3);
    const [x, y, ch] = [p % w, Math.floor(p / w), i % 3];
    return [x * 5, y * 8, (x + y) * 3][ch] % 256;
  });
  const file = path.join(dir, 'print.jpg');
  await sharp(Buffer.from(px), { raw: { width: w, height: h, channels: 3 } })
    .toColourspace('cmyk')
    .jpeg({ quality: 100, chromaSubsampling: '4:4:4' })
    .toFile(file);
  assert.equal((await sharp(file).metadata()).space, 'cmyk');
  // The file's CMYK samples, as stored (libvips un-inverts Adobe CMYK), and TF's RGB from them.
  const cmyk = await sharp(file).pipelineColourspace('cmyk').toColourspace('cmyk').raw().toBuffer();
  const ours = (await decodeRgb(file)).data;
  const icc = await sharp(file).toColourspace('srgb').raw().toBuffer(); // sharp's default path
  const want = Array.from({ length: w * h }, (_, p) => tfCmykToRgb(cmyk[p * 4], cmyk[p * 4 + 1], cmyk[p * 4 + 2], cmyk[p * 4 + 3])).flat();
  assertWorstError([{ name: "CMYK JPEG vs TF's conversion", actual: ours, expected: want }], 1, 'absolute');
  const maxIcc = maxAbsError(icc, want);
  const meanIcc = want.reduce((a, v, i) => a + Math.abs(icc[i] - v), 0) / want.length;
  assert.ok(maxIcc > 5, `the ICC path would differ (max ${maxIcc}, mean ${meanIcc.toFixed(1)}), so this test can tell them apart`);
});

/**
 * What a browser shows for each EXIF orientation, made with sharp's explicit turns and
 * mirrors of the stored pixels, one step at a time (EXIF 2.32, tag 0x0112): 2 mirrored
 * left-right, 3 turned 180, 4 mirrored top-bottom, 5 transposed (turned 90 clockwise, then
 * mirrored left-right), 6 turned 90 clockwise, 7 transversed (turned 90 clockwise, then
 * mirrored top-bottom), 8 turned 90 counter-clockwise.
 */
const SHOWN: Record<number, Array<(s: Sharp) => Sharp>> = {
  1: [],
  2: [(s) => s.flop()],
  3: [(s) => s.rotate(180)],
  4: [(s) => s.flip()],
  5: [(s) => s.rotate(90), (s) => s.flop()],
  6: [(s) => s.rotate(90)],
  7: [(s) => s.rotate(90), (s) => s.flip()],
  8: [(s) => s.rotate(270)],
};

test('EXIF orientations 1 to 8: each applied as a browser shows it (sharp-turned reference pixels), each ignored with exif ignore', async () => {
  const dir = tempDir();
  const [w, h] = [5, 3]; // not square, and no symmetry: every turn and mirror shows
  const px = Buffer.from(ramp(w, h));
  for (const orientation of [1, 2, 3, 4, 5, 6, 7, 8]) {
    // PNG stores the pixels exactly; sharp writes the orientation into its eXIf chunk.
    const file = path.join(dir, `o${orientation}.png`);
    await sharp(px, { raw: { width: w, height: h, channels: 3 } })
      .png()
      .withMetadata({ orientation })
      .toFile(file);
    assert.equal((await sharp(file).metadata()).orientation, orientation, `orientation ${orientation} written`);
    let shown = { data: px, info: { width: w, height: h } };
    for (const step of SHOWN[orientation])
      shown = await step(sharp(shown.data, { raw: { width: shown.info.width, height: shown.info.height, channels: 3 } }))
        .raw()
        .toBuffer({ resolveWithObject: true });
    // The table agrees with libvips's own reading of the tag.
    assert.deepEqual(
      await sharp(file).rotate().raw().toBuffer(),
      shown.data,
      `orientation ${orientation}: the reference is libvips's view`,
    );

    const applied = await decodeRgb(file);
    assert.deepEqual([applied.width, applied.height], [shown.info.width, shown.info.height], `orientation ${orientation}: size`);
    assert.deepEqual(Array.from(applied.data), Array.from(shown.data), `orientation ${orientation}: pixels as shown`);
    const ignored = await decodeRgb(file, undefined, { exif: 'ignore' });
    assert.deepEqual([ignored.width, ignored.height], [w, h]);
    assert.deepEqual(Array.from(ignored.data), Array.from(px), `orientation ${orientation} ignored: the stored pixels`);
  }
});

test('EXIF orientation 6: applied by default (as browsers show the photo), stored pixels with exif ignore (as Keras)', async () => {
  const dir = tempDir();
  const w = 6;
  const h = 4;
  const px = ramp(w, h);
  const file = path.join(dir, 'phone.jpg');
  await sharp(Buffer.from(px), { raw: { width: w, height: h, channels: 3 } })
    .jpeg({ quality: 100, chromaSubsampling: '4:4:4' })
    .withMetadata({ orientation: 6 })
    .toFile(file);
  assert.equal((await sharp(file).metadata()).orientation, 6);
  const stored = await sharp(file).raw().toBuffer({ resolveWithObject: true }); // no auto-orientation
  const shown = await sharp(file).rotate().raw().toBuffer({ resolveWithObject: true }); // libvips applies EXIF: the browser's view
  assert.deepEqual([shown.info.width, shown.info.height], [h, w]);

  const applied = await decodeRgb(file);
  assert.deepEqual([applied.width, applied.height], [h, w], 'turned 90 degrees clockwise');
  assert.deepEqual(Array.from(applied.data), Array.from(shown.data));
  const ignored = await decodeRgb(file, undefined, { exif: 'ignore' });
  assert.deepEqual([ignored.width, ignored.height], [w, h]);
  assert.deepEqual(Array.from(ignored.data), Array.from(stored.data));

  // Through a dataset, and through the CLI's global --exif setting.
  fs.mkdirSync(path.join(dir, 'data', 'a'), { recursive: true });
  fs.copyFileSync(file, path.join(dir, 'data', 'a', 'phone.jpg'));
  const batch = async (exif?: 'apply' | 'ignore') => {
    const ds = await imageDatasetFromDirectory(path.join(dir, 'data'), { imageSize: [h, w], shuffle: false, exif });
    for await (const b of ds.batches()) return Array.from(b.images);
    return [];
  };
  const keras = await batch('ignore');
  assert.deepEqual(keras, Array.from(stored.data), 'same size: no resampling, the stored pixels');
  assert.notDeepEqual(await batch(), keras);
  const before = getExifDefault();
  try {
    setExifDefault('ignore');
    assert.deepEqual(await batch(), keras);
  } finally {
    setExifDefault(before);
  }
});
