import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { FAMILIES, FAMILY_NAMES } from '../applications/index.js';
import { assembleFullModel } from '../fit/assembleModel.js';
import { buildHeadForTraining } from '../fit/head.js';
import { initBackend } from '../tfjs/backend.js';
import { registerWasmGradientKernels } from '../tfjs/gradients/index.js';
import { gradCamOfFeatures } from './gradCam.js';
import { baseOutputTensor, layerOutputTensor, logitsFrom } from './scoreGraph.js';

// Every Keras family, as a run saves it (one flat model: preprocess + base + head): the
// feature map Grad-CAM takes is the family's last conv layer, the part after it rebuilt in
// tfjs gives the saved model's own output, and so does the part after the fine-tuning cut
// (the unfrozen stage + the head); gradients flow through both. The families' own random
// initial weights (drawing others would double the time of the large ones), small inputs.

await initBackend();
registerWasmGradientKernels();

for (const family of FAMILY_NAMES) {
  test(`${family}: the head after the base's last feature map, and the stage after the fine-tuning cut, rebuilt with the saved model's output`, async () => {
    const f = FAMILIES[family];
    const size = Math.max(f.minSize, 32);
    const base = f.architecture({ includeTop: false, weights: 'none', inputShape: [size, size, 3] });
    const { head } = buildHeadForTraining(base.outputs[0].shape.slice(1) as number[], { numClasses: 3, units: 8, seed: 2 });
    const full = await assembleFullModel({ preprocessing: f.preprocessing, base, head });
    const x = tf.randomUniform([2, size, size, 3], 0, 255, 'float32', 9);
    try {
      const probabilities = full.predict(x) as tf.Tensor;
      const expected = await probabilities.data();
      for (const [what, start] of [
        ['base', baseOutputTensor(full)],
        ['cut', layerOutputTensor(full, f.unfreezeAfter)],
      ] as const) {
        if (what === 'base') assert.equal(start.sourceLayer.name, f.lastConvLayer, "the base's last feature map");
        assert.equal(start.shape.length, 4);
        const prefix = tfl.model({ inputs: full.inputs, outputs: start });
        const features = prefix.predict(x) as tf.Tensor4D;
        const logits = logitsFrom(full, start);
        const softmax = tf.tidy(() => tf.softmax(logits.predict(features) as tf.Tensor2D));
        const actual = await softmax.data();
        const worst = Math.max(...Array.from(actual, (v, i) => Math.abs(v - expected[i])));
        assert.ok(worst < 1e-4, `${what}: softmax of the rebuilt logits vs the model's output: ${worst}`);
        const [cam] = gradCamOfFeatures(logits, (await features.data()) as Float32Array, features.shape, []);
        assert.ok(cam.weights.every(Number.isFinite) && cam.weights.some((w) => w !== 0), `${what}: finite, non-zero channel weights`);
        tf.dispose([features, softmax]);
      }
      probabilities.dispose();
    } finally {
      x.dispose();
      full.dispose();
      base.dispose();
      head.dispose();
    }
  });
}
