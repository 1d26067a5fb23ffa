import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { STAGE_ENDS } from '../applications/catalog.js';
import { FAMILIES, FAMILY_NAMES } from '../applications/index.js';
import { OrtTrainer } from '../ortTraining/ortTrainer.js';
import { initBackend } from '../tfjs/backend.js';
import { registerWasmGradientKernels } from '../tfjs/gradients/index.js';
import { compileHeadForTraining, buildHeadForTraining, headLossFromLogits } from './head.js';
import { describeLayerGroups, evenMults, layerGroups, rateMultipliers, splitAtStageEnds } from './layerGroups.js';
import { recipeUnfreeze } from '../workflows/recipe.js';
import { SGD } from './sgd.js';
import { buildSuffixModel, cutForUnfreeze } from './suffixModel.js';

test("evenMults is fastai's even_mults: geometric steps from start to stop", () => {
  const close = (a: number[], b: number[]) => a.every((v, i) => Math.abs(v - b[i]) <= 1e-12 * Math.abs(b[i]));
  assert.ok(close(evenMults(1e-5, 1e-3, 3), [1e-5, 1e-4, 1e-3]));
  assert.ok(close(evenMults(0.01, 1, 2), [0.01, 1]));
  assert.deepEqual(evenMults(0.01, 1, 1), [1]);
  const four = evenMults(1 / 1000, 1, 4);
  assert.ok(close(four, [1e-3, 1e-2, 1e-1, 1]), four.join(', '));
});

test("every family's stage ends are layers of its conv base, in the base's order, and split it into stages; the recipe unfreezes the last two", async () => {
  await initBackend();
  for (const family of FAMILY_NAMES) {
    const model = FAMILIES[family].architecture({ includeTop: false, weights: 'none', inputShape: [32, 32, 3] });
    const body = model.layers.filter((l) => l.getClassName() !== 'InputLayer').map((l) => l.name);
    const at = STAGE_ENDS[family].map((name) => body.indexOf(name));
    assert.ok(
      at.every((i) => i >= 0),
      `${family}: ${STAGE_ENDS[family].filter((_, k) => at[k] < 0).join(', ')} not in the base`,
    );
    assert.ok(
      at.every((i, k) => k === 0 || i > at[k - 1]),
      `${family}: stage ends out of order`,
    );
    assert.ok(at.at(-1)! < body.length - 1, `${family}: the base's last layer ends the last stage by itself`);
    const stages = splitAtStageEnds(body, STAGE_ENDS[family]);
    assert.equal(stages.length, STAGE_ENDS[family].length + 1, family);
    assert.deepEqual(stages.flat(), body, family);
    // The default fine-tuning cut keeps at least the last stage whole.
    const suffix = body.slice(body.indexOf(FAMILIES[family].unfreezeAfter) + 1);
    assert.deepEqual(splitAtStageEnds(suffix, STAGE_ENDS[family]).at(-1), stages.at(-1), family);
    // The recipe's cut: the last two stages, two layer groups, a suffix without skip connections from before it.
    const cut = cutForUnfreeze(model, recipeUnfreeze(model, family)!);
    assert.equal(cut.cutLayer, STAGE_ENDS[family].at(-2), family);
    assert.deepEqual(splitAtStageEnds(cut.unfrozen, STAGE_ENDS[family]), stages.slice(-2), family);
    buildSuffixModel(model, cut);
    model.dispose();
  }
});

test('layer groups: VGG16 --unfreeze 8 is block4, block5 and the head, at lr/100, lr/10 and lr', async () => {
  await initBackend();
  const base = FAMILIES.vgg16.architecture({ includeTop: false, weights: 'none', inputShape: [32, 32, 3] });
  const cut = cutForUnfreeze(base, 8);
  const baseGroups = splitAtStageEnds(cut.unfrozen, STAGE_ENDS.vgg16);
  assert.deepEqual(baseGroups, [
    ['block4_conv1', 'block4_conv2', 'block4_conv3', 'block4_pool'],
    ['block5_conv1', 'block5_conv2', 'block5_conv3', 'block5_pool'],
  ]);
  const { model } = trainableModel(base, cut);
  const groups = layerGroups(model, baseGroups, 100);
  assert.deepEqual(
    groups.map((g) => g.multiplier.toPrecision(6)),
    ['0.0100000', '0.100000', '1.00000'],
  );
  assert.deepEqual(groups[2].layers, ['head_logits']);
  const multipliers = rateMultipliers(model, groups);
  // Every trainable variable has its group's multiplier, under the name the optimizer is given.
  assert.deepEqual(Object.keys(multipliers).sort(), model.trainableWeights.map((w) => w.name).sort());
  assert.equal(multipliers[base.getLayer('block4_conv1').trainableWeights[0].name], groups[0].multiplier);
  assert.match(
    describeLayerGroups(groups, 2e-3),
    /^block4_conv1\.\.block4_pool at 2\.0e-5, block5_conv1\.\.block5_pool at 2\.0e-4, the head at 2\.0e-3$/,
  );
  // lrMult 1 is one rate for all: no multipliers at all.
  assert.deepEqual(rateMultipliers(model, layerGroups(model, baseGroups, 1)), {});
  base.dispose();
});

