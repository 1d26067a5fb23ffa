// The export folder's index.html, opened in headless Chromium with real JPEGs and no network
// (every request outside the export's own origin aborted): the browser decodes (EXIF
// orientation applied), the page resizes with tlkit's rule, and the probabilities match
// `tlkit predict` to 1e-4. A missing model or TensorFlow.js shows the error in the page.
import { test, before } from 'node:test';
import { launchChromium, needsChromium } from '../testing/chromium.js';
import { requiring } from '../testing/requirements.js';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeTinyRun } from '../testing/tinyRun.js';
import { writeRotatedPhoto } from '../testing/images.js';
import { decodeImageInto } from '../data/decode.js';
import { readMeta } from '../run/meta.js';
import type { Page } from 'playwright-core';
import { TFJS_DIR, TFJS_FILE } from './browserPage.js';
import { exportRun } from './exportRun.js';

const SHARED_CATS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared/data/cats_vs_dogs_small/test/cats');
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const cli = (...args: string[]) =>
  spawnSync(process.execPath, [path.join(repo, 'bin/tlkit.js'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, TLKIT_BACKEND: 'cpu' },
  });
// onnxruntime-web's package exports hide package.json; its dist/ sits under the package root.
const ORT_WEB_DIST = [path.join(repo, 'node_modules/onnxruntime-web/dist')].find((d) => fs.existsSync(path.join(d, 'ort.min.js')));

/**
 * Serve the export folder `out` at http://tlkit.test/ as a web server would, and abort every
 * other request (no network: no CDN); the URLs aborted are returned for the test to check.
 */
async function serveOffline(page: Page, out: string): Promise<string[]> {
  const aborted: string[] = [];
  await page.route('**', (route) => {
    const url = new URL(route.request().url());
    if (url.origin !== 'http://tlkit.test') {
      aborted.push(url.href);
      return route.abort('internetdisconnected');
    }
    const file = path.join(out, url.pathname);
    return fs.existsSync(file) && fs.statSync(file).isFile()
      ? route.fulfill({ path: file })
      : route.fulfill({ status: 404, body: 'not found' });
  });
  return aborted;
}

/** The page's #status once it has loaded the model or failed to. */
async function settledStatus(page: Page): Promise<string> {
  await page.waitForFunction(() => /^(Model loaded|Error)/.test(document.getElementById('status')?.textContent ?? ''), undefined, {
    timeout: 60_000,
  });
  return (await page.locator('#status').textContent()) ?? '';
}

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
        // No network: the export's own files only (TensorFlow.js included).
        const aborted = await serveOffline(page, out);
        await page.goto('http://tlkit.test/index.html?backend=cpu');
        assert.match(await settledStatus(page), /^Model loaded \(cpu\)/);
        assert.ok(fs.existsSync(path.join(out, TFJS_DIR, TFJS_FILE)) && fs.existsSync(path.join(out, TFJS_DIR, 'LICENSE')));
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
        assert.deepEqual(aborted, [], 'the page asked for nothing outside its folder');
      } finally {
        await browser.close();
      }
    }),
  );
}

test(
  'index.html shows why it cannot run: the model missing, TensorFlow.js missing, opened from a file',
  requiring(needsChromium, async () => {
    const out = path.join(root, 'page-broken');
    const r = cli('export', run, '--format', 'tfjs', '--out', out);
    assert.equal(r.status, 0, r.stderr);
    const browser = await launchChromium();
    try {
      fs.rmSync(path.join(out, 'model.json'));
      let page = await browser.newPage();
      await serveOffline(page, out);
      await page.goto('http://tlkit.test/index.html?backend=cpu');
      assert.match(
        await settledStatus(page),
        /^Error: the model did not load \(.*\)\. model\.json and the weights it lists must be beside index\.html\.$/,
      );
      assert.equal(await page.locator('#status').getAttribute('class'), 'error');
      await page.close();

      fs.rmSync(path.join(out, TFJS_DIR), { recursive: true });
      page = await browser.newPage();
      await serveOffline(page, out);
      await page.goto('http://tlkit.test/index.html');
      assert.equal(
        await settledStatus(page),
        `Error: TensorFlow.js did not load: ${TFJS_DIR}/${TFJS_FILE}, which the export carries, must stay beside index.html.`,
      );
      await page.close();

      // a page opened from the disk cannot fetch model.json: it says to serve the folder
      const whole = path.join(root, 'page-file');
      assert.equal(cli('export', run, '--format', 'tfjs', '--out', whole).status, 0);
      page = await browser.newPage();
      await page.goto(`file://${path.join(whole, 'index.html')}`);
      assert.match(
        await settledStatus(page),
        /^Error: the model did not load .*serve the folder over http, e\.g\. python3 -m http\.server\.$/,
      );
    } finally {
      await browser.close();
    }
  }),
);

test(
  'index.html ?backend=NAME: a backend that cannot start is named in the page, with why and the backend used instead',
  requiring(needsChromium, async () => {
    const out = path.join(root, 'page-backend');
    await exportRun(run, { format: 'tfjs', out });
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(String(e)));
      await serveOffline(page, out);
      // The page's TensorFlow.js has no webgl backend (the export carries cpu and wasm): it says so and runs on another one.
      await page.goto('http://tlkit.test/index.html?backend=webgl');
      const status = await settledStatus(page);
      const used = /^Model loaded \((\w+), not webgl: see above\)\. Choose an image\.$/.exec(status)?.[1];
      assert.ok(used && used !== 'webgl', status);
      assert.equal(
        await page.locator('#backend').textContent(),
        `The backend "webgl" asked for in the address (?backend=webgl) cannot run: this page's TensorFlow.js has no such backend (it has ${await page.evaluate(() => Object.keys((globalThis as unknown as { tf: { engine(): { registryFactory: object } } }).tf.engine().registryFactory).join(', '))}). Running on ${used} instead.`,
      );
      assert.equal(await page.locator('#backend').getAttribute('class'), 'warning');
      assert.ok(await page.locator('#backend').isVisible());
      // ... and it still classifies, on the backend it names.
      await page.setInputFiles('#file', photos[0]);
      await page.waitForFunction(() => (document.getElementById('result')?.textContent ?? '') !== '', undefined, { timeout: 60_000 });
      assert.equal(await page.evaluate(() => (globalThis as unknown as { tf: { getBackend(): string } }).tf.getBackend()), used);
      await page.close();

      // A backend that starts: no note. wasm finds its binaries in tfjs/ beside the page (served offline); the page says which runs.
      for (const name of ['cpu', 'wasm']) {
        const p = await browser.newPage();
        await serveOffline(p, out);
        await p.goto(`http://tlkit.test/index.html?backend=${name}`);
        const said = await settledStatus(p);
        const note = (await p.locator('#backend').textContent()) ?? '';
        if (said.startsWith(`Model loaded (${name})`)) assert.equal(note, '', name);
        else {
          assert.match(said, new RegExp(`^Model loaded \\(\\w+, not ${name}: see above\\)`));
          assert.match(
            note,
            new RegExp(
              `^The backend "${name}" asked for in the address \\(\\?backend=${name}\\) cannot run: it failed to start in this browser`,
            ),
          );
        }
        assert.match(said, new RegExp(`^Model loaded \\(${name}\\)`));
        await p.close();
      }
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
    }
  }),
);

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
