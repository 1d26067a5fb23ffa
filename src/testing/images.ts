// Fixture helpers for the data and augmentation tests: tiny images written to temp dirs.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';

export function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-'));
}

/** RGB pixels of a w x h image whose every pixel is `rgb`. */
export function solid(w: number, h: number, rgb: [number, number, number]): Uint8Array {
  const data = new Uint8Array(w * h * 3);
  for (let i = 0; i < w * h; i++) data.set(rgb, i * 3);
  return data;
}

/** Write RGB pixels as an image file; the format comes from the extension (.png, .jpg, .gif). */
export async function writeImage(file: string, data: Uint8Array, w: number, h: number): Promise<void> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const img = sharp(Buffer.from(data), { raw: { width: w, height: h, channels: 3 } });
  const ext = path.extname(file).toLowerCase();
  const out = ext === '.png' ? img.png() : ext === '.gif' ? img.gif() : img.jpeg({ quality: 95 });
  await out.toFile(file);
}

/**
 * A dataset `root/<class>/<i>.png` with `counts[class]` images each, every image a
 * solid colour encoding (class index, image index), so tests can tell images apart.
 */
export async function makeClassFolders(root: string, counts: Record<string, number>, size = 12): Promise<void> {
  const classes = Object.keys(counts);
  for (const [ci, c] of classes.entries()) {
    for (let i = 0; i < counts[c]; i++) {
      await writeImage(path.join(root, c, `${String(i).padStart(3, '0')}.png`), solid(size, size, [ci * 60, i, 7]), size, size);
    }
  }
}

/**
 * `root/<split>/<cats|dogs>/<class>.<i>.jpg`, `counts[split]` JPEGs a class: 20+i pixels wide and
 * 18 high (so they differ in size, as photos do), each with its own striped pixels.
 */
export async function makeStripedSplits(root: string, counts: Record<string, number>): Promise<string> {
  let seed = 1;
  for (const [split, n] of Object.entries(counts))
    for (const cls of ['cats', 'dogs'])
      for (let i = 0; i < n; i++) {
        const w = 20 + i;
        const px = new Uint8Array(w * 18 * 3);
        for (let k = 0; k < px.length; k++) px[k] = (k * 37 + seed * 101 + (cls === 'dogs' ? 60 : 0)) % 256;
        seed++;
        await writeImage(path.join(root, split, cls, `${cls}.${i}.jpg`), px, w, 18);
      }
  return root;
}

/**
 * A phone-like photo: a w x h JPEG (red left half, blue right half) stored landscape with
 * EXIF orientation 6, so that it is shown turned 90 degrees (what the browser tests use
 * to check that the page applies the orientation as tlkit does).
 */
export async function writeRotatedPhoto(file: string, w = 240, h = 160): Promise<string> {
  const px = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) px.set(x < w / 2 ? [220, 40 + (y % 50), 30] : [30, (x * 3) % 255, 210], (y * w + x) * 3);
  await sharp(px, { raw: { width: w, height: h, channels: 3 } })
    .jpeg({ quality: 90 })
    .withMetadata({ orientation: 6 })
    .toFile(file);
  return file;
}