/** VGG16's suffix after `cut` + a head without dropout (a step is deterministic), logits out. */
function trainableModel(base: tfl.LayersModel, cut: ReturnType<typeof cutForUnfreeze>): { model: tfl.LayersModel; inputShape: number[] } {
  const suffix = buildSuffixModel(base, cut);
  const head = buildHeadForTraining(suffix.model.outputs[0].shape.slice(1) as number[], { numClasses: 2, units: 8, dropout: 0, seed: 3 });
  const model = tfl.model({
    inputs: suffix.model.inputs,
    outputs: head.logits.apply(suffix.model.outputs[0]) as tfl.SymbolicTensor,
    name: 'finetune',
  });
  return { model, inputShape: suffix.inputShape };
}

for (const engine of ['tfjs', 'ort'] as const) {
  test(`discriminative rates (${engine}): one plain SGD step moves each group by its rate, the earliest unfrozen group 100x less than the head (lrMult 100)`, async () => {
    await initBackend();
    registerWasmGradientKernels();
    const base = FAMILIES.vgg16.architecture({ includeTop: false, weights: 'none', inputShape: [32, 32, 3] });
    const cut = cutForUnfreeze(base, 8);
    const { model, inputShape } = trainableModel(base, cut);
    const groups = layerGroups(model, splitAtStageEnds(cut.unfrozen, STAGE_ENDS.vgg16), 100);
    const lr = 0.05;
    compileHeadForTraining(model, 2, new SGD(lr, rateMultipliers(model, groups)));

    const x = tf.randomUniform([8, ...inputShape], 0, 4, 'float32', 21);
    const y = tf.tensor2d([[0], [1], [0], [1], [1], [0], [1], [0]]);
    const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
    // The gradient at the starting weights (no dropout: the step's own gradient).
    const { grads } = tf.variableGrads(
      () => headLossFromLogits(2)(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar,
      variables,
    );
    const before = new Map(variables.map((v) => [v.name, v.clone()]));
    if (engine === 'ort') {
      // The generated training graphs apply the update with each variable's multiplier.
      const trainer = await OrtTrainer.create(model);
      await trainer.trainOnBatch(x, y);
      await trainer.syncWeights();
      await trainer.dispose();
    } else {
      await model.trainOnBatch(x, y);
    }

    const norm = (t: tf.Tensor) => Math.sqrt(tf.sum(tf.square(t)).dataSync()[0]);
    /** |dw| / |g| of a layer's kernel: the rate it stepped at (exact for SGD without momentum). */
    const rateOf = (layer: string) => {
      const v = model.trainableWeights.find((w) => w.name.startsWith(`${layer}/kernel`));
      assert.ok(v, `${layer}'s kernel among ${model.trainableWeights.map((w) => w.name).join(', ')}`);
      return norm(tf.sub(v.read(), before.get(v.name)!)) / norm(grads[v.name]);
    };
    const first = rateOf('block4_conv1');
    const middle = rateOf('block5_conv1');
    const head = rateOf('head_output');
    assert.ok(Math.abs(head / lr - 1) < 0.01, `the head steps at lr: ${head} vs ${lr}`);
    assert.ok(Math.abs(head / first / 100 - 1) < 0.01, `head / first group = ${head / first}, expected 100`);
    assert.ok(Math.abs(head / middle / 10 - 1) < 0.01, `head / middle group = ${head / middle}, expected 10`);
    base.dispose();
  });
}
