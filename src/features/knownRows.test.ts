import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '../tfjs/backend.js';
import { makeStripedSplits } from '../testing/images.js';
import { randomizeWeights } from '../testing/testModels.js';
import type { ConvBase } from '../applications/loadBase.js';
import { decodeImage } from '../data/decode.js';
import { readNpy } from '../io/npy.js';
import { exportToOnnx } from '../onnx/export.js';
import { Calibrator, DEFAULT_CALIBRATION, int8Graph } from '../ort/int8.js';
import { OrtModel } from '../ort/ortRunner.js';
import { CALIBRATION_FILE, type StoredCalibration } from './calibration.js';
import { extractFeatures } from './extract.js';
import { frozenModel } from './frozenBase.js';
import { knownRowsOf, runKnowing } from './knownRows.js';

await initBackend();

const SIZE: [number, number] = [16, 16];

/** train/ 6 cats + 6 dogs, validation/ 2 + 2: small JPEGs of different sizes. */
async function makeData(): Promise<string> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-known-rows-'));
  await makeStripedSplits(root, { train: 6, validation: 2 });
  return root;
}

function tinyBase(): ConvBase {
  const x = tfl.input({ shape: [16, 16, 3] });
  let y = tfl.layers
    .conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', name: 'conv1' })
    .apply(x) as tfl.SymbolicTensor;
  y = tfl.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', activation: 'relu', name: 'conv2' }).apply(y) as tfl.SymbolicTensor;
  y = tfl.layers.maxPooling2d({ poolSize: 2, name: 'pool' }).apply(y) as tfl.SymbolicTensor;
  y = tfl.layers.conv2d({ filters: 6, kernelSize: 3, strides: 2, padding: 'same', name: 'conv3' }).apply(y) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: x, outputs: y, name: 'tiny' });
  randomizeWeights(model, 7);
  return {
    model,
    family: 'custom',
    preprocessing: 'caffe',
    imageSize: SIZE,
    weightsHash: 'known-rows-test',
    source: 'a test model',
    randomWeights: true,
  };
}

const files = (root: string, split: string) =>
  ['cats', 'dogs'].flatMap((c) =>
    fs
      .readdirSync(path.join(root, split, c))
      .sort()
      .map((f) => path.join(root, split, c, f)),
  );

async function batchesOf(list: string[], size: number) {
  const per = SIZE[0] * SIZE[1] * 3;
  const out = [];
  for (let i = 0; i < list.length; i += size) {
    const chunk = list.slice(i, i + size);
    const images = new Float32Array(chunk.length * per);
    for (const [k, f] of chunk.entries()) images.set(await decodeImage(f, SIZE), k * per);
    out.push({ images, shape: [chunk.length, SIZE[0], SIZE[1], 3], files: chunk });
  }
  return out;
}

test('runKnowing runs the network on the unknown images only, and puts every row in its place', async () => {
  const ran: number[] = [];
  // A fake network: each image's row is [sum of its pixels, its first pixel].
  const runner = {
    run: async (images: Float32Array, shape: number[]) => {
      ran.push(shape[0]);
      const per = images.length / shape[0];
      const data = new Float32Array(shape[0] * 2);
      for (let i = 0; i < shape[0]; i++) {
        data[2 * i] = images.subarray(i * per, (i + 1) * per).reduce((a, b) => a + b, 0);
        data[2 * i + 1] = images[i * per];
      }
      return { data, shape: [shape[0], 2] };
    },
    dispose: async () => {},
  };
  const images = Float32Array.from({ length: 4 * 3 }, (_, i) => i);
  const batch = { images, shape: [4, 3], files: ['a', 'b', 'c', 'd'] };
  const all = (await runner.run(images, [4, 3])).data;
  ran.length = 0;
  const known = knownRowsOf([{ images, shape: [4, 3], files: ['a', 'b', 'c', 'd'] }], [all], [2]);
  known.rows.delete('a');
  known.rows.delete('c');
  const mixed = await runKnowing(runner, batch, known);
  assert.deepEqual([...mixed.output.data], [...all]);
  assert.deepEqual(mixed.output.shape, [4, 2]);
  assert.deepEqual(ran, [2], 'only a and c ran');
  assert.equal(mixed.ran, 2);
  assert.equal(known.rows.size, 0, 'each known row is taken once');
  // Nothing known any more: the whole batch runs.
  assert.equal((await runKnowing(runner, batch, known)).ran, 4);
  // All known: nothing runs.
  const full = knownRowsOf([batch], [all], [2]);
  ran.length = 0;
  assert.deepEqual([...(await runKnowing(runner, batch, full)).output.data], [...all]);
  assert.deepEqual(ran, []);
});

