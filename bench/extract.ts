// Feature extraction speed, fp32 and int8, against PyTorch fp32 in the same run:
//   VGG16 conv base (random weights) at 180x180 and MobileNet v1 (the shared pretrained
//   one, else random weights) at 224x224, over the first N images of
//   ../shared/data/cats_vs_dogs_small/train (N/2 cats, N/2 dogs), batch 8.
// For each network:
//   (a) extractFeatures end to end from JPEG files (export, session, decode, run, write),
//       fp32, then int8 (its calibration on 128 of the images runs first and is timed
//       apart: it is cached beside the features, once per base and data)
//   (b) bare OrtModel.run on pre-decoded, pre-batched tensors, fp32 and int8
//   (t) PyTorch fp32 (Debian's python3-torch as Debian builds it, set to use every core): end to end from the same JPEGs (PIL decode + bilinear resize in a
//       DataLoader worker, the usual PyTorch script), and the bare forward pass
// Prints images/s and the ratios int8/fp32 and int8/PyTorch (the targets for
// VGG16: int8 end to end >= 1.8x PyTorch end to end and >= 1.6x tlkit fp32).
// Then the time of a second, cached extract (target < 5 s), and tfjs wasm on VGG16 (c).
//
//   node --import tsx bench/extract.ts              # both networks, PyTorch, cached, tfjs
//   options: --images N (default 400), --batch N (default 8), --tfjs-images N (default 16; 0 = skip),
//            --nets vgg16,mobilenet, --no-torch
//   node --import tsx bench/extract.ts --full       # + peak RSS extracting all 4,000 shared images (child process)
//   node --import tsx bench/extract.ts --rss-child [--data DIR]   # only the RSS run (whole shared dataset by default)
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { vgg16Architecture, VGG16_PREPROCESSING } from '../src/applications/vgg16.js';
import { loadBase, type ConvBase } from '../src/applications/loadBase.js';
import { decodedBatches } from '../src/testing/photos.js';
import { resolveDataDir } from '../src/data/splits.js';
import { initBackend } from '../src/tfjs/backend.js';
import type { Precision } from '../src/ort/int8.js';
import { exportToOnnx } from '../src/onnx/export.js';
import { forwardFlops } from '../src/onnx/flops.js';
import { OrtModel } from '../src/ort/ortRunner.js';
import { calibration, describeError, frozenGraph } from '../src/features/calibration.js';
import { extractFeatures, frozenModel } from '../src/features/extract.js';
import { cpuFlags, ensureTorch, PYTHON } from './pytorch.js';
import { flag, numberArg, SHARED_DATA, SHARED_MOBILENET, SHARED_TRAIN, stringArg } from './args.js';

const trainDir = SHARED_TRAIN;
const mobilenetDir = SHARED_MOBILENET;

function vggBase(size: [number, number]): ConvBase {
  const model = vgg16Architecture({ includeTop: false, weights: 'none', inputShape: [size[0], size[1], 3] });
  // Random weights: a fixed label is enough for the cache key within this process.
  return {
    model,
    family: 'vgg16',
    preprocessing: VGG16_PREPROCESSING,
    imageSize: size,
    weightsHash: `bench-random-${process.pid}`,
    source: 'vgg16 (random weights)',
  };
}

async function mobilenetBase(): Promise<ConvBase> {
  if (fs.existsSync(mobilenetDir)) return loadBase({ base: mobilenetDir });
  return loadBase({ base: 'mobilenet', weights: 'none', imageSize: [224, 224] });
}

/** A data folder of symlinks to the first n/2 cats and n/2 dogs (sorted names). */
function subsetDataDir(n: number): { dir: string; files: string[] } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-bench-extract-'));
  const files: string[] = [];
  for (const cls of ['cats', 'dogs']) {
    const dst = path.join(root, 'data', 'train', cls);
    fs.mkdirSync(dst, { recursive: true });
    const names = fs
      .readdirSync(path.join(trainDir, cls))
      .sort()
      .slice(0, n / 2);
    for (const f of names) {
      fs.symlinkSync(path.join(trainDir, cls, f), path.join(dst, f));
      files.push(path.join(dst, f));
    }
  }
  return { dir: path.join(root, 'data'), files };
}

const fmt = (x: number, d = 2) => x.toFixed(d);

