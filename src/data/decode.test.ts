import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { BadImageError, decodeImage, decodeRgb, sniffImageType } from './decode.js';
import { decodeBmp, encodeBmp24 } from './bmp.js';
import { isUserError } from '../errors.js';
import { tempDir, writeImage } from '../testing/images.js';
import { assertWorstError } from '../testing/numerics.js';

const shared = path.resolve(import.meta.dirname, '../../../shared');
const dir = tempDir();

// A 5x4 image with distinct pixels, so orientation and channel order mistakes show.
const W = 5;
const H = 4;
const pixels = Uint8Array.from({ length: W * H * 3 }, (_, i) => (i * 37) % 256);

test('PNG and BMP decode to the exact RGB pixels, top-left first', async () => {
  const png = path.join(dir, 'a.png');
  await writeImage(png, pixels, W, H);
  const bmp = path.join(dir, 'a.bmp');
  fs.writeFileSync(bmp, encodeBmp24({ data: pixels, width: W, height: H }));
  for (const f of [png, bmp]) {
    const img = await decodeRgb(f);
    assert.equal(img.width, W);
    assert.equal(img.height, H);
    assert.deepEqual(Array.from(img.data), Array.from(pixels), f);
  }
});

test('32-bit top-down BMP with alpha, and 8-bit palette BMP', () => {
  // 2x1, 32-bit BGRA, top-down (negative height).
  const b32 = new Uint8Array(54 + 8);
  const v = new DataView(b32.buffer);
  b32.set([0x42, 0x4d]);
  v.setUint32(10, 54, true);
  v.setUint32(14, 40, true);
  v.setInt32(18, 2, true);
  v.setInt32(22, -1, true);
  v.setUint16(28, 32, true);
  b32.set([1, 2, 3, 255, 4, 5, 6, 0], 54);
  assert.deepEqual(Array.from(decodeBmp(b32, 'x.bmp').data), [3, 2, 1, 6, 5, 4]);
  // 3x2, 8-bit palette with 2 colours, bottom-up, rows padded to 4 bytes.
  const b8 = new Uint8Array(54 + 8 + 8);
  const v8 = new DataView(b8.buffer);
  b8.set([0x42, 0x4d]);
  v8.setUint32(10, 62, true);
  v8.setUint32(14, 40, true);
  v8.setInt32(18, 3, true);
  v8.setInt32(22, 2, true);
  v8.setUint16(28, 8, true);
  v8.setUint32(46, 2, true);
  b8.set([10, 20, 30, 0, 40, 50, 60, 0], 54); // palette BGRx: 0 -> (30,20,10), 1 -> (60,50,40)
  b8.set([0, 1, 0, 0, 1, 1, 0, 0], 62); // bottom row: 0 1 0; top row: 1 1 0
  assert.deepEqual(Array.from(decodeBmp(b8, 'p.bmp').data), [60, 50, 40, 60, 50, 40, 30, 20, 10, 30, 20, 10, 60, 50, 40, 30, 20, 10]);
  // RLE is refused with a clear message.
  v8.setUint32(30, 1, true);
  assert.throws(() => decodeBmp(b8, 'rle.bmp'), /rle\.bmp: compressed BMP/);
});