test('the int8 check runs the very graph the cache rebuilds, and its rows do not depend on the batch they ran in', async () => {
  const root = await makeData();
  const base = tinyBase();
  const fp32 = exportToOnnx(frozenModel(base, SIZE));
  const train = files(root, 'train');
  const cal = await Calibrator.run(fp32, await batchesOf(train.slice(0, 8), 4));
  const { record, graph, outputs, rowShape } = await cal.record(DEFAULT_CALIBRATION);
  assert.deepEqual(Buffer.from(graph), Buffer.from(await int8Graph(fp32, record)));
  const known = knownRowsOf(cal.batches, outputs, rowShape);
  // The same images in batches of 3 (other neighbours), through a fresh session.
  const m = await OrtModel.create(graph);
  try {
    for (const b of await batchesOf(train.slice(0, 8), 3)) {
      const y = await m.run(b.images, b.shape);
      const per = y.data.length / b.shape[0];
      b.files.forEach((f, i) => assert.deepEqual([...y.data.subarray(i * per, (i + 1) * per)], [...known.rows.get(f)!], f));
    }
  } finally {
    await m.dispose();
  }
});

test("int8 extraction takes the calibration images' rows from the calibration (exactly), runs the rest, and reports the cost", async (t) => {
  const root = await makeData();
  const out = path.join(root, 'features');
  const counted = t.mock.method(OrtModel.prototype, 'run');
  const lines: string[] = [];
  const r = await extractFeatures({
    base: tinyBase(),
    data: root,
    out,
    batchSize: 4,
    precision: 'int8',
    calibrationImages: 6,
    log: (l) => lines.push(l),
  });
  const images = counted.mock.calls.reduce((n, c) => n + (c.arguments[1] as number[])[0], 0);
  counted.mock.restore();
  // 6 calibration images checked at int8 once, then 16 - 6 others: 16 in all (22 if they ran again).
  assert.equal(images, 16);
  assert.equal(r.imagesExtracted, 16);
  assert.equal(r.calibrationCost?.images, 6);
  assert.ok(r.calibrationCost!.seconds > 0);
  assert.ok(
    lines.some((l) => /int8 calibration \(percentile 99\.999, 6 images, [0-9.]+ s,/.test(l)),
    lines.join('\n'),
  );
  // The features are what the stored calibration's graph gives every image.
  const stored = JSON.parse(fs.readFileSync(path.join(out, CALIBRATION_FILE), 'utf8')) as StoredCalibration;
  const m = await OrtModel.create(await int8Graph(exportToOnnx(frozenModel(tinyBase(), SIZE)), stored.record));
  try {
    for (const split of ['train', 'validation']) {
      const expected: number[] = [];
      for (const b of await batchesOf(files(root, split), 5)) expected.push(...(await m.run(b.images, b.shape)).data);
      assert.deepEqual([...(await readNpy(path.join(out, split, 'features.npy'))).data], expected, split);
    }
  } finally {
    await m.dispose();
  }
  // From the cache, no cost: nothing was computed.
  assert.equal(
    (await extractFeatures({ base: tinyBase(), data: root, out, batchSize: 4, precision: 'int8', calibrationImages: 6 })).calibrationCost,
    undefined,
  );
});
