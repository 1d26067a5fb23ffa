// An ONNX file as the base (--base model.onnx) against tlkit's own base, same network:
// the shared pretrained MobileNet (224x224) over the first N images of
// ../shared/data/cats_vs_dogs_small/train (N/2 cats, N/2 dogs), extractFeatures end to end.
//   (a) the tfjs base: preprocessing as a 1x1 conv inside the exported graph (the baseline)
//   (b) the same network exported by tlkit to mobilenet.onnx, used as an ONNX base with the
//       "tf" preset: preprocessing in JS before ONNX Runtime, the file hashed and inspected
// Each runs --rounds times (default 2), alternating a, b, a, b (fresh caches): the best of
// each is printed, with the ratio b/a and the largest relative difference of the features.
//
//   node --import tsx bench/onnxBase.ts [--images N] (default 96) [--rounds R]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tfl from '@tensorflow/tfjs-layers';
import { loadBase } from '../src/applications/loadBase.js';
import { initBackend } from '../src/tfjs/backend.js';
import { exportToOnnx } from '../src/onnx/export.js';
import { extractFeatures } from '../src/features/extract.js';
import { loadOnnxFeatureBase, type FeatureBase } from '../src/features/frozenBase.js';
import { readNpy } from '../src/io/npy.js';
import { relativeError } from '../src/testing/numerics.js';
import { fileSystemIO } from '../src/weights/tfjsFiles.js';
import { numberArg, SHARED_TRAIN, SHARED_MOBILENET } from './args.js';

const mobilenetDir = SHARED_MOBILENET;
const trainDir = SHARED_TRAIN;
const n = numberArg('--images', 96);
const rounds = numberArg('--rounds', 2);

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-bench-onnxbase-'));
const data = path.join(root, 'data');
for (const cls of ['cats', 'dogs']) {
  fs.mkdirSync(path.join(data, cls), { recursive: true });
  for (const f of fs
    .readdirSync(path.join(trainDir, cls))
    .sort()
    .slice(0, n / 2))
    fs.symlinkSync(path.join(trainDir, cls, f), path.join(data, cls, f));
}

await initBackend();
const tfjsBase = await loadBase({ base: mobilenetDir });
const file = path.join(root, 'mobilenet.onnx');
const m = await tfl.loadLayersModel(fileSystemIO(mobilenetDir));
fs.writeFileSync(file, exportToOnnx(m));
m.dispose();

async function time(base: () => FeatureBase, out: string): Promise<{ rate: number; features: string }> {
  const t0 = performance.now();
  const r = await extractFeatures({ base: base(), data, out: path.join(root, out) });
  const seconds = (performance.now() - t0) / 1000;
  return { rate: r.imagesExtracted / seconds, features: r.splits[0].features };
}

let a = { rate: 0, features: '' };
let b = { rate: 0, features: '' };
for (let r = 0; r < rounds; r++) {
  const ra = await time(() => tfjsBase, `tfjs-${r}`);
  const rb = await time(() => loadOnnxFeatureBase(file, { preprocess: 'tf' }), `onnx-${r}`);
  if (ra.rate > a.rate) a = ra;
  if (rb.rate > b.rate) b = rb;
}
const [fa, fb] = await Promise.all([readNpy(a.features), readNpy(b.features)]);
console.log(`${n} images, MobileNet 224x224, extractFeatures end to end, best of ${rounds} (${os.availableParallelism()} cores)`);
console.log(`(a) tfjs base, preprocessing in the graph: ${a.rate.toFixed(1)} images/s`);
console.log(`(b) --base mobilenet.onnx --preprocess tf:  ${b.rate.toFixed(1)} images/s`);
console.log(
  `ratio b/a: ${(b.rate / a.rate).toFixed(2)}; features: max relative difference ${relativeError(fb.data as Float32Array, fa.data as Float32Array).toExponential(1)}`,
);
tfjsBase.model.dispose();
fs.rmSync(root, { recursive: true, force: true });
