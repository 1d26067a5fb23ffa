// int8 calibration: which method, how many images, and what it costs on a first run.
//
// (1) Which calibration: min-max and percentile 99.9/99.99/99.999, depthwise convs int8 or
//     fp32, on VGG16@180 (random weights) and the shared pretrained MobileNet@224, calibrated
//     on N training photos of ../shared and measured on M other photos: relative L2 and cosine
//     of the int8 features against fp32, and bare session.run images/s beside fp32.
// (2) How many images (--sweep 16,32,64,128): the default calibration on each count, its wall
//     time, and its int8 features against fp32 on the same M other photos.
// (3) A first run (--first-run 1000): `extractFeatures --precision int8` of N VGG16@180 JPEGs
//     into an empty cache (export, calibration, extraction, writing), against PyTorch fp32 end
//     to end on the same JPEGs in the same run (target: >= 3x). --first-run-calibration 32,128
//     sets the calibration images of each timed run.
//
//   node --import tsx bench/calibration.ts [--calibrate 128] [--measure 64] [--nets vgg16,mobilenet] [--sweep 16,32,64,128]
//   node --import tsx bench/calibration.ts --nets none --first-run 1000 [--first-run-calibration 32] [--no-torch]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { vgg16Architecture, VGG16_PREPROCESSING } from '../src/applications/vgg16.js';
import { loadBase, type ConvBase } from '../src/applications/loadBase.js';
import { decodedBatches, SHARED, sharedPhotos } from '../src/testing/photos.js';
import { initBackend } from '../src/tfjs/backend.js';
import { Calibrator, compareOutputs, DEFAULT_CALIBRATION, type CalibrationSettings, type InputBatch } from '../src/ort/int8.js';
import { exportToOnnx } from '../src/onnx/export.js';
import { OrtModel } from '../src/ort/ortRunner.js';
import { frozenModel } from '../src/features/frozenBase.js';
import { extractFeatures } from '../src/features/extract.js';
import { cpuFlags, ensureTorch, PYTHON } from './pytorch.js';
import { flag, numberArg, SHARED_TRAIN, stringArg } from './args.js';

const load = () =>
  os
    .loadavg()
    .map((v) => v.toFixed(2))
    .join(' ');

/** Photos `from`..`from + n/2` of each class (sorted), decoded at `size`, in batches of 8. */
function photos(from: number, n: number, size: [number, number]): Promise<InputBatch[]> {
  return decodedBatches(sharedPhotos(from, n), size, 8);
}

async function run(m: OrtModel, batches: InputBatch[]): Promise<{ outputs: Float32Array[]; rate: number }> {
  await m.run(batches[0].images, batches[0].shape);
  const outputs: Float32Array[] = [];
  const t0 = performance.now();
  for (const b of batches) outputs.push((await m.run(b.images, b.shape)).data.slice());
  return { outputs, rate: batches.reduce((n, b) => n + b.shape[0], 0) / ((performance.now() - t0) / 1000) };
}

function vgg16Base(): ConvBase {
  const model = vgg16Architecture({ includeTop: false, weights: 'none', inputShape: [180, 180, 3] });
  return {
    model,
    family: 'vgg16',
    preprocessing: VGG16_PREPROCESSING,
    imageSize: [180, 180],
    weightsHash: `bench-random-${process.pid}`,
    source: 'vgg16 (random weights)',
    randomWeights: true,
  };
}

