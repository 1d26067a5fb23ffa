// Keras 3's keras/src/applications/applications_test.py, for the families tlkit has
// (VGG16, MobileNet, MobileNetV2, ResNet50, EfficientNetB0, ConvNeXtTiny), channels-last. Keras's "last_dim" per model kept.
// Cases that cannot apply (channels_first, the ImageNet elephant) are listed in
// docs/keras-differences.md.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '../tfjs/backend.js';
import { FAMILIES, type FamilyName } from './index.js';

await initBackend();

const MODEL_LIST: Array<[FamilyName, number]> = [
  ['vgg16', 512],
  ['mobilenet', 1024],
  ['mobilenet_v2', 1280],
  ['resnet50', 2048],
  ['efficientnet_b0', 1280],
  ['convnext_tiny', 768],
];

for (const [family, lastDim] of MODEL_LIST) {
  const build = FAMILIES[family].architecture;

  test(`keras applications test_application_notop_variable_input_channels (${family}): 1 and 4 channels, output [null, null, null, ${lastDim}]`, () => {
    for (const channels of [1, 4]) {
      const m = build({ weights: 'none', includeTop: false, inputShape: [null, null, channels] as unknown as [number, number, number] });
      assert.deepEqual(m.outputs[0].shape, [null, null, null, lastDim], `${channels} channels`);
      m.dispose();
    }
  });

  test(`keras applications test_application_notop_custom_input_shape (${family}): 123x123x3 ends in ${lastDim} channels`, () => {
    const m = build({ weights: 'none', includeTop: false, inputShape: [123, 123, 3] });
    assert.equal(m.outputs[0].shape.at(-1), lastDim);
    m.dispose();
  });

  test(`keras applications test_application_notop_custom_input_tensor (${family}): built on Conv2D(3, 2, strides 2) of a 200x200x4 input`, () => {
    const input = tfl.input({ shape: [200, 200, 4], name: 'custom_input' });
    const x = tfl.layers.conv2d({ filters: 3, kernelSize: [2, 2], padding: 'valid', strides: [2, 2] }).apply(input) as tfl.SymbolicTensor;
    const m = build({ weights: 'none', includeTop: false, inputTensor: x });
    assert.equal(m.outputs[0].shape.at(-1), lastDim);
    m.dispose();
  });

  test(`keras applications test_application_pooling (${family}): pooling 'max' gives [null, ${lastDim}]`, () => {
    const m = build({ weights: 'none', includeTop: false, pooling: 'max' });
    assert.deepEqual(m.outputs[0].shape, [null, lastDim]);
    m.dispose();
  });

  test(`keras applications test_application_classifier_activation (${family}): the last layer's activation is softmax`, () => {
    const m = build({ weights: 'none', includeTop: true, classifierActivation: 'softmax' });
    const last = m.layers[m.layers.length - 1];
    const cfg = last.getConfig() as { activation?: string };
    assert.equal(cfg.activation, 'softmax');
    m.dispose();
  });
}

for (const [family] of MODEL_LIST) {
  test(`keras applications test_application_base, serialization part (${family}): the config rebuilds a model with as many weights`, async () => {
    const m = FAMILIES[family].architecture({ weights: 'none', includeTop: true });
    const rebuilt = await tfl.models.modelFromJSON({ modelTopology: m.toJSON(null, false) as object } as never);
    assert.equal(rebuilt.weights.length, m.weights.length);
    assert.deepEqual(rebuilt.outputs[0].shape, [null, 1000]);
    m.dispose();
    rebuilt.dispose();
  });
}
