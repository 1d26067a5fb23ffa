// `tlkit export --format tm` as Teachable Machine's own npm package sees it:
// @teachablemachine/image 0.8.5 (its browser bundle) on the TensorFlow.js it pins (1.3.1),
// in headless Chromium, served from 127.0.0.1; probabilities against `tlkit predict`.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { canvasBytes, needsTmPackage, runTmPackage, type TmClasses } from '../testing/tmPackage.js';
import { requiring, unmet } from '../testing/requirements.js';
import { maxAbsError } from '../testing/numerics.js';
import { makeTinyRun } from '../testing/tinyRun.js';
import { decodeImageInto } from '../data/decode.js';
import { readMeta } from '../run/meta.js';
import { fileSystemIO } from '../weights/tfjsFiles.js';
import { TM_FEED_NOTE } from './teachableMachine.js';
import { quantizeWeights } from './quantize.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SHARED_CATS = path.resolve(repo, '../shared/data/cats_vs_dogs_small/test/cats');
const cli = (...args: string[]) =>
  spawnSync(process.execPath, [path.join(repo, 'bin/tlkit.js'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, TLKIT_BACKEND: 'cpu' },
  });
const verbose = (line: string) => process.env.TLKIT_TEST_VERBOSE && process.stderr.write(`${line}\n`);

interface Prediction {
  probabilities: Array<{ label: string; probability: number }>;
}

let run = '';
let root = '';
let size: [number, number] = [0, 0];
/** A generated JPEG, and real Kaggle photos when the shared data is beside the repository. */
const photos: string[] = [];
/** Each photo resized by tlkit's rule to the model's size, as a canvas's 8-bit RGBA; and those pixels as a PNG. */
const canvases: Uint8ClampedArray[] = [];
const pngs: string[] = [];

before(async () => {
  if (unmet(needsTmPackage)) return; // the tests themselves then skip or, under CI, fail
  ({ run } = await makeTinyRun(2));
  root = path.dirname(run);
  size = (await readMeta(run)).imageSize;
  const px = Buffer.alloc(90 * 60 * 3);
  for (let i = 0; i < 90 * 60; i++) px.set(i % 90 < 45 ? [200, 30 + (i % 40), 40] : [40, (i * 7) % 255, 190], i * 3);
  photos.push(path.join(root, 'generated.jpg'));
  await sharp(px, { raw: { width: 90, height: 60, channels: 3 } })
    .jpeg({ quality: 90 })
    .toFile(photos[0]);
  if (fs.existsSync(SHARED_CATS))
    photos.push(
      ...fs
        .readdirSync(SHARED_CATS)
        .sort()
        .slice(0, 2)
        .map((f) => path.join(SHARED_CATS, f)),
    );
  for (const photo of photos) {
    const rgb = new Float32Array(size[0] * size[1] * 3);
    await decodeImageInto(photo, size, rgb, 0); // what tlkit predict feeds the model
    const rgba = canvasBytes(rgb);
    canvases.push(rgba);
    const png = path.join(root, `${path.basename(photo)}.canvas.png`);
    await sharp(Buffer.from(rgba), { raw: { width: size[1], height: size[0], channels: 4 } })
      .removeAlpha()
      .png()
      .toFile(png);
    pngs.push(png);
  }
});

function probabilityOf(p: Prediction, label: string): number {
  return p.probabilities.find((x) => x.label === label)?.probability ?? NaN;
}

test(
  "export --format tm: @teachablemachine/image 0.8.5 on tfjs 1.3.1 loads it in Chromium and gives tlkit predict's probabilities on the same pixels (1e-6)",
  requiring(needsTmPackage, async () => {
    const out = path.join(root, 'tm');
    const r = cli('export', run, '--format', 'tm', '--out', out);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(
      JSON.parse(fs.readFileSync(path.join(out, 'metadata.json'), 'utf8')).userMetadata.tlkit.resize.teachableMachine,
      TM_FEED_NOTE,
    );
    const want = cli('predict', '--model', run, ...pngs, ...photos, '--json');
    assert.equal(want.status, 0, want.stderr);
    const rows = want.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Prediction);
    const onPngs = rows.slice(0, pngs.length);
    const onPhotos = rows.slice(pngs.length);

    const got = await runTmPackage(out, canvases, size, photos);
    assert.equal(got.tfjs, '1.3.1');
    assert.deepEqual(got.labels, ['cats', 'dogs']);
    assert.equal(got.totalClasses, 2);
    got.onCanvases.forEach((classes: TmClasses, i) => {
      const name = path.basename(photos[i]);
      assert.deepEqual(
        classes.map((c) => c.className),
        ['cats', 'dogs'],
        name,
      );
      assert.ok(Math.abs(classes[0].probability + classes[1].probability - 1) <= 1e-6, `${name}: probabilities sum to 1`);
      for (const c of classes) {
        const same = probabilityOf(onPngs[i], c.className);
        const photo = probabilityOf(onPhotos[i], c.className);
        // The same 8-bit pixels in both: the model and the package's reading of it (measured <= 7.5e-8: float rounding).
        assert.ok(
          Math.abs(c.probability - same) <= 1e-6,
          `${name} ${c.className}: package ${c.probability}, tlkit predict on the canvas's pixels ${same}`,
        );
        // The original photo: only the canvas's rounding to 8 bits differs (measured <= 8.6e-4 on
        // these three photos, 3.6e-4 on the generated one alone).
        assert.ok(
          Math.abs(c.probability - photo) <= 2e-3,
          `${name} ${c.className}: package ${c.probability}, tlkit predict on the photo ${photo}`,
        );
        verbose(
          `tm ${name} ${c.className}: |package - predict(same pixels)| = ${Math.abs(c.probability - same).toExponential(2)}, |package - predict(photo)| = ${Math.abs(c.probability - photo).toExponential(2)}`,
        );
      }
    });
    // The package fed each photo as an <img>: its own centre crop and canvas resize, not tlkit's,
    // so near tlkit predict, not equal (measured: 4.7e-2 generated, 1.7e-2 and 1.9e-2 the photos).
    assert.equal(got.onImages.length, photos.length);
    got.onImages.forEach((classes, i) => {
      const name = path.basename(photos[i]);
      assert.deepEqual(
        classes.map((c) => c.className),
        ['cats', 'dogs'],
        name,
      );
      assert.ok(
        classes.every((c) => c.probability >= 0 && c.probability <= 1) &&
          Math.abs(classes[0].probability + classes[1].probability - 1) <= 1e-6,
        `${name}: probabilities ${JSON.stringify(classes)}`,
      );
      const gap = maxAbsError(
        classes.map((c) => c.probability),
        classes.map((c) => probabilityOf(onPhotos[i], c.className)),
      );
      verbose(`tm ${name}: the package fed the <img> (its own crop + canvas resize) differs from tlkit predict by ${gap.toExponential(2)}`);
      assert.ok(
        gap <= 0.1,
        `${name}: package on the <img> ${JSON.stringify(classes)}, tlkit predict ${JSON.stringify(onPhotos[i].probabilities)}`,
      );
      // Where tlkit predict is clear (the two cat photos: 0.85, 0.88), the package names the same class.
      const top = onPhotos[i].probabilities[0];
      if (top.probability >= 0.6)
        assert.equal(classes[0].probability >= classes[1].probability ? classes[0].className : classes[1].className, top.label, name);
    });
  }),
);

