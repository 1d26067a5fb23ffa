import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { registerWasmGradientKernels } from './index.js';
import { FAMILIES, defaultUnfreezeCount, type FamilyName } from '../../applications/index.js';
import { randomizeWeights } from '../../testing/testModels.js';
import { assertWorstError } from '../../testing/numerics.js';

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
 * The suffix after `cutLayer` as a model sharing the base's layers, as fine-tuning builds
 * it: each layer re-applied from its call inside the base (a nested model's first node is
 * its own, not its call, so take the node that has inbound layers: this also cuts at or
 * before ConvNeXt's nested downsampling blocks).
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
  // the gradients leave tidy as tensors: tidy walks what it returns, index by index for typed arrays
  const grads = tf.tidy(() => {
    const g = tf.variableGrads(loss, vars).grads;
    return vars.map((v) => g[v.name]);
  });
  const values = grads.map((g) => new Float32Array(g.dataSync() as Float32Array));
  tf.dispose(grads);
  return values;
}

for (const c of cases) {
  test(`${c.family}: gradients of the default fine-tuning stage on wasm match cpu`, async () => {
    await tf.setBackend('wasm');
    const base = FAMILIES[c.family].architecture({ includeTop: false, weights: 'none', inputShape: [c.size, c.size, 3] });
    randomizeWeights(base, 17);
    const unfreeze = defaultUnfreezeCount(base, c.family);
    assert.ok(unfreeze !== undefined);
    // `--unfreeze N` counts layers after the input, as the training layer does
    const body = base.layers.filter((l) => l.getClassName() !== 'InputLayer');
    const cutLayer = body[body.length - unfreeze - 1].name;
    const unfrozen = body.slice(body.length - unfreeze).map((l) => l.name);
    assert.equal(cutLayer, FAMILIES[c.family].unfreezeAfter);
    assert.equal(unfrozen[0], c.first);
    assert.equal(unfrozen.at(-1), c.last);
    // BatchNormalization stays frozen (fine-tuning keeps it in inference mode: training false below)
    for (const name of unfrozen) base.getLayer(name).trainable = base.getLayer(name).getClassName() !== 'BatchNormalization';
    const model = suffixOf(base, cutLayer, unfrozen);
    const vars = model.trainableWeights.map(variableOf);
    assert.ok(vars.length > 0);
    const x = tf.randomUniform([2, ...(model.inputs[0].shape.slice(1) as number[])], -1, 1, 'float32', 5);
    const r = tf.randomUniform([2, ...(model.outputs[0].shape.slice(1) as number[])], -1, 1, 'float32', 6);
    const loss = () => tf.sum(tf.mul(model.apply(x, { training: false }) as tf.Tensor, r)) as tf.Scalar;
    const expected = await gradsOn('cpu', loss, vars);
    const actual = await gradsOn('wasm', loss, vars);
    await tf.setBackend('wasm');
    // Worst achieved (cpu vs wasm): 1.9e-6 (convnext_tiny), 1.5e-6 (resnet50), 1.1e-6 (efficientnet_b0); about 10x that.
    // A NaN or infinity in either backend's gradient fails, naming the weight.
    const worst = assertWorstError(
      expected.map((e, i) => ({ name: vars[i].name, actual: actual[i], expected: e })),
      2e-5,
    );
    if (process.env.TLKIT_DEBUG) console.log(c.family, `${unfreeze} layers unfrozen, ${vars.length} weights; worst`, worst);
    assert.ok(
      expected.every((g) => g.every(Number.isFinite)) && expected.every((g) => g.some((v) => v !== 0)),
      'every weight gets a gradient',
    );
    tf.dispose([x, r]);
    base.dispose();
  });
}
