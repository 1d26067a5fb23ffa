import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { decodedBatches, SHARED, SHARED_TRAIN, sharedPhotos } from '../testing/photos.js';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '../tfjs/backend.js';
import { randomizeWeights } from '../testing/testModels.js';
import { loadBase } from '../applications/loadBase.js';
import { vgg16Architecture, VGG16_PREPROCESSING } from '../applications/vgg16.js';
import { exportToOnnx } from '../onnx/export.js';
import { decodeModel } from '../onnx/proto.js';
import { optimizedGraph } from '../ort/ortRunner.js';
import { AUTO_DEPTHWISE_COSINE, Calibrator, DEFAULT_CALIBRATION, int8Graph, settleDepthwise, type InputBatch } from '../ort/int8.js';
import { frozenModel } from './frozenBase.js';
import type { ConvBase } from '../applications/loadBase.js';

await initBackend();

const mobilenetDir = path.join(SHARED, 'models/mobilenet_v1_1.0_224_imagenet_truncated');

/** `n` real photos (half cats, half dogs) at `size`, in batches of 4. */
async function photos(n: number, size: [number, number]): Promise<InputBatch[]> {
  return decodedBatches(sharedPhotos(0, n), size, 4);
}

/** Op counts of the graph ONNX Runtime actually runs ('all' optimizations), by domain:op. */
async function kernels(onnx: Uint8Array): Promise<Record<string, number>> {
  const ops: Record<string, number> = {};
  for (const n of decodeModel(await optimizedGraph(onnx, 'all')).graph!.node!) {
    const k = `${n.domain ?? ''}:${n.opType}`;
    ops[k] = (ops[k] ?? 0) + 1;
  }
  return ops;
}

const hasShared = fs.existsSync(SHARED_TRAIN);

test('VGG16 (random weights, 32x32) in int8: ORT runs every quantized conv as QLinearConv and the features keep cosine >= 0.99', {
  skip: !hasShared && 'no ../shared data',
}, async () => {
  const size: [number, number] = [32, 32];
  const model = vgg16Architecture({ includeTop: false, weights: 'none', inputShape: [size[0], size[1], 3] });
  const base: ConvBase = {
    model,
    family: 'vgg16',
    preprocessing: VGG16_PREPROCESSING,
    imageSize: size,
    weightsHash: 'random',
    source: 'vgg16 random',
  };
  const fp32 = exportToOnnx(frozenModel(base, size));
  const cal = await Calibrator.run(fp32, await photos(8, size));
  const { record, graph } = await cal.record(DEFAULT_CALIBRATION);
  assert.equal(record.images, 8);
  assert.ok(record.error.cosine >= 0.99 && record.error.minCosine > 0.98, JSON.stringify(record.error));
  // 13 convs + the preprocessing conv; the preprocessing and block1_conv1 stay fp32.
  const ops = await kernels(graph);
  assert.equal(ops['com.microsoft:QLinearConv'], 12, JSON.stringify(ops));
  const fp32Convs = Object.entries(ops)
    .filter(([k]) => k.endsWith(':Conv'))
    .reduce((a, [, v]) => a + v, 0);
  assert.equal(fp32Convs, 2, JSON.stringify(ops));
  // The pools run on uint8 too, and only the graph's edges convert.
  assert.equal((ops[':QuantizeLinear'] ?? 0) + (ops[':DequantizeLinear'] ?? 0), 2, JSON.stringify(ops));
  // The same graph again from the stored ranges (what the cache gives back).
  const again = await cal.error(await int8Graph(fp32, record));
  assert.equal(again.cosine, record.error.cosine);
});

test("int8 depthwise convs, the 'auto' rule: fp32 only when the all-int8 cosine is under 0.997, keeping the closer graph", async () => {
  assert.equal(AUTO_DEPTHWISE_COSINE, 0.997);
  /** What settleDepthwise builds (in order) and keeps, given each graph's cosine to fp32. */
  const settle = async (setting: boolean | 'auto', hasDepthwise: boolean, cosine: { int8: number; fp32: number }) => {
    const built: boolean[] = [];
    const kept = await settleDepthwise(
      setting,
      () => hasDepthwise,
      async (fp32Depthwise) => {
        built.push(fp32Depthwise);
        return { fp32Depthwise, record: { error: { cosine: fp32Depthwise ? cosine.fp32 : cosine.int8 } } };
      },
    );
    return { built, kept: kept.fp32Depthwise };
  };
  // Under 0.997: both graphs, the closer one kept (the all-int8 one unless fp32 depthwise beats it).
  assert.deepEqual(await settle('auto', true, { int8: 0.9969, fp32: 0.9985 }), { built: [false, true], kept: true });
  assert.deepEqual(await settle('auto', true, { int8: 0.95, fp32: 0.951 }), { built: [false, true], kept: true });
  assert.deepEqual(await settle('auto', true, { int8: 0.9969, fp32: 0.9969 }), { built: [false, true], kept: false });
  assert.deepEqual(await settle('auto', true, { int8: 0.9969, fp32: 0.99 }), { built: [false, true], kept: false });
  // At 0.997 and over: the all-int8 graph alone, however much better fp32 depthwise would be.
  assert.deepEqual(await settle('auto', true, { int8: 0.997, fp32: 0.9999 }), { built: [false], kept: false });
  assert.deepEqual(await settle('auto', true, { int8: 0.9971, fp32: 0.9999 }), { built: [false], kept: false });
  // No depthwise convs: nothing to keep in fp32.
  assert.deepEqual(await settle('auto', false, { int8: 0.95, fp32: 0.9999 }), { built: [false], kept: false });
  // An explicit setting builds that graph alone, whatever its cosine.
  assert.deepEqual(await settle(true, true, { int8: 0.9999, fp32: 0.95 }), { built: [true], kept: true });
  assert.deepEqual(await settle(false, true, { int8: 0.95, fp32: 0.9999 }), { built: [false], kept: false });
});

