import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { augmentPreview } from './preview.js';
import { tempDir, writeImage } from '../testing/images.js';

const repo = path.resolve(import.meta.dirname, '../..');

test('augment-preview: a grid of n augmented tiles, reproducible with a seed, different copies', async () => {
  const dir = tempDir();
  const file = path.join(dir, 'img.png');
  const px = Uint8Array.from({ length: 32 * 32 * 3 }, (_, i) => (Math.floor(i / 3) % 32) * 8); // horizontal ramp
  await writeImage(file, px, 32, 32);
  const a = await augmentPreview(file, { n: 4, imageSize: 32, seed: 3 });
  const b = await augmentPreview(file, { n: 4, imageSize: 32, seed: 3 });
  assert.ok(a.equals(b), 'same seed, same grid');
  const meta = await sharp(a).metadata();
  assert.equal(meta.format, 'png');
  assert.deepEqual([meta.width, meta.height], [2 * 32 + 3 * 4, 2 * 32 + 3 * 4]);
  // Tiles differ from each other (each is its own random augmentation).
  const raw = await sharp(a).raw().toBuffer();
  const tile = (i: number) =>
    Array.from({ length: 32 }, (_, y) =>
      raw
        .subarray(
          ((4 + Math.floor(i / 2) * 36 + y) * 76 + 4 + (i % 2) * 36) * 3,
          ((4 + Math.floor(i / 2) * 36 + y) * 76 + 4 + (i % 2) * 36 + 32) * 3,
        )
        .toString('hex'),
    ).join();
  assert.equal(new Set([0, 1, 2, 3].map(tile)).size, 4);

  const out = path.join(dir, 'grid.png');
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [path.join(repo, 'bin/tlkit.js'), 'augment-preview', file, '--out', out, '--n', '9', '--image-size', '40', '--seed', '1'],
    { cwd: repo },
  );
  assert.match(stdout, /wrote .*grid\.png: 9 augmentations/);
  const m = await sharp(out).metadata();
  assert.deepEqual([m.width, m.height], [3 * 40 + 4 * 4, 3 * 40 + 4 * 4]);
  await assert.rejects(
    promisify(execFile)(process.execPath, [path.join(repo, 'bin/tlkit.js'), 'augment-preview', file, '--out', out, '--rotation', '2'], {
      cwd: repo,
    }),
    (e: { code: number; stderr: string }) => e.code === 2 && /--rotation must be/.test(e.stderr),
  );
});
