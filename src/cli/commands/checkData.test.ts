// `tlkit check-data` exit codes by severity: warnings (files every command skips, tiny
// images, imbalance) pass unless --strict; errors (what breaks or misleads training) fail.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CheckReport } from '../../data/checkData.js';
import { solid, tempDir, writeImage } from '../../testing/images.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const cli = (...args: string[]) =>
  spawnSync(process.execPath, [path.join(repo, 'bin/tlkit.js'), 'check-data', ...args], { encoding: 'utf8' });
const APPLE_DOUBLE = Buffer.concat([
  Buffer.from([0x00, 0x05, 0x16, 0x07, 0x00, 0x02, 0x00, 0x00]),
  Buffer.from('Mac OS X        '),
  Buffer.alloc(2000, 0x41),
]);

/** A clean train/validation dataset (distinct 40x40 JPEGs), then the Mac's leftovers: ._foo.jpg files and a .DS_Store. */
async function copiedFromAMac(): Promise<string> {
  const root = tempDir();
  for (const [si, split] of ['train', 'validation'].entries()) {
    for (const [ci, c] of ['cats', 'dogs'].entries()) {
      await writeImage(path.join(root, split, c, 'foo.jpg'), solid(40, 40, [ci * 200, si * 100, 50]), 40, 40);
      fs.writeFileSync(path.join(root, split, c, '._foo.jpg'), APPLE_DOUBLE);
    }
  }
  fs.writeFileSync(path.join(root, 'train/.DS_Store'), 'junk');
  return root;
}

test('only AppleDouble ._ files and a .DS_Store: exit 0 with the warning listed; --strict exits 2', async () => {
  const root = await copiedFromAMac();
  const run = cli(root);
  assert.equal(run.status, 0, run.stdout + run.stderr);
  assert.match(run.stdout, /warning +\[hidden-file\] 5 hidden files .*\._foo\.jpg/);
  assert.match(run.stdout, /\n0 errors, 1 warning\n$/);

  const strict = cli(root, '--strict');
  assert.equal(strict.status, 2, strict.stdout + strict.stderr);
  assert.match(strict.stdout, /0 errors, 1 warning/);
});

test('--json carries a severity on each finding, beside the existing fields', async () => {
  const root = await copiedFromAMac();
  const run = cli(root, '--json');
  assert.equal(run.status, 0, run.stderr);
  const r = JSON.parse(run.stdout) as CheckReport;
  assert.deepEqual(
    r.problems.map((p) => [p.kind, p.severity, p.files.length, typeof p.message]),
    [['hidden-file', 'warning', 5, 'string']],
  );
  assert.equal(r.ok, false, 'ok still means no findings at all');
  assert.deepEqual([r.errors, r.warnings], [0, 1]);
});

test('an error finding (a corrupt JPEG, an empty class) still exits 2, with or without warnings', async () => {
  const root = await copiedFromAMac();
  const cat = path.join(root, 'train/cats/foo.jpg');
  const bytes = fs.readFileSync(cat);
  fs.writeFileSync(cat, bytes.subarray(0, Math.floor(bytes.length * 0.6))); // truncated
  const run = cli(root);
  assert.equal(run.status, 2, run.stdout + run.stderr);
  assert.match(run.stdout, /error +\[corrupt\] train\/cats\/foo\.jpg cannot be decoded/);
  assert.match(run.stdout, /warning +\[hidden-file\]/);
  assert.match(run.stdout, /\n1 error, 1 warning\n$/);
  const json = cli(root, '--json');
  assert.equal(json.status, 2);
  const r = JSON.parse(json.stdout) as CheckReport;
  assert.deepEqual(
    r.problems.map((p) => `${p.severity} ${p.kind}`),
    ['error corrupt', 'warning hidden-file'],
    'errors listed first',
  );

  const empty = await copiedFromAMac();
  fs.mkdirSync(path.join(empty, 'validation/birds'));
  fs.mkdirSync(path.join(empty, 'train/birds'));
  fs.writeFileSync(path.join(empty, 'train/birds/._x.jpg'), APPLE_DOUBLE); // holds only a skipped file: still empty
  const e = cli(empty, '--json');
  assert.equal(e.status, 2, e.stdout + e.stderr);
  const kinds = (JSON.parse(e.stdout) as CheckReport).problems.map((p) => `${p.severity} ${p.kind} ${p.files[0]}`);
  assert.deepEqual(kinds, ['error empty-class train/birds/', 'error empty-class validation/birds/', 'warning hidden-file train/.DS_Store']);
});