test("the shared pretrained MobileNet in int8 on real photos: all-int8 falls under 0.997, so the default 'auto' keeps depthwise convs fp32", {
  skip: !(hasShared && fs.existsSync(mobilenetDir)) && 'no ../shared MobileNet',
}, async () => {
  const base = await loadBase({ base: mobilenetDir });
  const fp32 = exportToOnnx(frozenModel(base, base.imageSize));
  const cal = await Calibrator.run(fp32, await photos(8, base.imageSize));
  // 27 convs: the preprocessing conv and conv1 stay fp32, and the 13 depthwise ones when 'auto' says so.
  const int8 = await cal.record({ ...DEFAULT_CALIBRATION, fp32Depthwise: false });
  assert.equal((await kernels(int8.graph))['com.microsoft:QLinearConv'], 25);
  // Measured: cosine 0.99535 (worst image 0.99382); under 0.997, over 0.993.
  const c0 = int8.record.error.cosine;
  assert.ok(c0 >= 0.993 && c0 < AUTO_DEPTHWISE_COSINE, `all int8: ${JSON.stringify(int8.record.error)}`);
  const auto = await cal.record(DEFAULT_CALIBRATION);
  assert.equal(auto.record.fp32Depthwise, true, `auto: ${JSON.stringify(auto.record.error)}`);
  assert.equal((await kernels(auto.graph))['com.microsoft:QLinearConv'], 12);
  // Measured: cosine 0.99859 (worst image 0.99817), closer to fp32 than the all-int8 graph.
  const c1 = auto.record.error.cosine;
  assert.ok(c1 >= 0.998 && c1 > c0, `depthwise fp32: ${JSON.stringify(auto.record.error)}`);
});

test('an aborted signal stops calibration after the batch it is running, and the int8 error measurement between batches', async () => {
  const size: [number, number] = [8, 8];
  const x = tfl.input({ shape: [size[0], size[1], 3] });
  const y = tfl.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu' }).apply(x) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: x, outputs: tfl.layers.conv2d({ filters: 4, kernelSize: 3 }).apply(y) as tfl.SymbolicTensor });
  randomizeWeights(model, 3);
  const base: ConvBase = { model, family: 'custom', preprocessing: 'caffe', imageSize: size, weightsHash: 'tiny', source: 'a test model' };
  const fp32 = exportToOnnx(frozenModel(base, size));
  const batch = (k: number): InputBatch => ({
    images: Float32Array.from({ length: 2 * size[0] * size[1] * 3 }, (_, i) => (i * 31 + k * 17) % 256),
    shape: [2, size[0], size[1], 3],
  });
  const controller = new AbortController();
  const handed: number[] = [];
  let closed = false;
  async function* batches(): AsyncGenerator<InputBatch> {
    try {
      for (let k = 0; k < 5; k++) {
        // Ctrl-C while the second batch is decoded ahead (the first is running): the first finishes, the third is never asked for.
        if (k === 1) controller.abort();
        handed.push(k);
        yield batch(k);
      }
    } finally {
      closed = true;
    }
  }
  const ran: number[] = [];
  await assert.rejects(
    Calibrator.run(fp32, batches(), { signal: controller.signal, images: 10, onBatch: (n) => ran.push(n) }),
    (e: Error) => e.name === 'AbortError',
  );
  assert.deepEqual(handed, [0, 1]);
  assert.deepEqual(ran, [2], 'the batch running when the signal came finished, no other');
  assert.ok(closed, 'the batches were let go (no decoding ahead)');

  // The same graph calibrated in full; its error measurement stops on an aborted signal too.
  const cal = await Calibrator.run(
    fp32,
    (async function* () {
      for (let k = 0; k < 3; k++) yield batch(k);
    })(),
    { images: 6 },
  );
  const done = await cal.record(DEFAULT_CALIBRATION);
  assert.equal(done.record.images, 6);
  await assert.rejects(cal.record(DEFAULT_CALIBRATION, undefined, AbortSignal.abort()), (e: Error) => e.name === 'AbortError');
});
