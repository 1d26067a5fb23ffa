import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend } from '../tfjs/backend.js';
import { FAMILIES, type FamilyName } from '../applications/index.js';
import { summarizeModel, formatSummary, type SummaryRow } from './summary.js';

await initBackend();

// Rows of Keras 3's model.summary() for the newer families, written out by hand from
// Keras's architecture code (keras/src/applications/resnet.py, efficientnet.py,
// convnext.py): [name, class, output shape, params, connected to]. Parameter counts:
// Conv2D k*k*in*out + out, BatchNormalization 4*c, LayerNormalization 2*c, Dense in*out + out.
type Row = [string, string, Array<number | null>, number, string[]];

const row = (r: SummaryRow): Row => [r.name, r.className, r.outputShape as Array<number | null>, r.params, r.connectedTo];

/** `expected` must appear in the summary as consecutive rows, in this order. */
function assertRuns(rows: Row[], expected: Row[][]): void {
  for (const run of expected) {
    const start = rows.findIndex((r) => r[0] === run[0][0]);
    assert.ok(start >= 0, `no row ${run[0][0]}`);
    assert.deepEqual(rows.slice(start, start + run.length), run);
  }
}

const at224 = { weights: 'none', includeTop: false, inputShape: [224, 224, 3] as [number, number, number] };

function summary(family: FamilyName, args: object) {
  const m = FAMILIES[family].architecture(args);
  const s = summarizeModel(m);
  m.dispose();
  return s;
}

test("resnet50: Keras rows (stem, the first bottleneck in Keras's depth order, the end) and totals", () => {
  const s = summary('resnet50', { weights: 'none', includeTop: true });
  assert.equal(s.sequentialLike, false);
  assertRuns(s.layers.map(row), [
    [
      ['input_layer', 'InputLayer', [null, 224, 224, 3], 0, []],
      ['conv1_pad', 'ZeroPadding2D', [null, 230, 230, 3], 0, ['input_layer[0][0]']],
      ['conv1_conv', 'Conv2D', [null, 112, 112, 64], 7 * 7 * 3 * 64 + 64, ['conv1_pad[0][0]']],
      ['conv1_bn', 'BatchNormalization', [null, 112, 112, 64], 256, ['conv1_conv[0][0]']],
      ['conv1_relu', 'Activation', [null, 112, 112, 64], 0, ['conv1_bn[0][0]']],
      ['pool1_pad', 'ZeroPadding2D', [null, 114, 114, 64], 0, ['conv1_relu[0][0]']],
      ['pool1_pool', 'MaxPooling2D', [null, 56, 56, 64], 0, ['pool1_pad[0][0]']],
      ['conv2_block1_1_conv', 'Conv2D', [null, 56, 56, 64], 64 * 64 + 64, ['pool1_pool[0][0]']],
      ['conv2_block1_1_bn', 'BatchNormalization', [null, 56, 56, 64], 256, ['conv2_block1_1_conv[0][0]']],
      ['conv2_block1_1_relu', 'Activation', [null, 56, 56, 64], 0, ['conv2_block1_1_bn[0][0]']],
      ['conv2_block1_2_conv', 'Conv2D', [null, 56, 56, 64], 9 * 64 * 64 + 64, ['conv2_block1_1_relu[0][0]']],
      ['conv2_block1_2_bn', 'BatchNormalization', [null, 56, 56, 64], 256, ['conv2_block1_2_conv[0][0]']],
      ['conv2_block1_2_relu', 'Activation', [null, 56, 56, 64], 0, ['conv2_block1_2_bn[0][0]']],
      ['conv2_block1_0_conv', 'Conv2D', [null, 56, 56, 256], 64 * 256 + 256, ['pool1_pool[0][0]']],
      ['conv2_block1_3_conv', 'Conv2D', [null, 56, 56, 256], 64 * 256 + 256, ['conv2_block1_2_relu[0][0]']],
      ['conv2_block1_0_bn', 'BatchNormalization', [null, 56, 56, 256], 1024, ['conv2_block1_0_conv[0][0]']],
      ['conv2_block1_3_bn', 'BatchNormalization', [null, 56, 56, 256], 1024, ['conv2_block1_3_conv[0][0]']],
      ['conv2_block1_add', 'Add', [null, 56, 56, 256], 0, ['conv2_block1_0_bn[0][0]', 'conv2_block1_3_bn[0][0]']],
      ['conv2_block1_out', 'Activation', [null, 56, 56, 256], 0, ['conv2_block1_add[0][0]']],
      ['conv2_block2_1_conv', 'Conv2D', [null, 56, 56, 64], 256 * 64 + 64, ['conv2_block1_out[0][0]']],
    ],
    [['conv3_block1_1_conv', 'Conv2D', [null, 28, 28, 128], 256 * 128 + 128, ['conv2_block3_out[0][0]']]],
    [
      ['conv5_block3_add', 'Add', [null, 7, 7, 2048], 0, ['conv5_block2_out[0][0]', 'conv5_block3_3_bn[0][0]']],
      ['conv5_block3_out', 'Activation', [null, 7, 7, 2048], 0, ['conv5_block3_add[0][0]']],
      ['avg_pool', 'GlobalAveragePooling2D', [null, 2048], 0, ['conv5_block3_out[0][0]']],
      ['predictions', 'Dense', [null, 1000], 2048 * 1000 + 1000, ['avg_pool[0][0]']],
    ],
  ]);
  assert.equal(s.totalParams, 25_636_712);
  assert.ok(
    formatSummary(s).endsWith(
      ' Total params: 25,636,712 (97.80 MB)\n Trainable params: 25,583,592 (97.59 MB)\n Non-trainable params: 53,120 (207.50 KB)\n',
    ),
  );
});

