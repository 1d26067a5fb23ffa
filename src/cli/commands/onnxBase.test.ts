import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeModel, makeGraph, makeModel, makeNode, makeValueInfo } from '../../onnx/proto.js';
import { writeHandBuiltNchw } from '../../testing/onnxModels.js';
import { makeTinyDataset, TINY_SIZE } from '../../testing/tinyRun.js';
import { UserError } from '../../errors.js';
import type { TrainOptionsInput } from '../../workflows/options.js';
import { train as trainRun } from '../../workflows/train.js';

// `--base model.onnx` from the command line: a run end to end, and bad input refused with exit 2.

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const bin = path.join(repo, 'bin/tlkit.js');
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-onnx-cli-'));
const data = await makeTinyDataset(path.join(root, 'data'), { train: 8, validation: 4, test: 2 });
const hand = path.join(root, 'hand.onnx');
writeHandBuiltNchw(hand, { size: TINY_SIZE });
const cache = path.join(root, 'cache');

function tlkit(...args: string[]) {
  return tlkitWith({}, ...args);
}

function tlkitWith(env: Record<string, string>, ...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, TLKIT_BACKEND: 'cpu', ...env } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('tlkit train --base model.onnx --preprocess --up-to, then predict and evaluate on the run', () => {
  const run = path.join(root, 'run');
  const t = tlkit(
    'train',
    '--data',
    data,
    '--base',
    hand,
    '--preprocess',
    'torch',
    '--up-to',
    'relu_out',
    '--out',
    run,
    '--epochs',
    '1',
    '--batch-size',
    '8',
    '--head-units',
    '4',
    '--quiet',
    '--cache-dir',
    cache,
  );
  assert.equal(t.status, 0, t.stderr);
  assert.match(t.stdout, /the head alone, tfjs format; predict runs .*hand\.onnx before it/);
  const image = path.join(data, 'test', 'dogs', 'dogs.0.png');
  const p = tlkit('predict', '--model', run, '--json', image);
  assert.equal(p.status, 0, p.stderr);
  const row = JSON.parse(p.stdout.trim());
  assert.equal(row.file, image);
  assert.equal(row.probabilities.length, 2);
  // the file moved: the run's graph, cached by the predict above (keyed by the base's recorded
  // sha256), still answers; without that cache predict names the recorded path and hash and the fix; --base finds it
  const moved = path.join(root, 'moved.onnx');
  fs.renameSync(hand, moved);
  try {
    const cached = tlkit('predict', '--model', run, '--json', image);
    assert.equal(cached.status, 0, cached.stderr);
    assert.deepEqual(JSON.parse(cached.stdout.trim()).probabilities, row.probabilities);
    const lost = tlkitWith({ TLKIT_GRAPH_CACHE: 'off' }, 'predict', '--model', run, image);
    assert.equal(lost.status, 2);
    assert.match(
      lost.stderr,
      /hand\.onnx \(sha256 [0-9a-f]{64}\), which no longer exists\. Put the original file back at .*hand\.onnx, or pass --base PATH/,
    );
    assert.doesNotMatch(lost.stderr, /\n\s+at /);
    const found = tlkit('evaluate', '--model', run, '--data', data, '--base', moved, '--json');
    assert.equal(found.status, 0, found.stderr);
    assert.equal(JSON.parse(found.stdout).n, 4);
  } finally {
    fs.renameSync(moved, hand);
  }
});

const junk = path.join(root, 'junk.onnx');
fs.writeFileSync(junk, 'not a protobuf at all \u0000\u00ff');
const two = path.join(root, 'two.onnx');
const twoInputs = makeGraph(
  [makeNode('Add', ['a', 'b'], ['c'], 'add')],
  'two',
  [makeValueInfo('a', [null, 3, 4, 4]), makeValueInfo('b', [null, 3, 4, 4])],
  [makeValueInfo('c', [null, 3, 4, 4])],
);
fs.writeFileSync(two, encodeModel(makeModel(twoInputs)));

test('bad ONNX bases exit 2 with a message naming the file and the fix', () => {
  const train = (...args: string[]) =>
    tlkit('train', '--data', data, '--out', path.join(root, 'bad'), '--epochs', '1', '--cache-dir', cache, ...args);
  const cases: Array<[ReturnType<typeof tlkit>, RegExp]> = [
    [train('--base', path.join(root, 'missing.onnx')), /The ONNX model .*missing\.onnx does not exist\. Give the path of a \.onnx file/],
    [
      train('--base', hand, '--mode', 'finetune'),
      /--mode finetune cannot train an ONNX base .*hand\.onnx.*Use --mode features or augment .*fine-tune a Keras family/,
    ],
    [tlkit('extract', '--base', two, '--data', data, '--out', path.join(root, 'feats')), /two\.onnx: has 2 inputs/],
  ];
  for (const [r, message] of cases) {
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, message);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
  assert.equal(fs.existsSync(path.join(root, 'bad')), false, 'nothing written before the checks');
});

test('train() checks the ONNX base and its options before the run folder is touched', async () => {
  const out = path.join(root, 'bad-api');
  const rejects = (extra: Partial<TrainOptionsInput>, message: RegExp) =>
    assert.rejects(
      trainRun({ data, base: hand, out, epochs: 1, verbose: 0, cacheDir: cache, ...extra }, { naming: 'cli', log: () => {} }),
      (e: unknown) => e instanceof UserError && message.test((e as Error).message),
    );
  await rejects({ base: junk }, /junk\.onnx: (is not an ONNX model|holds no graph)/);
  await rejects({ base: two }, /two\.onnx: has 2 inputs \(a, b\).*exactly one image input/);
  await rejects({ upTo: 'nope' }, /hand\.onnx: has no value named "nope" to cut at/);
  await rejects({ preprocess: 'imagenet' }, /--preprocess must be one of caffe, tf, torch, clip, none/);
  await rejects(
    { base: 'mobilenet', preprocess: 'torch' },
    /--preprocess applies to an ONNX base \(--base model\.onnx\), got --base mobilenet/,
  );
  await rejects({ base: 'mobilenet', upTo: 'conv_pw_13' }, /--up-to applies to an ONNX base/);
  await rejects({ weights: 'imagenet' }, /--weights cannot be combined with the ONNX base .*hand\.onnx/);
  await rejects({ imageSize: 64 }, /hand\.onnx: takes 16x16 images, but an image size of 64x64 was asked for/);
  assert.equal(fs.existsSync(out), false);
});