// PyTorch fp32: the same network (random weights: speed does not depend on them) and
// preprocessing, from the same JPEG files; a DataLoader worker decodes (PIL) and resizes
// (bilinear) while the main process runs the network, as tlkit overlaps decoding.
const TORCH_SCRIPT = String.raw`
import json, sys, time
import numpy as np
import torch
from torch import nn
from PIL import Image
net, size, batch, threads, files = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5:]
# Debian's build starts with one thread here: give it every core, as ONNX Runtime has.
torch.set_num_threads(threads)
torch.manual_seed(0)
def vgg16():
    layers, c = [], 3
    for v in [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M']:
        if v == 'M':
            layers.append(nn.MaxPool2d(2))
        else:
            layers += [nn.Conv2d(c, v, 3, padding=1), nn.ReLU(inplace=True)]
            c = v
    return nn.Sequential(*layers)
def mobilenet():
    def conv_bn(cin, cout, k, stride, groups=1):
        return [nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout), nn.ReLU6(inplace=True)]
    layers, c = conv_bn(3, 32, 3, 2), 32
    for cout, s in [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1)]:
        layers += conv_bn(c, c, 3, s, groups=c) + conv_bn(c, cout, 1, 1)
        c = cout
    return nn.Sequential(*layers)
model = (vgg16() if net == 'vgg16' else mobilenet()).eval()
mean = torch.tensor([103.939, 116.779, 123.68]).view(1, 3, 1, 1)
def preprocess(x):
    return x[:, [2, 1, 0]] - mean if net == 'vgg16' else x / 127.5 - 1
class Jpegs(torch.utils.data.Dataset):
    def __len__(self): return len(files)
    def __getitem__(self, i):
        img = Image.open(files[i]).convert('RGB').resize((size, size), Image.BILINEAR)
        return torch.from_numpy(np.asarray(img, dtype=np.float32)).permute(2, 0, 1)
loader = torch.utils.data.DataLoader(Jpegs(), batch_size=batch, num_workers=1)
with torch.inference_mode():
    model(preprocess(torch.rand(1, 3, size, size) * 255))
    t0 = time.perf_counter()
    n = 0
    for x in loader:
        model(preprocess(x)).numpy()
        n += len(x)
    e2e = n / (time.perf_counter() - t0)
    xs = [torch.rand(batch, 3, size, size) * 255 for _ in range(max(1, min(len(files), 96) // batch))]
    t0 = time.perf_counter()
    for x in xs:
        model(preprocess(x))
    bare = sum(len(x) for x in xs) / (time.perf_counter() - t0)
print(json.dumps({'endToEnd': e2e, 'bare': bare, 'torch': torch.__version__, 'threads': torch.get_num_threads()}))
`;

interface TorchRates {
  endToEnd: number;
  bare: number;
  torch: string;
  threads: number;
}

