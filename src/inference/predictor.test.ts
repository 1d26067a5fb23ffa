import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { evaluationFiles } from './predictor.js';

async function writeImages(dir: string, n: number): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  for (let i = 0; i < n; i++) {
    await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 10 * i, g: 0, b: 0 } } }).png().toFile(path.join(dir, `${i}.png`));
  }
}

test('evaluation data: test/ of the book layout, class folders directly, or a folder holding only test/', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-'));
  const book = path.join(root, 'book');
  for (const split of ['train', 'test']) for (const c of ['cats', 'dogs']) await writeImages(path.join(book, split, c), split === 'test' ? 2 : 1);
  const fromBook = evaluationFiles(book, ['cats', 'dogs']);
  assert.equal(fromBook.dir, path.join(book, 'test'));
  assert.deepEqual(fromBook.labels, [0, 0, 1, 1]);

  const testOnly = path.join(root, 'heldout');
  for (const c of ['cats', 'dogs']) await writeImages(path.join(testOnly, 'test', c), 3);
  const fromTestOnly = evaluationFiles(testOnly, ['cats', 'dogs']);
  assert.equal(path.resolve(fromTestOnly.dir), path.resolve(testOnly, 'test'));
  assert.equal(fromTestOnly.files.length, 6);

  const flat = path.join(root, 'flat');
  for (const c of ['cats', 'dogs']) await writeImages(path.join(flat, c), 1);
  assert.equal(evaluationFiles(flat, ['cats', 'dogs']).files.length, 2);

  assert.throws(() => evaluationFiles(flat, ['cats', 'dogs', 'birds']), /trained on classes \[cats, dogs, birds\]/);
});