async function benchNet(name: string, base: ConvBase, nCal: number, nMeasure: number, sweep: number[]): Promise<void> {
  const size = base.imageSize;
  const fp32 = exportToOnnx(frozenModel(base, size));
  const measure = await photos(Math.max(nCal, ...sweep) / 2, nMeasure, size);
  const ref = await OrtModel.create(fp32);
  const fp32Run = await run(ref, measure);
  await ref.dispose();
  const against = (outputs: Float32Array[]) =>
    compareOutputs(
      fp32Run.outputs.map((o, i) => [o, outputs[i]]),
      measure.map((b) => b.shape[0]),
    );
  if (nCal > 0) {
    // One pass serves every row: its statistics keep what percentile 99.9 needs.
    const cal = await Calibrator.run(fp32, await photos(0, nCal, size), { lowestPercentile: 99.9 });
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
        const e = against(r.outputs);
        const label = s.method === 'percentile' ? `percentile ${s.percentile}` : s.method;
        console.log(
          `${label.padEnd(24)} ${(dw ? 'fp32' : 'int8').padEnd(9)} ${e.relativeL2.toFixed(4).padStart(8)}  ${e.cosine.toFixed(4)}  ${e.minCosine.toFixed(4)}  ${r.rate.toFixed(2).padStart(8)}   ${(r.rate / fp32Run.rate).toFixed(2)}x`,
        );
      }
    }
  }
  if (sweep.length) {
    console.log(`\n${name}: the default calibration on N photos, its int8 features against fp32 on ${nMeasure} others (load ${load()})`);
    console.log('images   seconds (pass + int8 graph + check)   depthwise   rel. L2   cosine   worst');
    for (const n of sweep) {
      const batches = await photos(0, n, size);
      const t0 = performance.now();
      const cal = await Calibrator.run(fp32, batches, { lowestPercentile: DEFAULT_CALIBRATION.percentile });
      const { record, graph } = await cal.record(DEFAULT_CALIBRATION);
      const seconds = (performance.now() - t0) / 1000;
      const m = await OrtModel.create(graph);
      const e = against((await run(m, measure)).outputs);
      await m.dispose();
      console.log(
        `${String(n).padStart(6)}   ${seconds.toFixed(1).padStart(7)}                               ${(record.fp32Depthwise ? 'fp32' : 'int8').padEnd(9)} ${e.relativeL2.toFixed(4).padStart(8)}  ${e.cosine.toFixed(4)}  ${e.minCosine.toFixed(4)}`,
      );
    }
  }
}

// PyTorch fp32, as bench/extract.ts runs it: VGG16 (random weights: speed does not depend on
// them) with the same preprocessing, a DataLoader worker decoding (PIL) and resizing (bilinear)
// while the main process runs the network, every core.
const TORCH_VGG16 = `
import json, sys, time
import numpy as np
import torch
from torch import nn
from PIL import Image
size, batch, threads, files = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
torch.set_num_threads(threads)
torch.manual_seed(0)
layers, c = [], 3
for v in [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M']:
    if v == 'M':
        layers.append(nn.MaxPool2d(2))
    else:
        layers += [nn.Conv2d(c, v, 3, padding=1), nn.ReLU(inplace=True)]
        c = v
model = nn.Sequential(*layers).eval()
mean = torch.tensor([103.939, 116.779, 123.68]).view(1, 3, 1, 1)
class Jpegs(torch.utils.data.Dataset):
    def __len__(self): return len(files)
    def __getitem__(self, i):
        img = Image.open(files[i]).convert('RGB').resize((size, size), Image.BILINEAR)
        return torch.from_numpy(np.asarray(img, dtype=np.float32)).permute(2, 0, 1)
loader = torch.utils.data.DataLoader(Jpegs(), batch_size=batch, num_workers=1)
with torch.inference_mode():
    model(torch.rand(1, 3, size, size) * 255 - mean)
    t0 = time.perf_counter()
    n = 0
    for x in loader:
        model(x[:, [2, 1, 0]] - mean).numpy()
        n += len(x)
    seconds = time.perf_counter() - t0
print(json.dumps({'images': n, 'seconds': seconds, 'torch': torch.__version__, 'threads': torch.get_num_threads()}))
`;

/** A data folder of symlinks to the first n/2 cats and n/2 dogs of the shared training photos. */
function subsetDataDir(n: number): { root: string; data: string; files: string[] } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-bench-calibration-'));
  const files: string[] = [];
  for (const cls of ['cats', 'dogs']) {
    const dst = path.join(root, 'data', 'train', cls);
    fs.mkdirSync(dst, { recursive: true });
    for (const f of fs
      .readdirSync(path.join(SHARED_TRAIN, cls))
      .sort()
      .slice(0, n / 2)) {
      fs.symlinkSync(path.join(SHARED_TRAIN, cls, f), path.join(dst, f));
      files.push(path.join(dst, f));
    }
  }
  return { root, data: path.join(root, 'data'), files };
}