test('efficientnet_b0: Keras rows (stem with Rescaling and Normalization, squeeze-and-excite, drop connect, top) and totals', () => {
  const s = summary('efficientnet_b0', { weights: 'none', includeTop: true });
  assertRuns(s.layers.map(row), [
    [
      ['input_layer', 'InputLayer', [null, 224, 224, 3], 0, []],
      ['rescaling', 'Rescaling', [null, 224, 224, 3], 0, ['input_layer[0][0]']],
      ['normalization', 'Normalization', [null, 224, 224, 3], 7, ['rescaling[0][0]']],
      ['stem_conv_pad', 'ZeroPadding2D', [null, 225, 225, 3], 0, ['normalization[0][0]']],
      ['stem_conv', 'Conv2D', [null, 112, 112, 32], 9 * 3 * 32, ['stem_conv_pad[0][0]']],
      ['stem_bn', 'BatchNormalization', [null, 112, 112, 32], 128, ['stem_conv[0][0]']],
      ['stem_activation', 'Activation', [null, 112, 112, 32], 0, ['stem_bn[0][0]']],
      ['block1a_dwconv', 'DepthwiseConv2D', [null, 112, 112, 32], 9 * 32, ['stem_activation[0][0]']],
      ['block1a_bn', 'BatchNormalization', [null, 112, 112, 32], 128, ['block1a_dwconv[0][0]']],
      ['block1a_activation', 'Activation', [null, 112, 112, 32], 0, ['block1a_bn[0][0]']],
      ['block1a_se_squeeze', 'GlobalAveragePooling2D', [null, 32], 0, ['block1a_activation[0][0]']],
      ['block1a_se_reshape', 'Reshape', [null, 1, 1, 32], 0, ['block1a_se_squeeze[0][0]']],
      ['block1a_se_reduce', 'Conv2D', [null, 1, 1, 8], 32 * 8 + 8, ['block1a_se_reshape[0][0]']],
      ['block1a_se_expand', 'Conv2D', [null, 1, 1, 32], 8 * 32 + 32, ['block1a_se_reduce[0][0]']],
      ['block1a_se_excite', 'Multiply', [null, 112, 112, 32], 0, ['block1a_activation[0][0]', 'block1a_se_expand[0][0]']],
      ['block1a_project_conv', 'Conv2D', [null, 112, 112, 16], 32 * 16, ['block1a_se_excite[0][0]']],
      ['block1a_project_bn', 'BatchNormalization', [null, 112, 112, 16], 64, ['block1a_project_conv[0][0]']],
      ['block2a_expand_conv', 'Conv2D', [null, 112, 112, 96], 16 * 96, ['block1a_project_bn[0][0]']],
    ],
    [
      ['block2a_expand_activation', 'Activation', [null, 112, 112, 96], 0, ['block2a_expand_bn[0][0]']],
      ['block2a_dwconv_pad', 'ZeroPadding2D', [null, 113, 113, 96], 0, ['block2a_expand_activation[0][0]']],
      ['block2a_dwconv', 'DepthwiseConv2D', [null, 56, 56, 96], 9 * 96, ['block2a_dwconv_pad[0][0]']],
    ],
    [
      ['block2b_project_bn', 'BatchNormalization', [null, 56, 56, 24], 96, ['block2b_project_conv[0][0]']],
      ['block2b_drop', 'Dropout', [null, 56, 56, 24], 0, ['block2b_project_bn[0][0]']],
      ['block2b_add', 'Add', [null, 56, 56, 24], 0, ['block2b_drop[0][0]', 'block2a_project_bn[0][0]']],
    ],
    [
      ['block7a_project_bn', 'BatchNormalization', [null, 7, 7, 320], 1280, ['block7a_project_conv[0][0]']],
      ['top_conv', 'Conv2D', [null, 7, 7, 1280], 320 * 1280, ['block7a_project_bn[0][0]']],
      ['top_bn', 'BatchNormalization', [null, 7, 7, 1280], 5120, ['top_conv[0][0]']],
      ['top_activation', 'Activation', [null, 7, 7, 1280], 0, ['top_bn[0][0]']],
      ['avg_pool', 'GlobalAveragePooling2D', [null, 1280], 0, ['top_activation[0][0]']],
      ['top_dropout', 'Dropout', [null, 1280], 0, ['avg_pool[0][0]']],
      ['predictions', 'Dense', [null, 1000], 1280 * 1000 + 1000, ['top_dropout[0][0]']],
    ],
  ]);
  assert.ok(
    formatSummary(s).endsWith(
      ' Total params: 5,330,571 (20.33 MB)\n Trainable params: 5,288,548 (20.17 MB)\n Non-trainable params: 42,023 (164.15 KB)\n',
    ),
  );
});

