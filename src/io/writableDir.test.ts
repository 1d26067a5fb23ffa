import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { throwsUserError as rejects } from '../testing/userError.js';
import { ensureWritableDir } from './writableDir.js';

test('ensureWritableDir: creates and probes the folder, or names the flag, the path, the reason and the fix', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-'));
  const file = path.join(root, 'notes.txt');
  fs.writeFileSync(file, 'hi');

  const made = path.join(root, 'new', 'run');
  ensureWritableDir('--out', made);
  assert.ok(fs.statSync(made).isDirectory(), 'created, with its missing parent');
  assert.deepEqual(fs.readdirSync(made), [], 'the probe file is gone');
  ensureWritableDir('--out', root);

  rejects(
    () => ensureWritableDir('--out', file),
    new RegExp(
      `^--out ${file.replace(/[.]/g, '\\.')} is an existing file, not a folder\\. Give a folder path \\(it is created when missing\\), or move the file away\\.$`,
    ),
  );
  rejects(
    () => ensureWritableDir('--cache-dir', path.join(file, 'sub')),
    /^--cache-dir .*notes\.txt.sub cannot be written: a part of the path is a file, not a folder \(ENOTDIR\)\. Give a path whose every parent is a folder, or move the file away\.$/,
  );
  rejects(() => ensureWritableDir('--out', ''), /^--out needs a folder path, got an empty string\.$/);
  rejects(
    () => ensureWritableDir('--out', '/proc/tlkit-x'),
    /^--out \/proc\/tlkit-x is under \/proc, a kernel file system where nothing can be written\. Give a folder on a disk/,
  );
});

test('ensureWritableDir { keep: false }: the same checks, and the disk left as it was', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-'));
  ensureWritableDir('--out', path.join(root, 'a', 'b', 'c'), { keep: false });
  assert.deepEqual(fs.readdirSync(root), [], 'every folder the check made is removed again');
  fs.mkdirSync(path.join(root, 'kept'));
  fs.writeFileSync(path.join(root, 'kept', 'mine.txt'), 'x');
  ensureWritableDir('--out', path.join(root, 'kept'), { keep: false });
  assert.deepEqual(fs.readdirSync(path.join(root, 'kept')), ['mine.txt'], 'an existing folder and its files stay');
  const file = path.join(root, 'notes.txt');
  fs.writeFileSync(file, 'hi');
  rejects(() => ensureWritableDir('--out', path.join(file, 'y'), { keep: false }), /ENOTDIR/);
  assert.deepEqual(fs.readdirSync(root).sort(), ['kept', 'notes.txt']);
});

test('ensureWritableDir: a folder another process creates between the look and the mkdir is accepted', (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-'));
  const dir = path.join(root, 'shards');
  // Two shards of one --out start at once: both see the folder missing, the other one makes it first.
  const realMkdir = fs.mkdirSync;
  t.mock.method(fs, 'mkdirSync', (p: fs.PathLike, o?: fs.MakeDirectoryOptions) => {
    if (path.resolve(String(p)) === dir && !fs.existsSync(dir)) realMkdir(dir);
    return realMkdir(p, o);
  });
  ensureWritableDir('--out', dir);
  t.mock.restoreAll();
  assert.ok(fs.statSync(dir).isDirectory());
  assert.deepEqual(fs.readdirSync(dir), [], 'the probe file is gone');
});
