/**
 * Quantized tfjs exports in the browser against `tlkit predict`, on a real run: each
 * export's index.html in headless Chromium, offline (the TensorFlow.js the export
 * carries; anything not the export's own origin is aborted), cpu backend, classifies the
 * test split's JPEGs; the label agreement and the largest probability difference against
 * `tlkit predict` (ONNX Runtime, float32) are printed, with the export's own measurement
 * (metadata.json: quantized vs float32 on the validation split). "uint8-every-tensor" is
 * the uint8 of tlkit before the agreement check (tfjs-converter's uint8 on every tensor),
 * rebuilt here from the float32 export for comparison; "float32" is the export without --quantize.
 * The images whose label differs are listed with both probabilities.
 *
 *   node --import tsx bench/exportAgreement.ts --run RUN [--data DIR] [--split test] [--n 1000]
 *     [--quantize uint8,uint16,float16,uint8-every-tensor] [--backend cpu|wasm]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import type * as tf from '@tensorflow/tfjs-core';
import { measureAgreement } from '../src/export/agreement.js';
import { exportRun } from '../src/export/exportRun.js';
import { agreementImages } from '../src/export/validationImages.js';
import { readMeta } from '../src/run/meta.js';
import { fileSystemIO } from '../src/weights/tfjsFiles.js';
import { quantizeWeights } from '../src/export/quantize.js';
import { loadClassifier } from '../src/inference/classifier.js';
import { evaluationFiles } from '../src/inference/predictor.js';
import { numberArg, SHARED_DATA, stringArg } from './args.js';

const run = stringArg('--run');
if (!run) throw new Error('usage: bench/exportAgreement.ts --run RUN [--data DIR] [--split test] [--n 1000] [--quantize uint8,uint16]');
const data = stringArg('--data', SHARED_DATA);
const split = stringArg('--split', 'test');
const n = numberArg('--n', 1000);
const backend = stringArg('--backend', 'cpu');
const modes = stringArg('--quantize', 'uint8,uint16,uint8-every-tensor').split(',');
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-agreement-'));

const clf = await loadClassifier(run);
const { files: all } = evaluationFiles(path.join(data, split), clf.classNames);
const files = all.filter((_, i) => i % Math.max(1, Math.floor(all.length / n)) === 0).slice(0, n);
const expected = await clf.predict(files);
await clf.dispose();

/** tfjs-converter's uint8 on every tensor (what `--quantize uint8` wrote before), from a float32 export. */
function everyTensorUint8(dir: string): void {
  const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
  const specs = json.weightsManifest.flatMap((g: { weights: unknown[] }) => g.weights);
  const bytes = fs.readFileSync(path.join(dir, 'weights.bin'));
  const q = quantizeWeights(specs, bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength), 'uint8');
  json.weightsManifest = [{ paths: ['weights.bin'], weights: q.specs }];
  fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(json));
  fs.writeFileSync(path.join(dir, 'weights.bin'), new Uint8Array(q.data));
}

// the export carries the cpu and wasm backends (and the wasm binaries) in tfjs/
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu'] });
try {
  for (const mode of modes) {
    const out = path.join(root, mode);
    const t0 = performance.now();
    const r =
      mode === 'uint8-every-tensor' || mode === 'float32'
        ? await exportRun(run, { format: 'tfjs', out })
        : await exportRun(run, { format: 'tfjs', out, quantize: mode as 'uint8' });
    if (mode === 'uint8-every-tensor') {
      // the export's own check, as a quantized export runs it: against the float32 model on the validation split
      const reference = await (fileSystemIO(out) as Required<Pick<tf.io.IOHandler, 'load'>>).load();
      everyTensorUint8(out);
      const quantized = await (fileSystemIO(out) as Required<Pick<tf.io.IOHandler, 'load'>>).load();
      const meta = await readMeta(run);
      const images = agreementImages(meta);
      if (!('reason' in images))
        r.agreement = await measureAgreement(reference, quantized, {
          ...images,
          labels: meta.classes,
          imageSize: meta.imageSize,
          scale: 1,
          offset: 0,
        });
    }
    const exportSeconds = (performance.now() - t0) / 1000;
    const page = await browser.newPage();
    // offline: the export's own files (and the test images under /img/) only
    await page.route('**', (route) => {
      const url = new URL(route.request().url());
      if (url.origin !== 'http://tlkit.test') return route.abort('internetdisconnected');
      if (url.pathname.startsWith('/img/')) return route.fulfill({ path: files[Number(url.pathname.slice(5))] });
      return route.fulfill({ path: path.join(out, url.pathname) });
    });
    await page.goto(`http://tlkit.test/index.html?backend=${backend}`);
    await page.waitForFunction(() => /^(Model loaded|Error)/.test(document.getElementById('status')?.textContent ?? ''), undefined, {
      timeout: 300_000,
    });
    const status = await page.locator('#status').textContent();
    if (!status?.startsWith('Model loaded')) throw new Error(`${mode}: ${status}`);
    let same = 0;
    let worst = 0;
    const changed: string[] = [];
    const t1 = performance.now();
    for (let start = 0; start < files.length; start += 25) {
      const idx = Array.from({ length: Math.min(25, files.length - start) }, (_, i) => start + i);
      const got = await page.evaluate(async (ids) => {
        const results = [];
        // classify() is the page's own function (a global of its script)
        const classify = (
          globalThis as unknown as {
            classify: (b: Blob) => Promise<{ label: string; probabilities: Array<{ label: string; probability: number }> }>;
          }
        ).classify;
        for (const i of ids) results.push(await classify(await (await fetch(`/img/${i}`)).blob()));
        return results;
      }, idx);
      got.forEach((g, j) => {
        const e = expected[idx[j]];
        if (g.label === e.label) same++;
        else
          changed.push(
            `${path.basename(files[idx[j]])}: predict ${e.label} ${e.probability.toFixed(4)}, page ${g.label} ${g.probabilities[0].probability.toFixed(4)}`,
          );
        for (const p of e.probabilities) {
          const q = g.probabilities.find((x) => x.label === p.label)?.probability ?? Number.NaN;
          worst = Math.max(worst, Number.isNaN(q) ? 1 : Math.abs(q - p.probability));
        }
      });
    }
    const pageSeconds = (performance.now() - t1) / 1000;
    await page.close();
    const a = r.agreement;
    const own = a?.measured
      ? `${(a.labelAgreement * 100).toFixed(2)}% of ${a.images} validation images, max ${a.maxProbabilityDifference.toFixed(4)}`
      : 'n/a';
    console.log(
      `${mode}: ${(fs.statSync(path.join(out, 'weights.bin')).size / 1e6).toFixed(2)} MB weights; page vs tlkit predict on ${files.length} ${split} images: ` +
        `same label ${same}/${files.length} (${((same / files.length) * 100).toFixed(2)}%), largest probability difference ${worst.toFixed(4)} ` +
        `[${pageSeconds.toFixed(0)} s in Chromium, ${backend}]; export's own check: ${own} [export ${exportSeconds.toFixed(0)} s]`,
    );
    for (const c of changed) console.log(`  ${c}`);
  }
} finally {
  await browser.close();
}
