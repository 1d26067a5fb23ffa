import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { throwsUserError as rejects } from '../testing/userError.js';
import { checkOutputFile, parseImageSizeOption, parseIntOption, parseNumberOption } from './parseOptions.js';

test('parseIntOption: whole numbers in range; typos that Number() would accept are rejected', () => {
  assert.equal(parseIntOption('--epochs', undefined, { min: 1 }), undefined);
  assert.equal(parseIntOption('--epochs', '20', { min: 1 }), 20);
  assert.equal(parseIntOption('--seed', '0', { min: 0, max: 10 }), 0);
  assert.equal(parseIntOption('--seed', '+7', { min: 0 }), 7);
  rejects(
    () => parseIntOption('--epochs', '-1', { min: 1, example: '20' }),
    /^--epochs must be a whole number >= 1, got '-1'\. Pass e\.g\. --epochs 20\.$/,
  );
  rejects(() => parseIntOption('--batch-size', '0', { min: 1 }), /--batch-size must be a whole number >= 1, got '0'/);
  rejects(() => parseIntOption('--n', '401', { min: 1, max: 400 }), /--n must be a whole number from 1 to 400, got '401'/);
  // Number('') is 0, Number('0x10') is 16, Number('1e3') is 1000, Number(' 5 ') is 5: all typos here.
  for (const bad of ['', ' ', 'abc', '1.5', '0x10', '1e3', ' 5 ', 'NaN', 'Infinity', '99999999999999999999']) {
    rejects(
      () => parseIntOption('--seed', bad, { min: 0 }),
      new RegExp(`--seed must be a whole number >= 0, got '${bad.replace(/[.+]/g, '\\$&')}'`),
    );
  }
});

test('parseNumberOption: finite decimals within open or closed bounds', () => {
  assert.equal(parseNumberOption('--learning-rate', '1e-5', { min: 0, max: 10 }), 1e-5);
  assert.equal(parseNumberOption('--learning-rate', '.01', { min: 0, max: 10 }), 0.01);
  assert.equal(parseNumberOption('--dropout', '0', { min: 0, max: 0.95, minInclusive: true }), 0);
  assert.equal(parseNumberOption('--max-imbalance', '1000', { min: 1, minInclusive: true }), 1000);
  rejects(
    () => parseNumberOption('--learning-rate', 'nan', { min: 0, max: 10, example: '1e-3' }),
    /^--learning-rate must be a number in \(0, 10\], got 'nan'\. Pass e\.g\. --learning-rate 1e-3\.$/,
  );
  rejects(() => parseNumberOption('--learning-rate', '0', { min: 0, max: 10 }), /in \(0, 10\], got '0'/);
  rejects(
    () => parseNumberOption('--rotation', '1', { min: 0, max: 1, minInclusive: true, maxInclusive: false }),
    /--rotation must be a number in \[0, 1\), got '1'/,
  );
  rejects(() => parseNumberOption('--alpha', '-1', { min: 0 }), /--alpha must be a number > 0, got '-1'/);
  for (const bad of ['', 'Infinity', '0x1', '1,5', '1e400'])
    rejects(() => parseNumberOption('--max-imbalance', bad, { min: 1, minInclusive: true }), /--max-imbalance must be a number >= 1/);
});

test('parseImageSizeOption: 32 to 2048, so a huge size is a message rather than a crash allocating it', () => {
  assert.equal(parseImageSizeOption('180'), 180);
  assert.equal(parseImageSizeOption(undefined), undefined);
  rejects(
    () => parseImageSizeOption('abc'),
    /--image-size must be a whole number from 32 to 2048, got 'abc'\. Pass e\.g\. --image-size 180\./,
  );
  rejects(() => parseImageSizeOption('100000'), /got '100000'/);
  rejects(() => parseImageSizeOption('16'), /got '16'/);
});

test('checkOutputFile: an existing folder in the way is named', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-'));
  const file = path.join(root, 'notes.txt');
  fs.writeFileSync(file, 'hi');
  assert.equal(checkOutputFile('--out', file), file);
  rejects(() => checkOutputFile('--out', root), /is an existing folder\. Give a file path inside it instead/);
  rejects(
    () => checkOutputFile('--out', path.join(file, 'x.png')),
    /--out .*notes\.txt.x\.png cannot be created: a part of that path is a file/,
  );
  rejects(() => checkOutputFile('--out', ''), /--out needs a file path/);
});
