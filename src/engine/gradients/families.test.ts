import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { registerWasmGradientKernels } from './index.js';
import { FAMILIES, defaultUnfreezeCount, type FamilyName } from '../../applications/index.js';
import { buildSuffixModel, cutForUnfreeze } from '../../train/suffixModel.js';
import { randomizeWeights } from '../onnx/testModels.js';

registerWasmGradientKernels();
await tf.setBackend('wasm');

/**
 * Fine-tuning's default stage of each newer family trains on the tfjs wasm backend with
 * tlkit's kernels: the gradients of every trainable weight of that stage match the cpu
 * backend's reference kernels. BatchNormalization stays frozen in inference mode, as
 * fine-tuning runs it. Small inputs keep the pure-JS reference quick (the last stage at 1x1
 * or 2x2; gradients.test.ts compares each kernel at larger sizes). Float32 finite differences
 * are too noisy over these stages to serve as the reference.
 */
interface Case {
  family: FamilyName;
  size: number;
  /** Layers fine-tuning unfreezes by default: the first and the last. */
  first: string;
  last: string;
}
const cases: Case[] = [
  { family: 'resnet50', size: 32, first: 'conv5_block1_1_conv', last: 'conv5_block3_out' },
  { family: 'efficientnet_b0', size: 64, first: 'block7a_expand_conv', last: 'top_activation' },
  { family: 'convnext_tiny', size: 32, first: 'convnext_tiny_downsampling_block_2', last: 'layer_normalization' },
];

type Node = { inboundLayers: tfl.layers.Layer[]; inputTensors: tfl.SymbolicTensor[]; outputTensors: tfl.SymbolicTensor[] };
const nodesOf = (l: tfl.layers.Layer) => (l as unknown as { inboundNodes: Node[] }).inboundNodes;

/**
 * The suffix after `cutLayer` as a model sharing the base's layers. Like the training
 * layer's buildSuffixModel, but it takes each layer's call inside the base (a nested model's
 * first node is its own, not its call), so it also cuts at or before ConvNeXt's nested
 * downsampling blocks.
 */
function suffixOf(base: tfl.LayersModel, cutLayer: string, unfrozen: string[]): tfl.LayersModel {
  const call = (l: tfl.layers.Layer) => nodesOf(l).find((n) => n.inboundLayers.length > 0) ?? nodesOf(l)[0];
  const cutOut = call(base.getLayer(cutLayer)).outputTensors[0];
  const input = tfl.input({ shape: cutOut.shape.slice(1) as number[] });
  const mapped = new Map<number, tfl.SymbolicTensor>([[cutOut.id, input]]);
  for (const name of unfrozen) {
    const layer = base.getLayer(name);
    const node = call(layer);
    const ins = node.inputTensors.map((t) => mapped.get(t.id)!);
    const out = layer.apply(ins.length === 1 ? ins[0] : ins) as tfl.SymbolicTensor;
    mapped.set(node.outputTensors[0].id, out);
  }
  return tfl.model({ inputs: input, outputs: mapped.get(base.outputs[0].id)! });
}

const variableOf = (w: tfl.LayerVariable) => (w as unknown as { val: tf.Variable }).val;

async function gradsOn(backend: 'cpu' | 'wasm', loss: () => tf.Scalar, vars: tf.Variable[]): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  return tf.tidy(() => {
    const { grads } = tf.variableGrads(loss, vars);
    return vars.map((v) => Float32Array.from(grads[v.name].dataSync()));
  });
}

function relativeError(actual: Float32Array, expected: Float32Array): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return scale === 0 ? diff : diff / scale;
}

for (const c of cases) {
  test(`${c.family}: gradients of the default fine-tuning stage on wasm match cpu`, async () => {
    await tf.setBackend('wasm');
    const base = FAMILIES[c.family].architecture({ includeTop: false, weights: 'none', inputShape: [c.size, c.size, 3] });
    randomizeWeights(base, 17);
    const unfreeze = defaultUnfreezeCount(base, c.family);
    assert.ok(unfreeze !== undefined);
    const cut = cutForUnfreeze(base, unfreeze);
    assert.equal(cut.cutLayer, FAMILIES[c.family].unfreezeAfter);
    assert.equal(cut.unfrozen[0], c.first);
    assert.equal(cut.unfrozen.at(-1), c.last);
    // the training layer's own suffix where it can build it (not yet across a nested model)
    let model: tfl.LayersModel;
    if (c.family === 'convnext_tiny') {
      for (const name of cut.unfrozen) base.getLayer(name).trainable = true;
      model = suffixOf(base, cut.cutLayer, cut.unfrozen);
    } else {
      model = buildSuffixModel(base, cut).model;
    }
    const vars = model.trainableWeights.map(variableOf);
    assert.ok(vars.length > 0);
    const x = tf.randomUniform([2, ...(model.inputs[0].shape.slice(1) as number[])], -1, 1, 'float32', 5);
    const r = tf.randomUniform([2, ...(model.outputs[0].shape.slice(1) as number[])], -1, 1, 'float32', 6);
    const loss = () => tf.sum(tf.mul(model.apply(x, { training: true }) as tf.Tensor, r)) as tf.Scalar;
    const expected = await gradsOn('cpu', loss, vars);
    const actual = await gradsOn('wasm', loss, vars);
    await tf.setBackend('wasm');
    const worst = expected.map((e, i) => ({ what: vars[i].name, err: relativeError(actual[i], e) })).sort((a, b) => b.err - a.err)[0];
    if (process.env.TLKIT_DEBUG) console.log(c.family, `${unfreeze} layers unfrozen, ${vars.length} weights; worst`, worst);
    assert.ok(worst.err <= 1e-3, `${worst.what}: relative error ${worst.err}`);
    assert.ok(expected.every((g) => g.every(Number.isFinite)) && expected.every((g) => g.some((v) => v !== 0)), 'every weight gets a gradient');
    tf.dispose([x, r]);
    base.dispose();
  });
}
