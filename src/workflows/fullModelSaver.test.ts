import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { loadBase } from '../applications/loadBase.js';
import { buildHeadForTraining } from '../fit/head.js';
import { makeTinyBase } from '../testing/tinyRun.js';
import { fileSystemIO } from '../weights/tfjsFiles.js';
import { fullModelSaver } from './fullModelSaver.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-saver-'));

async function savedWeights(dir: string, layer: string): Promise<Float32Array> {
  const m = await tfl.loadLayersModel(fileSystemIO(dir));
  const w = m.getLayer(layer).getWeights()[0].dataSync() as Float32Array;
  m.dispose();
  return Float32Array.from(w);
}

function bump(layer: tfl.layers.Layer): Float32Array {
  const [w, ...rest] = layer.getWeights();
  const next = tf.add(w, 1);
  layer.setWeights([next, ...rest]);
  const values = Float32Array.from(next.dataSync() as Float32Array);
  next.dispose();
  return values;
}

test('the checkpoint writer assembles the full model once, then each save holds the current weights of the head and of the trained base layers', async () => {
  const base = await loadBase({ base: await makeTinyBase(path.join(root, 'base')) });
  const featureShape = base.model.outputs[0].shape.slice(1) as number[];
  const head = buildHeadForTraining(featureShape, { numClasses: 2, units: 4, dropout: 0, pooling: 'flatten', seed: 1 }).head;
  // conv1 trains (as fine-tuning's suffix), the rest of the base does not.
  const trained = tfl.model({ inputs: base.model.inputs, outputs: base.model.getLayer('conv1').output as tfl.SymbolicTensor });
  const saver = fullModelSaver(base, head, trained);
  try {
    await saver.save(path.join(root, 'first'));
    const conv1 = bump(base.model.getLayer('conv1'));
    const dense = head.layers.find((l) => l.getClassName() === 'Dense')!;
    const denseKernel = bump(dense);
    await saver.save(path.join(root, 'second'));
    assert.deepEqual(await savedWeights(path.join(root, 'second'), 'conv1'), conv1);
    assert.deepEqual(await savedWeights(path.join(root, 'second'), dense.name), denseKernel);
    assert.notDeepEqual(await savedWeights(path.join(root, 'first'), 'conv1'), conv1);
  } finally {
    saver.dispose();
    head.dispose();
    base.model.dispose();
  }
});