test('convnext_tiny: Keras rows (prestem, nested Sequential stem and downsampling blocks, Add operations, LayerScale) and totals', () => {
  const s = summary('convnext_tiny', at224);
  const b = (stage: number, block: number, part: string) => `convnext_tiny_stage_${stage}_block_${block}_${part}`;
  assertRuns(s.layers.map(row), [
    [
      ['input_layer', 'InputLayer', [null, 224, 224, 3], 0, []],
      ['convnext_tiny_prestem_normalization', 'Normalization', [null, 224, 224, 3], 0, ['input_layer[0][0]']],
      ['convnext_tiny_stem', 'Sequential', [null, 56, 56, 96], 4 * 4 * 3 * 96 + 96 + 2 * 96, ['convnext_tiny_prestem_normalization[0][0]']],
      [b(0, 0, 'depthwise_conv'), 'Conv2D', [null, 56, 56, 96], 7 * 7 * 96 + 96, ['convnext_tiny_stem[0][0]']],
      [b(0, 0, 'layernorm'), 'LayerNormalization', [null, 56, 56, 96], 192, [`${b(0, 0, 'depthwise_conv')}[0][0]`]],
      [b(0, 0, 'pointwise_conv_1'), 'Dense', [null, 56, 56, 384], 96 * 384 + 384, [`${b(0, 0, 'layernorm')}[0][0]`]],
      [b(0, 0, 'gelu'), 'Activation', [null, 56, 56, 384], 0, [`${b(0, 0, 'pointwise_conv_1')}[0][0]`]],
      [b(0, 0, 'pointwise_conv_2'), 'Dense', [null, 56, 56, 96], 384 * 96 + 96, [`${b(0, 0, 'gelu')}[0][0]`]],
      [b(0, 0, 'layer_scale'), 'LayerScale', [null, 56, 56, 96], 96, [`${b(0, 0, 'pointwise_conv_2')}[0][0]`]],
      [b(0, 0, 'identity'), 'Activation', [null, 56, 56, 96], 0, [`${b(0, 0, 'layer_scale')}[0][0]`]],
      ['add', 'Add', [null, 56, 56, 96], 0, ['convnext_tiny_stem[0][0]', `${b(0, 0, 'identity')}[0][0]`]],
      [b(0, 1, 'depthwise_conv'), 'Conv2D', [null, 56, 56, 96], 7 * 7 * 96 + 96, ['add[0][0]']],
    ],
    [
      ['add_14', 'Add', [null, 14, 14, 384], 0, ['add_13[0][0]', `${b(2, 8, 'identity')}[0][0]`]],
      ['convnext_tiny_downsampling_block_2', 'Sequential', [null, 7, 7, 768], 2 * 384 + 2 * 2 * 384 * 768 + 768, ['add_14[0][0]']],
      [b(3, 0, 'depthwise_conv'), 'Conv2D', [null, 7, 7, 768], 7 * 7 * 768 + 768, ['convnext_tiny_downsampling_block_2[0][0]']],
    ],
    [
      ['add_17', 'Add', [null, 7, 7, 768], 0, ['add_16[0][0]', `${b(3, 2, 'identity')}[0][0]`]],
      ['layer_normalization', 'LayerNormalization', [null, 7, 7, 768], 1536, ['add_17[0][0]']],
    ],
  ]);
  assert.equal(s.layers.at(-1)?.name, 'layer_normalization');
  assert.ok(
    formatSummary(s).endsWith(
      ' Total params: 27,820,128 (106.13 MB)\n Trainable params: 27,820,128 (106.13 MB)\n Non-trainable params: 0 (0.00 B)\n',
    ),
  );
  const top = summary('convnext_tiny', { weights: 'none', includeTop: true });
  assertRuns(top.layers.map(row), [
    [
      ['convnext_tiny_head_gap', 'GlobalAveragePooling2D', [null, 768], 0, ['add_17[0][0]']],
      ['convnext_tiny_head_layernorm', 'LayerNormalization', [null, 768], 1536, ['convnext_tiny_head_gap[0][0]']],
      ['convnext_tiny_head_dense', 'Dense', [null, 1000], 768 * 1000 + 1000, ['convnext_tiny_head_layernorm[0][0]']],
    ],
  ]);
  assert.equal(top.totalParams, 28_589_128);
});

test('the printed table: grouped Conv2D and nested Sequential rows as Keras prints them', () => {
  const text = formatSummary(summary('convnext_tiny', at224));
  assert.ok(text.startsWith('Model: "convnext_tiny"\n'));
  assert.ok(
    text.includes(
      '│ convnext_tiny_stem            │ (None, 56, 56, 96)        │           4,896 │ convnext_tiny_prestem_nor… │\n│ (Sequential)                  │',
    ),
  );
  assert.ok(text.includes('│ add (Add)                     │ (None, 56, 56, 96)        │               0 │ convnext_tiny_stem[0][0],  │'));
  assert.ok(
    text.includes(
      '│ convnext_tiny_stage_0_block_… │ (None, 56, 56, 96)        │           4,800 │ convnext_tiny_stem[0][0]   │\n│ (Conv2D)                      │',
    ),
  );
});
