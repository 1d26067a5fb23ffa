// The export folder's index.html, opened in headless Chromium with real JPEGs: the
// browser decodes (EXIF orientation applied), the page resizes with tlkit's rule, and the
// probabilities match `tlkit predict` to 1e-4.
import { test, before } from 'node:test';
import { launchChromium, needsChromium } from '../testing/chromium.js';
import { requiring } from '../testing/requirements.js';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { makeTinyRun } from '../testing/tinyRun.js';
import { writeRotatedPhoto } from '../testing/images.js';
import { decodeImageInto } from '../data/decode.js';
import { readMeta } from '../run/meta.js';
import { TFJS_CDN } from './browserPage.js';

const SHARED_CATS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared/data/cats_vs_dogs_small/test/cats');
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const cli = (...args: string[]) =>
  spawnSync(process.execPath, [path.join(repo, 'bin/tlkit.js'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, TLKIT_BACKEND: 'cpu' },
  });
const TFJS_BUNDLE = path.join(path.dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs/package.json')), 'dist/tf.min.js');
// onnxruntime-web's package exports hide package.json; its dist/ sits under the package root.
const ORT_WEB_DIST = [path.join(repo, 'node_modules/onnxruntime-web/dist')].find((d) => fs.existsSync(path.join(d, 'ort.min.js')));

let run = '';
let root = '';
const photos: string[] = [];

before(async () => {
  ({ run } = await makeTinyRun(2));
  root = path.dirname(run);
  // A phone-like photo: stored landscape with EXIF orientation 6 (shown turned 90 degrees).
  photos.push(await writeRotatedPhoto(path.join(root, 'phone.jpg')));
  // Real photos (Kaggle JPEGs), when the shared data is beside the repository.
  if (fs.existsSync(SHARED_CATS))
    photos.push(
      ...fs
        .readdirSync(SHARED_CATS)
        .sort()
        .slice(0, 2)
        .map((f) => path.join(SHARED_CATS, f)),
    );
});

for (const format of ['tfjs', 'tm'] as const) {
  test(
    `export --format ${format}: index.html classifies a chosen JPEG in Chromium as tlkit predict does (1e-4)`,
    requiring(needsChromium, async () => {
      const out = path.join(root, `page-${format}`);
      const r = cli('export', run, '--format', format, '--out', out);
      assert.equal(r.status, 0, r.stderr);
      const browser = await launchChromium();
      try {
        const page = await browser.newPage();
        const errors: string[] = [];
        page.on('pageerror', (e) => errors.push(String(e)));
        // No network: the CDN's tfjs is the one in node_modules, the folder is served as a web server would.
        await page.route(TFJS_CDN, (route) => route.fulfill({ path: TFJS_BUNDLE, contentType: 'text/javascript' }));
        await page.route('http://tlkit.test/**', (route) => {
          const file = path.join(out, new URL(route.request().url()).pathname);
          return fs.existsSync(file) ? route.fulfill({ path: file }) : route.fulfill({ status: 404, body: 'not found' });
        });
        await page.goto('http://tlkit.test/index.html?backend=cpu');
        await page.waitForFunction(() => document.getElementById('status')?.textContent?.startsWith('Model loaded'), undefined, {
          timeout: 60_000,
        });
        for (const photo of photos) {
          const want = cli('predict', '--model', run, photo, '--json');
          assert.equal(want.status, 0, want.stderr);
          const expected = JSON.parse(want.stdout) as { label: string; probabilities: Array<{ label: string; probability: number }> };
          await page.evaluate(() => {
            (document.getElementById('result') as HTMLElement).textContent = '';
          });
          await page.setInputFiles('#file', photo);
          await page.waitForFunction(() => (document.getElementById('result')?.textContent ?? '') !== '', undefined, { timeout: 60_000 });
          const got = JSON.parse((await page.locator('#result').textContent()) ?? '{}') as typeof expected;
          assert.equal(got.label, expected.label, path.basename(photo));
          for (const p of expected.probabilities) {
            const q = got.probabilities.find((x) => x.label === p.label)?.probability ?? NaN;
            assert.ok(
              Math.abs(q - p.probability) <= 1e-4,
              `${path.basename(photo)} ${p.label}: browser ${q}, tlkit predict ${p.probability}`,
            );
            if (process.env.TLKIT_TEST_VERBOSE)
              process.stderr.write(
                `${format} ${path.basename(photo)} ${p.label}: |browser - predict| = ${Math.abs(q - p.probability).toExponential(2)}\n`,
              );
          }
        }
        assert.deepEqual(errors, []);
      } finally {
        await browser.close();
      }
    }),
  );
}

const needsOrtWeb = { missing: !ORT_WEB_DIST && 'onnxruntime-web is not installed (a devDependency)', install: 'npm ci' };

test(
  "export --format onnx: onnxruntime-web (wasm) in Chromium gives tlkit predict's probabilities to 1e-4",
  requiring([needsChromium, needsOrtWeb], async () => {
    const out = path.join(root, 'page-onnx');
    const r = cli('export', run, '--format', 'onnx', '--out', out);
    assert.equal(r.status, 0, r.stderr);
    const size = (await readMeta(run)).imageSize;
    const per = size[0] * size[1] * 3;
    const pixels = new Float32Array(photos.length * per);
    for (let i = 0; i < photos.length; i++) await decodeImageInto(photos[i], size, pixels, i * per);
    const want = cli('predict', '--model', run, ...photos, '--json');
    assert.equal(want.status, 0, want.stderr);
    const expected = want.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { probabilities: Array<{ label: string; probability: number }> });
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(String(e)));
      await page.route('http://tlkit.test/**', (route) => {
        const name = new URL(route.request().url()).pathname;
        if (name === '/index.html')
          return route.fulfill({
            contentType: 'text/html',
            body: '<!DOCTYPE html><html><head><script src="/ort/ort.min.js"></script></head><body></body></html>',
          });
        const file = name.startsWith('/ort/') ? path.join(ORT_WEB_DIST as string, name.slice(5)) : path.join(out, name);
        if (!fs.existsSync(file)) return route.fulfill({ status: 404, body: 'not found' });
        const type = file.endsWith('.wasm') ? 'application/wasm' : file.endsWith('js') ? 'text/javascript' : 'application/octet-stream';
        return route.fulfill({ path: file, contentType: type });
      });
      await page.goto('http://tlkit.test/index.html');
      const got = await page.evaluate(
        async ({ data, shape }) => {
          // biome-ignore lint/suspicious/noExplicitAny: onnxruntime-web's global comes from a script tag that carries no types
          const ort = (globalThis as unknown as { ort: any }).ort;
          ort.env.wasm.wasmPaths = 'http://tlkit.test/ort/';
          ort.env.wasm.numThreads = 1;
          const bytes = new Uint8Array(await (await fetch('/model.onnx')).arrayBuffer());
          const session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
          const input = new ort.Tensor('float32', Float32Array.from(data), shape);
          const result = await session.run({ [session.inputNames[0]]: input });
          return Array.from(result[session.outputNames[0]].data as Float32Array);
        },
        { data: Array.from(pixels), shape: [photos.length, size[0], size[1], 3] },
      );
      assert.equal(got.length, photos.length);
      got.forEach((pDogs, i) => {
        const exp = expected[i].probabilities.find((p) => p.label === 'dogs')?.probability ?? NaN;
        assert.ok(Math.abs(pDogs - exp) <= 1e-4, `${path.basename(photos[i])}: onnxruntime-web ${pDogs}, tlkit predict ${exp}`);
        if (process.env.TLKIT_TEST_VERBOSE)
          process.stderr.write(`onnx-web ${path.basename(photos[i])}: |web - predict| = ${Math.abs(pDogs - exp).toExponential(2)}\n`);
      });
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
    }
  }),
);
