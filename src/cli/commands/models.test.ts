import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FAMILY_NAMES } from '../../applications/index.js';
import { formatModelsTable } from './models.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-models-'));
const cache = path.join(dir, 'cache');
const kerasHome = path.join(dir, 'keras');

function tlkit(...args: string[]) {
  const r = spawnSync(process.execPath, [path.join(repoRoot, 'bin/tlkit.js'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, TLKIT_CACHE: cache, KERAS_HOME: kerasHome },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

// Keras's figures: conv base / whole classifier parameters, default input size.
const KERAS: Record<string, [number, number, number]> = {
  vgg16: [14_714_688, 138_357_544, 224],
  mobilenet: [3_228_864, 4_253_864, 224],
  mobilenet_v2: [2_257_984, 3_538_984, 224],
  resnet50: [23_587_712, 25_636_712, 224],
  efficientnet_b0: [4_049_571, 5_330_571, 224],
  convnext_tiny: [27_820_128, 28_589_128, 224],
};

test('tlkit models lists every family with Keras parameter counts, GFLOPs, preprocessing, unfreeze point and offline weights', () => {
  // a cached conv-base file counts as available offline (in tlkit's cache or in Keras's)
  fs.mkdirSync(path.join(cache, 'weights'), { recursive: true });
  fs.writeFileSync(path.join(cache, 'weights', 'resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5'), 'stand-in');
  fs.mkdirSync(path.join(kerasHome, 'models'), { recursive: true });
  fs.writeFileSync(path.join(kerasHome, 'models', 'efficientnetb0_notop.h5'), 'stand-in');

  const r = tlkit('models', '--json');
  assert.equal(r.code, 0, r.stderr);
  const rows = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.deepEqual(
    rows.map((x) => x.family),
    FAMILY_NAMES,
  );
  for (const x of rows) {
    const [base, top, size] = KERAS[x.family];
    assert.equal(x.baseParams, base, x.family);
    assert.equal(x.topParams, top, x.family);
    assert.equal(x.defaultSize, size, x.family);
    assert.ok(x.gflops > 0.3 && x.gflops < 40, `${x.family} ${x.gflops}`);
  }
  const by = Object.fromEntries(rows.map((x) => [x.family, x]));
  assert.ok(Math.abs(by.vgg16.gflops - 30.7) < 0.1); // 15.5 GMACs, the published VGG16 figure
  assert.ok(Math.abs(by.resnet50.gflops - 7.7) < 0.1);
  assert.equal(by.resnet50.preprocessing, 'caffe');
  assert.match(by.efficientnet_b0.preprocessing, /in model/);
  assert.equal(by.vgg16.unfreezeLayers, 4);
  assert.equal(by.resnet50.unfreezeAfter, 'conv4_block6_out');
  assert.equal(by.resnet50.unfreezeLayers, 32);
  assert.match(by.resnet50.weightsPath, /resnet50_weights_tf_dim_ordering_tf_kernels_notop\.h5$/);
  assert.match(by.efficientnet_b0.weightsPath, /keras\/models\/efficientnetb0_notop\.h5$/);
  assert.equal(by.convnext_tiny.weightsPath, null);
  assert.equal(by.convnext_tiny.weightsFile, 'convnext_tiny_notop.h5');

  // the text table of the same rows (what `tlkit models` prints without --json)
  const table = { stdout: formatModelsTable(rows, false) };
  const lines = table.stdout.split('\n');
  assert.match(
    lines[0],
    /^family\s+params \(base\)\s+params \(top\)\s+GFLOPs\s+size\s+preprocessing\s+default unfreeze\s+weights offline$/,
  );
  assert.match(table.stdout, /\nresnet50\s+23,587,712\s+25,636,712\s+7\.71\s+224\s+caffe\s+stage conv5 \(32 layers\)\s+yes \(cached\)\n/);
  assert.match(
    table.stdout,
    /\nconvnext_tiny\s+27,820,128\s+28,589,128\s+8\.91\s+224\s+in model \(Normalization\)\s+stage 3 \+ final LayerNorm \(26 layers\)\s+no\n/,
  );
});

test('tlkit models --bench measures extraction images/s; bad options exit 2 with one paragraph', () => {
  const r = tlkit(
    'models',
    '--families',
    'mobilenet_v2,efficientnet-b0',
    '--bench',
    '--image-size',
    '32',
    '--bench-seconds',
    '0.2',
    '--json',
  );
  assert.equal(r.code, 0, r.stderr);
  const rows = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.deepEqual(
    rows.map((x) => x.family),
    ['mobilenet_v2', 'efficientnet_b0'],
  );
  for (const x of rows) assert.ok(x.imagesPerSecond > 0, JSON.stringify(x));

  for (const [args, pattern] of [
    [['models', '--families', 'resnet5'], /Unknown model family "resnet5". Did you mean resnet50\?/],
    [['models', '--image-size', '64'], /only apply with --bench/],
    [['models', '--bench', '--image-size', '8'], /--image-size must be a whole number from 32/],
  ] as Array<[string[], RegExp]>) {
    const bad = tlkit(...args);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, pattern);
    assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
    assert.doesNotMatch(bad.stderr, /\n\s+at /);
  }
});

test('tlkit summary of a new family prints its Keras table', () => {
  const r = tlkit('summary', 'efficientnet_b0', '--input-shape', '224,224,3');
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.stdout.startsWith('Model: "efficientnetb0"\n'));
  assert.match(r.stdout, /│ normalization \(Normalization\) │ \(None, 224, 224, 3\)\s+│\s+7 │ rescaling\[0\]\[0\]\s+│/);
  assert.ok(
    r.stdout.endsWith(
      ' Total params: 4,049,571 (15.45 MB)\n Trainable params: 4,007,548 (15.29 MB)\n Non-trainable params: 42,023 (164.15 KB)\n',
    ),
  );
});