test('grayscale becomes RGB, alpha is dropped, 16-bit PNG is reduced to 8 bits (v >> 8), GIF gives the first frame', async () => {
  const gray = path.join(dir, 'g.png');
  await sharp(Buffer.from([0, 50, 100, 150, 200, 250]), { raw: { width: 3, height: 2, channels: 1 } })
    .toColourspace('b-w')
    .png()
    .toFile(gray);
  assert.equal((await sharp(gray).metadata()).channels, 1);
  assert.deepEqual(
    Array.from((await decodeRgb(gray)).data),
    [0, 0, 0, 50, 50, 50, 100, 100, 100, 150, 150, 150, 200, 200, 200, 250, 250, 250],
  );

  const rgba = path.join(dir, 'rgba.png');
  await sharp(Buffer.from([10, 20, 30, 0, 40, 50, 60, 128]), { raw: { width: 2, height: 1, channels: 4 } })
    .png()
    .toFile(rgba);
  assert.deepEqual(Array.from((await decodeRgb(rgba)).data), [10, 20, 30, 40, 50, 60]);

  const v16 = Uint16Array.from([0, 256, 1000, 65535, 30000, 512]);
  const p16 = path.join(dir, 'p16.png');
  await sharp(v16, { raw: { width: 2, height: 1, channels: 3 } })
    .toColourspace('rgb16')
    .png()
    .toFile(p16);
  assert.equal((await sharp(p16).metadata()).depth, 'ushort');
  assert.deepEqual(
    Array.from((await decodeRgb(p16)).data),
    Array.from(v16, (v) => v >> 8),
  );

  // An animated GIF: frame 0 red, frame 1 blue.
  const frames = Buffer.concat([
    Buffer.from(new Uint8Array(4 * 4 * 4).map((_, i) => (i % 4 === 0 || i % 4 === 3 ? 255 : 0))),
    Buffer.from(new Uint8Array(4 * 4 * 4).map((_, i) => (i % 4 >= 2 ? 255 : 0))),
  ]);
  const gif = path.join(dir, 'anim.gif');
  await sharp(frames, { raw: { width: 4, height: 8, channels: 4, pageHeight: 4 } as never })
    .gif()
    .toFile(gif);
  assert.ok(((await sharp(gif).metadata()).pages ?? 1) >= 2, 'fixture should be animated');
  const first = await decodeRgb(gif);
  assert.equal(first.height, 4);
  assert.deepEqual(Array.from(first.data.subarray(0, 3)), [255, 0, 0]);
});

test('decodeImage of a real JPEG equals tfjs resizeBilinear(halfPixelCenters) of its decoded pixels', async () => {
  await tf.setBackend('cpu');
  const file = path.join(shared, 'data/cats_vs_dogs_small/train/cats/cat.1.jpg');
  const raw = await decodeRgb(file);
  const ours = await decodeImage(file, [180, 180]);
  const ref = tf.tidy(() =>
    tf.image.resizeBilinear(tf.tensor3d(raw.data, [raw.height, raw.width, 3], 'float32'), [180, 180], false, true).dataSync(),
  );
  assertWorstError([{ name: 'cat.1.jpg', actual: ours, expected: ref }], 1e-4, 'absolute');
});

test('bad files are UserErrors that name the file: empty, truncated, text named .jpg, unknown format', async () => {
  const good = fs.readFileSync(path.join(shared, 'data/cats_vs_dogs_small/train/cats/cat.1.jpg'));
  const cases: Array<[string, Uint8Array | string, RegExp]> = [
    ['empty.jpg', new Uint8Array(0), /empty \(0 bytes\)/],
    ['truncated.jpg', good.subarray(0, good.length >> 1), /corrupt or truncated/],
    // Cut inside the header: libvips reports several warnings, some repeated, one a line.
    ['header-only.jpg', good.subarray(0, 200), /corrupt or truncated \([^\n]*premature end of JPEG image\)/],
    [
      'notes.jpg',
      'just some text, not a photo\n',
      /not an image format tlkit reads \(first bytes: 6a 75 73 74, it looks like a text file\)/,
    ],
    ['short.bmp', new Uint8Array([0x42, 0x4d, 1, 2, 3]), /BMP/],
  ];
  for (const [name, content, reason] of cases) {
    const f = path.join(dir, name);
    fs.writeFileSync(f, content);
    await assert.rejects(decodeImage(f, [8, 8]), (e: unknown) => {
      assert.ok(e instanceof BadImageError && isUserError(e), `${name}: ${e}`);
      assert.match(e.message, new RegExp(name.replace('.', '\\.')));
      assert.match(e.message, reason);
      assert.match(e.message, /--skip-bad-images/);
      assert.doesNotMatch(e.message, /\n/, `${name}: the message must be one paragraph`);
      return true;
    });
  }
  assert.equal(sniffImageType(good), 'jpeg');
});
