import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { VGG16_180_SUMMARY } from '../../testing/summaryFixtures.js';
import { initBackend } from '../../tfjs/backend.js';
import { FAMILIES } from '../../applications/index.js';
import { writeKerasH5 } from '../../weights/kerasH5.js';
import { parseInputShape } from './summary.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-cli-'));

function tlkit(...args: string[]) {
  const r = spawnSync(process.execPath, [path.join(repoRoot, 'bin/tlkit.js'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, TLKIT_CACHE: dir },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Exit 2, one paragraph on stderr naming the problem, no stack trace. */
function assertUserError(r: ReturnType<typeof tlkit>, pattern: RegExp) {
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, pattern);
  assert.equal(r.stderr.trim().split('\n').length, 1, `one paragraph: ${r.stderr}`);
  assert.doesNotMatch(r.stderr, /\n\s+at |HDF5-DIAG|internal error/);
  assert.equal(r.stdout, '');
}

test('tlkit summary vgg16 --input-shape 180,180,3 prints the Keras table', () => {
  const r = tlkit('summary', 'vgg16', '--input-shape', '180,180,3');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, VGG16_180_SUMMARY);
  const json = JSON.parse(tlkit('summary', 'mobilenet', '--input-shape', '224,224,3', '--json').stdout);
  assert.equal(json.totalParams, 3_228_864);
  assert.equal(json.nonTrainableParams, 21_888);
  assert.equal(json.layers.at(-1).name, 'conv_pw_13_relu');
});

test('bad arguments exit 2 with a one-paragraph message', async () => {
  assertUserError(tlkit('summary', 'vgg17'), /Unknown model family "vgg17". Did you mean vgg16\?/);
  assertUserError(
    tlkit('summary', 'vgg16', '--input-shape', '10,10,3'),
    /vgg16: the input must be at least 32x32, got input shape \(10, 10, 3\)/,
  );
  assertUserError(tlkit('summary', 'mobilenet', '--input-shape', '180,180'), /--input-shape must be three/);
  assertUserError(tlkit('summary', 'vgg16', '--weights', path.join(dir, 'missing.h5')), /missing\.h5 does not exist/);

  await initBackend();
  const good = path.join(dir, 'mobilenet.h5');
  await writeKerasH5(FAMILIES.mobilenet.architecture({ includeTop: false, weights: 'none', inputShape: [32, 32, 3], alpha: 0.25 }), good);
  const bytes = fs.readFileSync(good);
  const cut = path.join(dir, 'truncated.h5');
  fs.writeFileSync(cut, bytes.subarray(0, bytes.length >> 1));
  assertUserError(tlkit('summary', 'mobilenet', '--alpha', '0.25', '--weights', cut), /truncated\.h5.*truncated/);
  assertUserError(
    tlkit('summary', 'vgg16', '--input-shape', '32,32,3', '--weights', good),
    /does not fit the model "vgg16".*another model/,
  );
  // and the right file loads
  const ok = tlkit('summary', good, '--input-shape', '32,32,3');
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /conv_pw_13_relu \(ReLU\)/);
});

test('parseInputShape', () => {
  assert.deepEqual(parseInputShape('180,180,3'), [180, 180, 3]);
  assert.deepEqual(parseInputShape('None,None,3'), [null, null, 3]);
  assert.throws(() => parseInputShape('a,b,c'), /three comma-separated/);
});