test(
  'export --format tm --quantize uint8: the package decodes the uint16 and uint8 weights as tfjs 4 does, agreement measured; float16 (which tfjs 1.3.1 cannot read) is refused',
  requiring(needsTmPackage, async () => {
    const out = path.join(root, 'tm-uint8');
    const r = cli('export', run, '--format', 'tm', '--quantize', 'uint8', '--out', out);
    assert.equal(r.status, 0, r.stderr);
    // the tiny model's tensors are small: --quantize uint8 stores them at uint16 (Teachable Machine's tfjs 1.3.1 reads no float16)
    const agreement = JSON.parse(fs.readFileSync(path.join(out, 'metadata.json'), 'utf8')).userMetadata.tlkit.agreement;
    assert.equal(agreement.measured, true);
    assert.equal(agreement.images, 16);
    assert.equal(agreement.labelAgreement, 1);
    assert.match(r.stdout, /same label on 16\/16 \(100\.00%\)/);
    // and the same export with every tensor at uint8 (tfjs-converter's encoding), for the package's uint8 decoding
    const every = path.join(root, 'tm-every-uint8');
    fs.cpSync(out, every, { recursive: true });
    const json = JSON.parse(fs.readFileSync(path.join(out, 'model.json'), 'utf8'));
    const decoded = await (fileSystemIO(out) as Required<Pick<tf.io.IOHandler, 'load'>>).load();
    const specs = (decoded.weightSpecs ?? []).map(({ quantization, ...spec }) => spec);
    const floats = tf.io.decodeWeights(decoded.weightData as ArrayBuffer, decoded.weightSpecs ?? []);
    const raw = tf.io.concatenateArrayBuffers(specs.map((s) => (floats[s.name].dataSync() as Float32Array).slice().buffer));
    tf.dispose(Object.values(floats));
    const q = quantizeWeights(specs, raw, 'uint8');
    json.weightsManifest = [{ paths: ['weights.bin'], weights: q.specs }];
    fs.writeFileSync(path.join(every, 'model.json'), JSON.stringify(json));
    fs.writeFileSync(path.join(every, 'weights.bin'), new Uint8Array(q.data));
    for (const [dir, dtype] of [
      [out, 'uint16'],
      [every, 'uint8'],
    ] as const) {
      const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8')).weightsManifest[0].weights;
      assert.ok(manifest.every((w: { quantization?: { dtype: string } }) => w.quantization?.dtype === dtype));
      const model = await tfl.loadLayersModel(fileSystemIO(dir));
      // What the package feeds for each canvas: its RGB / 127 - 1.
      const rgb = Float32Array.from(canvases.flatMap((c) => Array.from(c).filter((_, i) => i % 4 !== 3)));
      const x = tf.tidy(() => tf.sub(tf.div(tf.tensor4d(rgb, [canvases.length, size[0], size[1], 3]), 127), 1));
      const y = model.predict(x) as tf.Tensor;
      const want = y.arraySync() as number[][];
      tf.dispose([x, y]);
      model.dispose();
      const got = await runTmPackage(dir, canvases, size);
      got.onCanvases.forEach((classes, i) =>
        classes.forEach((c, j) => {
          assert.ok(
            Math.abs(c.probability - want[i][j]) <= 1e-4,
            `${dtype} ${path.basename(photos[i])} ${c.className}: package ${c.probability}, tfjs 4 ${want[i][j]}`,
          );
        }),
      );
    }

    const f16 = cli('export', run, '--format', 'tm', '--quantize', 'float16', '--out', path.join(root, 'tm-f16'));
    assert.equal(f16.status, 2);
    assert.match(
      f16.stderr,
      /--quantize float16 cannot be read by Teachable Machine's package \(it runs TensorFlow\.js 1\.3\.1, .*\)\. Use --quantize uint8 or uint16 with --format tm, or --format tfjs for float16\./,
    );
    assert.equal(fs.existsSync(path.join(root, 'tm-f16')), false);
  }),
);