function pytorch(net: 'vgg16' | 'mobilenet', size: number, batch: number, files: string[]): TorchRates | undefined {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-bench-extract-torch-'));
  fs.writeFileSync(path.join(dir, 'extract.py'), TORCH_SCRIPT);
  try {
    const out = execFileSync(
      PYTHON,
      [path.join(dir, 'extract.py'), net, String(size), String(batch), String(os.availableParallelism()), ...files],
      { encoding: 'utf8', maxBuffer: 1 << 24 },
    );
    return JSON.parse(out.trim().split('\n').pop() as string) as TorchRates;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function bareRate(onnx: Uint8Array, batches: Array<{ images: Float32Array; shape: number[] }>): Promise<number> {
  const ort = await OrtModel.create(onnx);
  try {
    await ort.run(batches[0].images, batches[0].shape); // warm-up (memory arena, kernels)
    const t0 = performance.now();
    let n = 0;
    for (const b of batches) {
      await ort.run(b.images, b.shape);
      n += b.shape[0];
    }
    return n / ((performance.now() - t0) / 1000);
  } finally {
    await ort.dispose();
  }
}

interface NetResult {
  name: string;
  e2e: Record<Precision, number>;
  bare: Record<Precision, number>;
  torch?: TorchRates;
}

async function benchNet(
  name: string,
  net: 'vgg16' | 'mobilenet',
  base: ConvBase,
  nImages: number,
  batch: number,
  withTorch: boolean,
): Promise<NetResult> {
  const size = base.imageSize;
  const frozen = frozenModel(base, size);
  const gflop = forwardFlops(frozen) / 1e9;
  console.log(`\n${name}: ${fmt(gflop)} GFLOP per image (multiply-add = 2 FLOPs), ${nImages} JPEGs, batch ${batch}`);
  const { dir, files } = subsetDataDir(nImages);
  const dataDir = resolveDataDir(dir);
  const e2e = {} as Record<Precision, number>;
  const bare = {} as Record<Precision, number>;
  try {
    for (const precision of ['fp32', 'int8'] as const) {
      const out = path.join(path.dirname(dir), `features-${precision}`);
      if (precision === 'int8') {
        const t0 = performance.now();
        const fp32 = exportToOnnx(frozen);
        const { record } = await calibration({ base, imageSize: size, precision, dataDir, cacheDir: out }, fp32);
        console.log(
          `    int8 calibration: ${fmt((performance.now() - t0) / 1000, 1)} s (once per base and data: cached beside the features)`,
        );
        for (const line of describeError(record)) console.log(`    ${line}`);
      }
      const t0 = performance.now();
      const r = await extractFeatures({ base, data: dir, out, batchSize: batch, precision });
      const sec = (performance.now() - t0) / 1000;
      e2e[precision] = r.imagesExtracted / sec;
      console.log(
        `(a) ${precision} extract end to end: ${fmt(e2e[precision])} images/s, ${fmt(e2e[precision] * gflop, 1)} GFLOP/s  (${fmt(sec, 1)} s; inference ${fmt(r.inferenceSeconds, 1)} s)`,
      );
    }
    const batches = await decodedBatches(files, size, batch);
    for (const precision of ['fp32', 'int8'] as const) {
      const graph = await frozenGraph({
        base,
        imageSize: size,
        precision,
        dataDir,
        cacheDir: path.join(path.dirname(dir), `features-${precision}`),
      });
      bare[precision] = await bareRate(graph.bytes, batches);
      console.log(
        `(b) ${precision} bare session.run:   ${fmt(bare[precision])} images/s, ${fmt(bare[precision] * gflop, 1)} GFLOP/s  (a/b = ${fmt(e2e[precision] / bare[precision])}, target >= 0.85)`,
      );
    }
    const torch = withTorch ? pytorch(net, size[0], batch, files) : undefined;
    if (torch) {
      console.log(
        `(t) PyTorch ${torch.torch} fp32 (${torch.threads} threads): end to end ${fmt(torch.endToEnd)} images/s; bare forward ${fmt(torch.bare)} images/s`,
      );
    }
    console.log(
      `    int8/fp32: end to end ${fmt(e2e.int8 / e2e.fp32)}x, bare ${fmt(bare.int8 / bare.fp32)}x` +
        (torch
          ? `;  int8/PyTorch: end to end ${fmt(e2e.int8 / torch.endToEnd)}x, vs PyTorch's bare forward ${fmt(e2e.int8 / torch.bare)}x;  fp32/PyTorch end to end ${fmt(e2e.fp32 / torch.endToEnd)}x`
          : ''),
    );
    return { name, e2e, bare, torch };
  } finally {
    fs.rmSync(path.dirname(dir), { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  if (flag('--rss-child')) return rssChild();
  const nImages = numberArg('--images', 400);
  const batch = numberArg('--batch', 8);
  const nTfjs = numberArg('--tfjs-images', 16);
  const nets = stringArg('--nets', 'vgg16,mobilenet').split(',');
  const withTorch = !flag('--no-torch') && ensureTorch({ packages: ['python3-pil'], modules: ['PIL'] });
  await initBackend('wasm');
  console.log(
    `machine: ${os.availableParallelism()} cores, ${os.cpus()[0]?.model ?? 'unknown CPU'}; flags: ${cpuFlags()}; load average ${os
      .loadavg()
      .map((v) => v.toFixed(2))
      .join(' ')}`,
  );
  const results: NetResult[] = [];
  if (nets.includes('vgg16'))
    results.push(await benchNet('VGG16 notop 180x180 (random weights)', 'vgg16', vggBase([180, 180]), nImages, batch, withTorch));
  if (nets.includes('mobilenet'))
    results.push(await benchNet('MobileNet v1 notop 224x224', 'mobilenet', await mobilenetBase(), nImages, batch, withTorch));

  console.log('\nimages/s                                 tlkit fp32   tlkit int8   PyTorch fp32   int8/fp32   int8/PyTorch');
  for (const r of results) {
    const t = r.torch ? fmt(r.torch.endToEnd).padStart(12) : 'skipped'.padStart(12);
    const vs = r.torch ? `${fmt(r.e2e.int8 / r.torch.endToEnd)}x` : '-';
    console.log(
      `${r.name.padEnd(40)} ${fmt(r.e2e.fp32).padStart(11)}  ${fmt(r.e2e.int8).padStart(11)}   ${t}   ${`${fmt(r.e2e.int8 / r.e2e.fp32)}x`.padStart(9)}   ${vs.padStart(12)}`,
    );
  }
  const vgg = results.find((r) => r.name.startsWith('VGG16'));
  if (vgg) {
    const own = vgg.e2e.int8 / vgg.e2e.fp32;
    console.log(
      `VGG16 int8 end to end: ${fmt(own)}x tlkit fp32 (target >= 1.6)${vgg.torch ? `, ${fmt(vgg.e2e.int8 / vgg.torch.endToEnd)}x PyTorch fp32 (target >= 1.8)` : ''}`,
    );
  }
  console.log(
    `load average after: ${os
      .loadavg()
      .map((v) => v.toFixed(2))
      .join(' ')}`,
  );

  // Cached re-extract and the tfjs wasm baseline (VGG16, fp32).
  if (nTfjs > 0 && nets.includes('vgg16')) await cachedAndTfjs(nTfjs, batch);

  if (flag('--full')) {
    console.log('peak RSS: extracting all train/validation/test images of cats_vs_dogs_small in a child process ...');
    const data = stringArg('--data');
    const extra = data ? ['--data', data] : [];
    const child = spawnSync(
      process.execPath,
      ['--import', 'tsx', fileURLToPath(import.meta.url), '--rss-child', '--batch', String(batch), ...extra],
      { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' },
    );
    const line = child.stdout.trim().split('\n').at(-1) ?? '';
    console.log(child.status === 0 ? line : `child failed (status ${child.status}): ${child.stdout}`);
  }
}

/** A second, cached extract over unchanged data, and (c) tfjs wasm model.predict on a few images. */
async function cachedAndTfjs(nTfjs: number, batch: number): Promise<void> {
  const size: [number, number] = [180, 180];
  const base = vggBase(size);
  const { dir, files } = subsetDataDir(Math.max(nTfjs, 16));
  const out = path.join(path.dirname(dir), 'features');
  try {
    const first = await extractFeatures({ base, data: dir, out, batchSize: batch });
    let t0 = performance.now();
    const again = await extractFeatures({ base, data: dir, out, batchSize: batch });
    console.log(
      `\nsecond extract (cache hit: ${again.cacheHit}, ${first.imagesExtracted} images): ${fmt((performance.now() - t0) / 1000, 3)} s  (target < 5 s)`,
    );
    const frozen = frozenModel(base, size);
    const gflop = forwardFlops(frozen) / 1e9;
    const batches = (await decodedBatches(files, size, batch)).slice(0, Math.ceil(nTfjs / batch));
    const per = size[0] * size[1] * 3;
    tf.tidy(() => (frozen.predict(tf.tensor4d(batches[0].images.subarray(0, per), [1, size[0], size[1], 3])) as tf.Tensor).dataSync()); // warm-up
    t0 = performance.now();
    let nDone = 0;
    for (const b of batches) {
      tf.tidy(() => (frozen.predict(tf.tensor(b.images, b.shape)) as tf.Tensor).dataSync());
      nDone += b.shape[0];
    }
    const rate = nDone / ((performance.now() - t0) / 1000);
    console.log(
      `(c) VGG16 tfjs ${tf.getBackend()} model.predict: ${fmt(rate)} images/s, ${fmt(rate * gflop, 1)} GFLOP/s (${nDone} images)`,
    );
  } finally {
    fs.rmSync(path.dirname(dir), { recursive: true, force: true });
  }
}

/** Extract every image of the shared dataset and report this process's peak RSS. */
async function rssChild(): Promise<void> {
  await initBackend('wasm');
  const base = vggBase([180, 180]);
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-bench-rss-'));
  const t0 = performance.now();
  // --data DIR: extract this folder instead of the whole shared dataset.
  const data = stringArg('--data', SHARED_DATA);
  const r = await extractFeatures({ base, data, out, batchSize: numberArg('--batch', 8) });
  const sec = (performance.now() - t0) / 1000;
  const t1 = performance.now();
  const again = await extractFeatures({ base, data, out, batchSize: numberArg('--batch', 8) });
  const cachedSec = (performance.now() - t1) / 1000;
  const peakMb = process.resourceUsage().maxRSS / 1024;
  fs.rmSync(out, { recursive: true, force: true });
  console.log(
    `${r.imagesExtracted} images in ${fmt(sec, 1)} s (${fmt(r.imagesExtracted / sec)} images/s); peak RSS ${fmt(peakMb, 0)} MB (target < 1536 MB); cached re-run ${fmt(cachedSec, 3)} s (hit: ${again.cacheHit})`,
  );
}

await main();
