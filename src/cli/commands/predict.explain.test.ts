import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs-core';
import { listImageFiles } from '../../data/splits.js';
import { gradCamFileName } from '../../explain/explainImages.js';
import { OVERLAY_ALPHA } from '../../explain/overlay.js';
import { loadClassifier } from '../../inference/classifier.js';
import { initBackend } from '../../tfjs/backend.js';
import { makeQuadrantBase, makeQuadrantDataset, quadrantAt, quadrantOf, QUADRANT_SIZE } from '../../testing/quadrants.js';
import { train } from '../../workflows/train.js';

// `tlkit predict --explain DIR` and predict({ explain }) in the library, on a run whose
// class lies in one quadrant of each image (testing/quadrants.ts): the PNGs land where
// promised, at the photo's size, and their hottest (reddest) part is in that quadrant.

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
// Through tsx: the test reads the sources, not a dist/ that may be older.
const cli = (...args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', path.join(repo, 'src/cli/main.ts'), ...args], {
    encoding: 'utf8',
    cwd: repo,
    env: { ...process.env, TLKIT_BACKEND: 'cpu' },
  });

let root: string;
let run: string;
let files: string[];

before(async () => {
  await initBackend();
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-explain-cli-'));
  const data = await makeQuadrantDataset(path.join(root, 'data'), { train: 60, validation: 20, test: 4 });
  const base = await makeQuadrantBase(path.join(root, 'base'));
  run = path.join(root, 'run');
  await train(
    { data, base, out: run, epochs: 8, batchSize: 16, headUnits: 16, verbose: 0, learningRate: 0.003, cacheDir: path.join(root, 'cache') },
    { log: () => {} },
  );
  files = ['blues', 'reds'].flatMap((c) => listImageFiles(path.join(data, 'test', c)));
});

/**
 * The quadrant where the overlay's colour map is hottest: the photo taken back out of the
 * blend (OVERLAY_ALPHA of jet over the rest of the photo), then where red most outweighs blue.
 */
async function hottestQuadrant(png: string | Uint8Array, photoFile: string): Promise<number> {
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  const photo = await sharp(photoFile).removeAlpha().raw().toBuffer();
  const colour = (p: number, c: number) => (data[p * 3 + c] - (1 - OVERLAY_ALPHA) * photo[p * 3 + c]) / OVERLAY_ALPHA;
  let best = -Infinity;
  let at = 0;
  for (let p = 0; p < info.width * info.height; p++) {
    const v = colour(p, 0) - colour(p, 2);
    if (v > best) [best, at] = [v, p];
  }
  return quadrantAt(Math.floor(at / info.width), at % info.width, info.width);
}

test('tlkit predict --explain DIR writes DIR/<image name>.gradcam.png for each image, hot in the quadrant that carries the class', async () => {
  const out = path.join(root, 'cams');
  const r = cli('predict', '--model', run, ...files, '--json', '--explain', out);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim().split('\n').length, files.length, 'the predictions are printed as without --explain');
  assert.match(r.stderr, new RegExp(`${files.length} Grad-CAM overlays written to`));
  // The same name in two class folders: the second gets -2, in the order the images were given.
  const taken = new Set<string>();
  const expected = files.map((f) => gradCamFileName(f, taken));
  assert.deepEqual(fs.readdirSync(out).sort(), [...expected].sort());
  let hits = 0;
  for (const [i, f] of files.entries()) {
    const meta = await sharp(path.join(out, expected[i])).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ['png', QUADRANT_SIZE, QUADRANT_SIZE]);
    if ((await hottestQuadrant(path.join(out, expected[i]), f)) === quadrantOf(f)) hits += 1;
  }
  assert.ok(hits >= files.length - 1, `hottest part in the class's quadrant for ${hits}/${files.length}`);

  const bad = cli('predict', '--model', run, '--explain', files[0], files[1]);
  assert.equal(bad.status, 2, 'an image taken as the folder is a UserError');
  assert.match(bad.stderr, /--explain takes a folder .* is a file/);
});

test('predict({ explain }) in the library: true gives the PNG and the heatmap in memory; a folder writes them; tensors and bytes too', async () => {
  const classifier = await loadClassifier(run);
  try {
    const [p] = await classifier.predict(files[5], { explain: true });
    assert.ok(p.explanation, 'an explanation');
    assert.equal(p.explanation.label, p.label, 'of the predicted label');
    assert.equal(p.explanation.file, undefined, 'nothing written');
    assert.deepEqual(p.explanation.size, [4, 4]);
    assert.equal(await hottestQuadrant(p.explanation.png, files[5]), quadrantOf(files[5]));

    const dir = path.join(root, 'lib-cams');
    const bytes = fs.readFileSync(files[6]);
    const pixels = tf.tensor3d(new Float32Array(await sharp(files[7]).removeAlpha().raw().toBuffer()), [QUADRANT_SIZE, QUADRANT_SIZE, 3]);
    const [fromFile, fromBytes, fromPixels] = await classifier.predict([files[5], bytes, pixels], { explain: dir });
    pixels.dispose();
    assert.equal(fromFile.explanation?.file, path.join(dir, `${path.basename(files[5], '.png')}.gradcam.png`));
    assert.equal(fromBytes.explanation?.file, path.join(dir, 'image-2.gradcam.png'));
    assert.equal(fromPixels.explanation?.file, path.join(dir, 'image-3.gradcam.png'));
    for (const [f, e] of [
      [files[6], fromBytes.explanation],
      [files[7], fromPixels.explanation],
    ] as const) {
      assert.ok(e?.file && fs.existsSync(e.file));
      assert.equal(await hottestQuadrant(e.file, f), quadrantOf(f));
    }
    const [plain] = await classifier.predict(files[5]);
    assert.equal(plain.explanation, undefined, 'no explanation unless asked');
  } finally {
    await classifier.dispose();
  }
});
