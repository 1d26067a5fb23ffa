import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeFileAtomic, writeFileAtomicSync } from './atomicWrite.js';

test('writeFileAtomic replaces the file, and leaves no temporary behind when the rename fails', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-'));
  const target = path.join(root, 'a', 'meta.json');
  await writeFileAtomic(target, '{"v":1}');
  await writeFileAtomic(target, '{"v":2}');
  assert.equal(fs.readFileSync(target, 'utf8'), '{"v":2}');
  writeFileAtomicSync(target, '{"v":3}');
  assert.equal(fs.readFileSync(target, 'utf8'), '{"v":3}');
  assert.deepEqual(fs.readdirSync(path.dirname(target)), ['meta.json']);

  // The target is a non-empty folder: the rename fails; the folder and its parent stay as they were.
  const folder = path.join(root, 'out.png');
  fs.mkdirSync(folder);
  fs.writeFileSync(path.join(folder, 'keep'), 'x');
  await assert.rejects(writeFileAtomic(folder, 'png bytes'), (e: NodeJS.ErrnoException) => typeof e.code === 'string');
  assert.throws(() => writeFileAtomicSync(folder, 'png bytes'), (e: NodeJS.ErrnoException) => typeof e.code === 'string');
  assert.deepEqual(fs.readdirSync(root).sort(), ['a', 'out.png']);
  assert.deepEqual(fs.readdirSync(folder), ['keep']);
});
