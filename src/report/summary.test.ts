import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '../tfjs/backend.js';
import { FAMILIES } from '../applications/index.js';
import { VGG16_180_SUMMARY } from '../testing/summaryFixtures.js';
import { summarizeModel, formatSummary, modelSummary, readableMemorySize, withCommas, columnWidths, wrapCell } from './summary.js';

await initBackend();

test('VGG16 conv base at 180x180 prints the Keras 3 table row for row', () => {
  const m = FAMILIES.vgg16.architecture({ includeTop: false, weights: 'none', inputShape: [180, 180, 3] });
  assert.equal(modelSummary(m), VGG16_180_SUMMARY);
  const s = summarizeModel(m);
  assert.equal(s.totalParams, 14_714_688);
  assert.deepEqual(
    s.layers.find((l) => l.name === 'block5_conv1'),
    {
      name: 'block5_conv1',
      className: 'Conv2D',
      outputShape: [null, 11, 11, 512],
      params: 2_359_808,
      trainable: true,
      connectedTo: ['block4_pool[0][0]'],
    },
  );
  m.dispose();
});

test('frozen layers and batch-norm moving statistics count as non-trainable, as in Keras', () => {
  const m = FAMILIES.mobilenet.architecture({ includeTop: false, weights: 'none', inputShape: [224, 224, 3] });
  let s = summarizeModel(m);
  assert.equal(s.totalParams, 3_228_864);
  assert.equal(s.nonTrainableParams, 21_888);
  assert.equal(s.trainableParams, 3_228_864 - 21_888);
  m.trainable = false;
  s = summarizeModel(m);
  assert.equal(s.trainableParams, 0);
  assert.equal(s.nonTrainableParams, 3_228_864);
  assert.match(
    formatSummary(s),
    / Total params: 3,228,864 \(12\.32 MB\)\n Trainable params: 0 \(0\.00 B\)\n Non-trainable params: 3,228,864 \(12\.32 MB\)\n$/,
  );
  m.dispose();
});

test('a model with merges gets the 4-column table with "Connected to"', () => {
  const m = FAMILIES.mobilenet_v2.architecture({ includeTop: false, weights: 'none', inputShape: [224, 224, 3] });
  const s = summarizeModel(m);
  assert.equal(s.sequentialLike, false);
  assert.deepEqual(s.layers.find((l) => l.name === 'block_2_add')?.connectedTo, ['block_1_project_BN[0][0]', 'block_2_project_BN[0][0]']);
  const text = formatSummary(s);
  assert.ok(text.includes('┃ Layer (type)                  ┃ Output Shape              ┃         Param # ┃ Connected to               ┃'));
  assert.ok(
    text.includes(
      '│ block_2_add (Add)             │ (None, 56, 56, 24)        │               0 │ block_1_project_BN[0][0],  │\n│                               │                           │                 │ block_2_project_BN[0][0]   │',
    ),
  );
  assert.ok(
    text.includes(
      '│ expanded_conv_depthwise_BN    │ (None, 112, 112, 32)      │             128 │ expanded_conv_depthwise[0… │\n│ (BatchNormalization)          │',
    ),
  );
  assert.ok(
    text.endsWith(
      ' Total params: 2,257,984 (8.61 MB)\n Trainable params: 2,223,872 (8.48 MB)\n Non-trainable params: 34,112 (133.25 KB)\n',
    ),
  );
  m.dispose();
});

test('a nested model is reported as Keras reports it (Functional)', () => {
  const inner = tfl.sequential({ layers: [tfl.layers.dense({ units: 3, inputShape: [4], name: 'd' })], name: 'inner' });
  const input = tfl.input({ shape: [4], name: 'x' });
  const outer = tfl.model({ inputs: input, outputs: inner.apply(input) as tfl.SymbolicTensor, name: 'outer' });
  const s = summarizeModel(outer);
  assert.equal(s.layers[1].className, 'Sequential');
  assert.equal(s.layers[1].params, 15);
  assert.deepEqual(s.layers[1].outputShape, [null, 3]);
});

test('sizes, separators, widths and wrapping follow Keras and rich', () => {
  assert.equal(readableMemorySize(14_714_688 * 4), '56.13 MB');
  assert.equal(readableMemorySize(138_357_544 * 4), '527.79 MB');
  assert.equal(readableMemorySize(0), '0.00 B');
  assert.equal(readableMemorySize(1000), '1000.00 B');
  assert.equal(readableMemorySize(34_112 * 4), '133.25 KB');
  assert.equal(withCommas(14714688), '14,714,688');
  assert.equal(withCommas(0), '0');
  assert.equal(withCommas(999), '999');
  assert.deepEqual(columnWidths(3), [36, 27, 15]);
  assert.deepEqual(columnWidths(4), [29, 25, 15, 26]);
  assert.deepEqual(wrapCell('block_16_depthwise_relu (ReLU)', 29), ['block_16_depthwise_relu', '(ReLU)']);
  assert.deepEqual(wrapCell('abcdefghij', 5), ['abcd…']);
});