async function firstRun(n: number, calibrationCounts: number[], withTorch: boolean): Promise<void> {
  const { root, data, files } = subsetDataDir(n);
  try {
    console.log(
      `\nFirst run: VGG16@180 (random weights) --precision int8 over ${files.length} JPEGs into an empty cache, batch 8 (load ${load()})`,
    );
    const rates: Array<{ images: number; rate: number }> = [];
    for (const c of calibrationCounts) {
      const lines: string[] = [];
      const t0 = performance.now();
      const r = await extractFeatures({
        base: vgg16Base(),
        data,
        out: path.join(root, `features-${c}`),
        precision: 'int8',
        calibrationImages: c,
        log: (l) => lines.push(l),
      });
      const seconds = (performance.now() - t0) / 1000;
      const cost = r.calibrationCost;
      const rate = r.imagesExtracted / seconds;
      rates.push({ images: c, rate });
      console.log(
        `tlkit int8, ${c} calibration images: ${r.imagesExtracted} images in ${seconds.toFixed(1)} s = ${rate.toFixed(2)} images/s end to end (calibration ${cost ? `${cost.seconds.toFixed(1)} s on ${cost.images} images, their features kept` : 'cached'}; inference ${r.inferenceSeconds.toFixed(1)} s; load ${load()})`,
      );
      for (const l of lines.filter((l) => l.startsWith('int8 calibration'))) console.log(`    ${l}`);
    }
    if (!withTorch) return;
    const script = path.join(root, 'vgg16.py');
    fs.writeFileSync(script, TORCH_VGG16);
    const out = execFileSync(PYTHON, [script, '180', '8', String(os.availableParallelism()), ...files], {
      encoding: 'utf8',
      maxBuffer: 1 << 24,
    });
    const t = JSON.parse(out.trim().split('\n').pop() as string) as { images: number; seconds: number; torch: string; threads: number };
    const torchRate = t.images / t.seconds;
    console.log(
      `PyTorch ${t.torch} fp32 (${t.threads} threads): ${t.images} images in ${t.seconds.toFixed(1)} s = ${torchRate.toFixed(2)} images/s end to end (load ${load()})`,
    );
    for (const r of rates)
      console.log(
        `tlkit int8 first run (${r.images} calibration images) / PyTorch fp32: ${(r.rate / torchRate).toFixed(2)}x (target >= 3)`,
      );
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const nCal = numberArg('--calibrate', 128);
  const nMeasure = numberArg('--measure', 64);
  const nets = stringArg('--nets', 'vgg16,mobilenet').split(',');
  const sweep = stringArg('--sweep', '').split(',').filter(Boolean).map(Number);
  const first = numberArg('--first-run', 0);
  await initBackend('cpu');
  console.log(`machine: ${os.availableParallelism()} cores; flags: ${cpuFlags()}; load average ${load()}`);
  if (nets.includes('vgg16')) await benchNet('VGG16 notop 180x180 (random weights)', vgg16Base(), nCal, nMeasure, sweep);
  if (nets.includes('mobilenet')) {
    const dir = path.join(SHARED, 'models/mobilenet_v1_1.0_224_imagenet_truncated');
    await benchNet(
      'MobileNet v1 224x224 (shared pretrained)',
      await loadBase({ base: fs.existsSync(dir) ? dir : 'mobilenet', weights: fs.existsSync(dir) ? undefined : 'none' }),
      nCal,
      nMeasure,
      sweep,
    );
  }
  if (first > 0) {
    const counts = stringArg('--first-run-calibration', '32').split(',').map(Number);
    const withTorch = !flag('--no-torch') && ensureTorch({ packages: ['python3-pil'], modules: ['PIL'] });
    await firstRun(first, counts, withTorch);
  }
  console.log(`\nload average after: ${load()}`);
}

await main();
