// Which int8 calibration: min-max and percentile 99.9/99.99/99.999,
// and depthwise convs int8 or fp32, on VGG16@180 (random weights) and the shared
// pretrained MobileNet@224, calibrated on N training photos of ../shared and measured
// on M other photos: relative L2 and cosine of the int8 features against fp32, and
// bare session.run images/s of each graph beside fp32 in the same run.
//
//   node --import tsx bench/calibration.ts [--calibrate 128] [--measure 64] [--nets vgg16,mobilenet]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { vgg16Architecture, VGG16_PREPROCESSING } from '../src/applications/vgg16.js';
import { loadBase, type ConvBase } from '../src/applications/loadBase.js';
import { decodedBatches, SHARED, sharedPhotos } from '../src/testing/photos.js';
import { initBackend } from '../src/tfjs/backend.js';
import { Calibrator, compareOutputs, DEFAULT_CALIBRATION, type CalibrationSettings, type InputBatch } from '../src/ort/int8.js';
import { exportToOnnx } from '../src/onnx/export.js';
import { OrtModel } from '../src/ort/ortRunner.js';
import { frozenModel } from '../src/features/frozenBase.js';
import { cpuFlags } from './pytorch.js';
import { numberArg, stringArg } from './args.js';

/** Photos `from`..`from + n/2` of each class (sorted), decoded at `size`, in batches of 8. */
function photos(from: number, n: number, size: [number, number]): Promise<InputBatch[]> {
  return decodedBatches(sharedPhotos(from, n), size, 8);
}

async function* each<T>(xs: T[]): AsyncGenerator<T> {
  yield* xs;
}

async function run(m: OrtModel, batches: InputBatch[]): Promise<{ outputs: Float32Array[]; rate: number }> {
  await m.run(batches[0].images, batches[0].shape);
  const outputs: Float32Array[] = [];
  const t0 = performance.now();
  for (const b of batches) outputs.push((await m.run(b.images, b.shape)).data.slice());
  return { outputs, rate: batches.reduce((n, b) => n + b.shape[0], 0) / ((performance.now() - t0) / 1000) };
}

async function benchNet(name: string, base: ConvBase, nCal: number, nMeasure: number): Promise<void> {
  const size = base.imageSize;
  const fp32 = exportToOnnx(frozenModel(base, size));
  const cal = await Calibrator.run(fp32, each(await photos(0, nCal, size)));
  const measure = await photos(nCal / 2, nMeasure, size);
  const ref = await OrtModel.create(fp32);
  const fp32Run = await run(ref, measure);
  await ref.dispose();
  console.log(`\n${name}: calibrated on ${nCal} photos, measured on ${nMeasure} others; fp32 ${fp32Run.rate.toFixed(2)} images/s`);
  console.log('calibration              depthwise   rel. L2   cosine   worst   images/s   vs fp32');
  const settings: CalibrationSettings[] = [
    { ...DEFAULT_CALIBRATION, method: 'minmax' },
    { ...DEFAULT_CALIBRATION, method: 'percentile', percentile: 99.9 },
    { ...DEFAULT_CALIBRATION, method: 'percentile', percentile: 99.99 },
    { ...DEFAULT_CALIBRATION, method: 'percentile', percentile: 99.999 },
  ];
  const depthwise = cal.hasDepthwise ? [false, true] : [false];
  for (const s of settings) {
    for (const dw of depthwise) {
      const m = await OrtModel.create(cal.graph(s, dw));
      const r = await run(m, measure);
      await m.dispose();
      const e = compareOutputs(
        fp32Run.outputs.map((o, i) => [o, r.outputs[i]]),
        measure.map((b) => b.shape[0]),
      );
      const label = s.method === 'percentile' ? `percentile ${s.percentile}` : s.method;
      console.log(
        `${label.padEnd(24)} ${(dw ? 'fp32' : 'int8').padEnd(9)} ${e.relativeL2.toFixed(4).padStart(8)}  ${e.cosine.toFixed(4)}  ${e.minCosine.toFixed(4)}  ${r.rate.toFixed(2).padStart(8)}   ${(r.rate / fp32Run.rate).toFixed(2)}x`,
      );
    }
  }
}

async function main(): Promise<void> {
  const nCal = numberArg('--calibrate', 128);
  const nMeasure = numberArg('--measure', 64);
  const nets = stringArg('--nets', 'vgg16,mobilenet').split(',');
  await initBackend('cpu');
  console.log(
    `machine: ${os.availableParallelism()} cores; flags: ${cpuFlags()}; load average ${os
      .loadavg()
      .map((v) => v.toFixed(2))
      .join(' ')}`,
  );
  if (nets.includes('vgg16')) {
    const model = vgg16Architecture({ includeTop: false, weights: 'none', inputShape: [180, 180, 3] });
    await benchNet(
      'VGG16 notop 180x180 (random weights)',
      { model, family: 'vgg16', preprocessing: VGG16_PREPROCESSING, imageSize: [180, 180], weightsHash: 'random', source: 'vgg16' },
      nCal,
      nMeasure,
    );
  }
  if (nets.includes('mobilenet')) {
    const dir = path.join(SHARED, 'models/mobilenet_v1_1.0_224_imagenet_truncated');
    await benchNet(
      'MobileNet v1 224x224 (shared pretrained)',
      await loadBase({ base: fs.existsSync(dir) ? dir : 'mobilenet', weights: fs.existsSync(dir) ? undefined : 'none' }),
      nCal,
      nMeasure,
    );
  }
  console.log(
    `\nload average after: ${os
      .loadavg()
      .map((v) => v.toFixed(2))
      .join(' ')}`,
  );
}

await main();
