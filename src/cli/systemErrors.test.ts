import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describeSystemError } from './systemErrors.js';

function errorOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected an error');
}

test('describeSystemError: path problems get a message naming the path and the fix; bugs do not', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-'));
  const file = path.join(root, 'notes.txt');
  fs.writeFileSync(file, 'hi');
  const eexist = describeSystemError(errorOf(() => fs.mkdirSync(file, { recursive: true })));
  assert.match(
    eexist ?? '',
    new RegExp(`^Cannot create the folder ${file.replace(/\./g, '\\.')}: a file is in the way \\(EEXIST\\)\\. Give a path`),
  );
  const enotdir = describeSystemError(errorOf(() => fs.writeFileSync(path.join(file, 'x.json'), '{}')));
  assert.match(enotdir ?? '', /^Cannot open .*notes\.txt.x\.json: a part of the path is a file where a folder was expected \(ENOTDIR\)/);
  const folder = path.join(root, 'grid.png');
  fs.mkdirSync(folder);
  const eisdir = describeSystemError(errorOf(() => fs.renameSync(file, folder)));
  assert.match(
    eisdir ?? '',
    /^Cannot move .*notes\.txt to .*grid\.png: it is a folder where a file was expected \(EISDIR\)\. Give a file path/,
  );
  // A missing internal file or a plain bug stays an internal error (undefined here).
  assert.equal(describeSystemError(errorOf(() => fs.readFileSync(path.join(root, 'missing')))), undefined);
  assert.equal(describeSystemError(new TypeError('x is not a function')), undefined);
  assert.equal(describeSystemError(undefined), undefined);
});
