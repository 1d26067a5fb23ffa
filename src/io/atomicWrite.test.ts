import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeFileAtomic, writeFileAtomicSync } from './atomicWrite.js';
import { describeSystemError } from '../cli/systemErrors.js';

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
  assert.throws(
    () => writeFileAtomicSync(folder, 'png bytes'),
    (e: NodeJS.ErrnoException) => typeof e.code === 'string',
  );
  assert.deepEqual(fs.readdirSync(root).sort(), ['a', 'out.png']);
  assert.deepEqual(fs.readdirSync(folder), ['keep']);
});

test('a full disk names the file being written (write(2) errors carry no path of their own)', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-'));
  const target = path.join(root, 'run', 'history.json');
  const realOpen = fs.promises.open;
  // The disk fills up during the write: what write(2) reports is ENOSPC without a path.
  fs.promises.open = (async (...args: Parameters<typeof realOpen>) => {
    const fh = await realOpen(...args);
    fh.writeFile = async () => {
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', syscall: 'write' });
    };
    return fh;
  }) as typeof realOpen;
  try {
    await assert.rejects(writeFileAtomic(target, 'x'), (e: unknown) => {
      assert.match(
        describeSystemError(e) ?? '',
        new RegExp(`Cannot write ${target.replace(/[.]/g, '\\.')}: the disk is full \\(ENOSPC\\)`),
      );
      return true;
    });
  } finally {
    fs.promises.open = realOpen;
  }
  assert.deepEqual(fs.readdirSync(path.dirname(target)), [], 'no temporary left behind');
});
