import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { decodedBatches, SHARED, SHARED_TRAIN, sharedPhotos } from '../testing/photos.js';
import { initBackend } from '../tfjs/backend.js';
import { loadBase } from '../applications/loadBase.js';
import { vgg16Architecture, VGG16_PREPROCESSING } from '../applications/vgg16.js';
import { exportToOnnx } from '../onnx/export.js';
import { decodeModel } from '../onnx/proto.js';
import { optimizedGraph } from '../ort/ortRunner.js';
import { Calibrator, DEFAULT_CALIBRATION, int8Graph, type InputBatch } from '../ort/int8.js';
import { frozenModel } from './frozenBase.js';
import type { ConvBase } from '../applications/loadBase.js';

await initBackend();

const mobilenetDir = path.join(SHARED, 'models/mobilenet_v1_1.0_224_imagenet_truncated');

/** `n` real photos (half cats, half dogs) at `size`, in batches of 4. */
async function photos(n: number, size: [number, number]): Promise<InputBatch[]> {
  return decodedBatches(sharedPhotos(0, n), size, 4);
}

async function* each<T>(xs: T[]): AsyncGenerator<T> {
  yield* xs;
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
  const cal = await Calibrator.run(fp32, each(await photos(8, size)));
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

test('the shared pretrained MobileNet in int8 on real photos: cosine >= 0.99 to fp32', {
  skip: !(hasShared && fs.existsSync(mobilenetDir)) && 'no ../shared MobileNet',
}, async () => {
  const base = await loadBase({ base: mobilenetDir });
  const fp32 = exportToOnnx(frozenModel(base, base.imageSize));
  const cal = await Calibrator.run(fp32, each(await photos(8, base.imageSize)));
  for (const fp32Depthwise of [false, true]) {
    const { record, graph } = await cal.record({ ...DEFAULT_CALIBRATION, fp32Depthwise });
    assert.ok(record.error.cosine >= 0.99, `depthwise ${fp32Depthwise ? 'fp32' : 'int8'}: ${JSON.stringify(record.error)}`);
    const ops = await kernels(graph);
    // 27 convs: the preprocessing conv and conv1 stay fp32, and the 13 depthwise ones when asked.
    assert.equal(ops['com.microsoft:QLinearConv'], fp32Depthwise ? 12 : 25, JSON.stringify(ops));
  }
});
