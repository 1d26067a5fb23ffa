import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeTinyBase, makeTinyDataset } from '../testing/tinyRun.js';
import { countedLayers, describeUnfreeze, fineTuneEpochLabel } from './fineTuneText.js';
import { train } from './train.js';

test('the fine-tuning start line summarises the layers: their count and the first and last names, not a wall of 20', () => {
  // MobileNetV2's top block as the family's default unfreeze gives it.
  const unfrozen = [
    ...['expand', 'expand_BN', 'expand_relu', 'depthwise', 'depthwise_BN', 'depthwise_relu', 'project', 'project_BN'].map(
      (n) => `block_16_${n}`,
    ),
    'Conv_1',
    'Conv_1_bn',
    'out_relu',
  ];
  const trainable = ['block_16_expand', 'block_16_depthwise', 'block_16_project', 'Conv_1'];
  const line = describeUnfreeze({
    source: 'nsfwjs MobileNetV2 conv base',
    unfrozen,
    trainable,
    cutLayer: 'block_15_add',
    learningRate: 1e-5,
  });
  assert.equal(
    line,
    'Fine-tuning the last 11 layers (block_16_expand ... out_relu) of nsfwjs MobileNetV2 conv base: 4 layers (block_16_expand ... Conv_1) train with the head; ' +
      '7 without trainable weights (BatchNormalization stays frozen, in inference mode). Frozen prefix up to block_15_add on ONNX Runtime; learning rate 0.00001.',
  );
  assert.equal(countedLayers(['block5_conv3']), '1 layer (block5_conv3)');
  assert.equal(fineTuneEpochLabel(20, 20, 22), 'Epoch 1/2 (fine-tuning; 21 overall)');
});

test('fine-tuning 2 epochs after a 2-epoch run counts them 1/2 and 2/2 (and 3, 4 overall)', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-ftwords-'));
  const data = await makeTinyDataset(path.join(root, 'data'), { train: 4, validation: 2 });
  const base = await makeTinyBase(path.join(root, 'base'));
  const common = { data, base, epochs: 2, batchSize: 8, headUnits: 4, cacheDir: path.join(root, 'cache') };
  await train({ ...common, out: path.join(root, 'head'), verbose: 0 }, { log: () => {} });
  const printed: string[] = [];
  const lines: string[] = [];
  const write = process.stdout.write;
  process.stdout.write = ((chunk: string | Uint8Array) => printed.push(String(chunk)) > 0) as typeof process.stdout.write;
  try {
    await train(
      { ...common, mode: 'finetune', from: path.join(root, 'head'), out: path.join(root, 'tuned'), unfreeze: 2 },
      { log: (l) => lines.push(l) },
    );
  } finally {
    process.stdout.write = write;
  }
  const headers = printed.join('').match(/^Epoch .*$/gm);
  assert.deepEqual(headers, ['Epoch 1/2 (fine-tuning; 3 overall)', 'Epoch 2/2 (fine-tuning; 4 overall)']);
  assert.ok(
    lines.some((l) => /^Fine-tuning the last 2 layers \(conv1, pool1\) of .*: 1 layer \(conv1\) train with the head/.test(l)),
    lines.join('\n'),
  );
});
