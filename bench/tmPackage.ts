/**
 * `tlkit export --format tm` of a real run in Teachable Machine's own package
 * (@teachablemachine/image 0.8.5 on tfjs 1.3.1, headless Chromium, cpu backend), on real
 * JPEGs, against `tlkit predict` (the Classifier: ONNX Runtime, same decoding):
 *   - fed a canvas at the model's size holding tlkit's resize (rounded to 8 bits): against
 *     tlkit predict on those same pixels (a PNG), and on the original JPEG;
 *   - the baseline: fed the <img> itself (the package's own centre crop + canvas resize).
 *
 *   node --import tsx bench/tmPackage.ts --run RUN [--data DIR] [--n 10]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { exportRun } from '../src/export/exportRun.js';
import { decodeImageInto } from '../src/data/decode.js';
import { loadClassifier } from '../src/inference/classifier.js';
import { evaluationFiles } from '../src/inference/predictor.js';
import { canvasBytes, needsTmPackage, runTmPackage, type TmClasses } from '../src/testing/tmPackage.js';
import { unmet } from '../src/testing/requirements.js';
import { stringArg, SHARED_DATA } from './args.js';

const run = stringArg('--run');
if (!run) throw new Error('usage: bench/tmPackage.ts --run RUN [--data DIR] [--n 10]');
const missing = unmet(needsTmPackage);
if (missing) throw new Error(missing);
const data = stringArg('--data', SHARED_DATA);
const n = Number(stringArg('--n', '10'));

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-tm-'));
const out = path.join(tmp, 'tm');
const exported = await exportRun(run, { format: 'tm', out });
const size = exported.metadata.imageSize;
const clf = await loadClassifier(run);
const { files } = evaluationFiles(data, clf.classNames);
const picked = files.filter((_, i) => i % Math.max(1, Math.floor(files.length / n)) === 0).slice(0, n);
const canvases: Uint8ClampedArray[] = [];
const pngs: string[] = [];
for (const [i, file] of picked.entries()) {
  const rgb = new Float32Array(size[0] * size[1] * 3);
  await decodeImageInto(file, size, rgb, 0);
  canvases.push(canvasBytes(rgb));
  pngs.push(path.join(tmp, `${i}.png`));
  await sharp(Buffer.from(canvases[i]), { raw: { width: size[1], height: size[0], channels: 4 } })
    .removeAlpha()
    .png()
    .toFile(pngs[i]);
}
const onPhotos = await clf.predict(picked);
const onPngs = await clf.predict(pngs);
await clf.dispose();

const t0 = performance.now();
const got = await runTmPackage(out, canvases, size, picked);
const seconds = (performance.now() - t0) / 1000;
const worst = (rows: TmClasses[], want: typeof onPhotos) =>
  Math.max(
    ...rows.flatMap((classes, i) =>
      classes.map((c) => Math.abs(c.probability - (want[i].probabilities.find((p) => p.label === c.className)?.probability ?? NaN))),
    ),
  );
const top = (classes: TmClasses) => classes.reduce((a, b) => (b.probability > a.probability ? b : a)).className;
const flips = (rows: TmClasses[]) => rows.filter((classes, i) => top(classes) !== onPhotos[i].label).length;
const same = worst(got.onCanvases, onPngs);
const photo = worst(got.onCanvases, onPhotos);
const own = worst(got.onImages, onPhotos);
console.log(
  `${picked.length} JPEGs from ${data}, ${exported.metadata.run.base} at ${size.join('x')}, package on tfjs ${got.tfjs} (${seconds.toFixed(1)} s in Chromium):`,
);
console.log(`  canvas with tlkit's resize vs tlkit predict on the same 8-bit pixels: max |dP| = ${same.toExponential(2)}`);
console.log(
  `  canvas with tlkit's resize vs tlkit predict on the JPEG:             max |dP| = ${photo.toExponential(2)}, ${flips(got.onCanvases)} other labels`,
);
console.log(
  `  baseline, the <img> (package's own crop + canvas resize) vs the JPEG: max |dP| = ${own.toExponential(2)}, ${flips(got.onImages)} other labels` +
    (photo > 1e-12 ? ` (${(own / photo).toFixed(0)}x the canvas's)` : ' (the canvas: 0 to float32 precision; saturated probabilities)'),
);
fs.rmSync(tmp, { recursive: true, force: true });
