// The Grad-CAM routes through the app's own routing (hono's app.request), on a run whose
// answer is known (testing/quadrants.ts: the class lies in one quadrant of each image): the
// PNG's hottest pixel lies in that quadrant, the upload and the data file give the same
// overlay, paths outside the run's data folder are refused, and a run that cannot be
// explained says why.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Hono } from 'hono';
import sharp from 'sharp';
import { decodeRgb } from '../data/decode.js';
import { listImageFiles } from '../data/splits.js';
import { jet, OVERLAY_ALPHA } from '../explain/overlay.js';
import { loadGradCam } from '../explain/runGradCam.js';
import { exportToOnnx } from '../onnx/export.js';
import { initBackend } from '../tfjs/backend.js';
import {
  makeQuadrantBase,
  makeQuadrantDataset,
  quadrantAt,
  quadrantBaseModel,
  quadrantOf,
  QUADRANT_CLASSES,
  QUADRANT_SIZE,
} from '../testing/quadrants.js';
import { train } from '../workflows/train.js';
import { createUiApp } from './app.js';
import { EXPLAINED_LABEL_HEADER, registerExplain } from './explainRoute.js';
import { TOKEN_COOKIE } from './security.js';
import type { Trainer } from './trainer.js';
import { DEFAULT_UPLOAD_LIMITS } from './uploads.js';

const PORT = 5124;
const TOKEN = 'explain-route-test-token';
const headers = { host: `127.0.0.1:${PORT}`, cookie: `${TOKEN_COOKIE}=${TOKEN}` };
let root = '';
let data = '';
let runs = '';
let testFiles: string[] = [];
let ui: ReturnType<typeof createUiApp>;

before(async () => {
  await initBackend();
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-ui-explain-'));
  data = await makeQuadrantDataset(path.join(root, 'data'), { train: 60, validation: 20, test: 10 });
  testFiles = QUADRANT_CLASSES.flatMap((c) => listImageFiles(path.join(data, 'test', c)));
  runs = path.join(root, 'runs');
  const common = {
    data,
    epochs: 8,
    batchSize: 16,
    headUnits: 16,
    verbose: 0 as const,
    learningRate: 0.003,
    cacheDir: path.join(root, 'cache'),
  };
  const quiet = { log: () => {} };
  await train({ ...common, base: await makeQuadrantBase(path.join(root, 'base')), out: path.join(runs, 'quadrants') }, quiet);
  // A run on an ONNX base that has since gone: it cannot be explained (nor predicted with) until the file is back.
  const onnxBase = path.join(root, 'gone.onnx');
  const model = quadrantBaseModel();
  fs.writeFileSync(onnxBase, exportToOnnx(model));
  model.dispose();
  await train({ ...common, epochs: 1, base: onnxBase, preprocess: 'none', out: path.join(runs, 'gone') }, quiet);
  fs.rmSync(onnxBase);
  ui = createUiApp({ runs, token: TOKEN, port: () => PORT, uploadLimits: DEFAULT_UPLOAD_LIMITS, pageDir: path.join(root, 'page') });
});

after(async () => {
  await ui?.close();
});

const get = (run: string, file: string) => ui.app.request(`/api/runs/${run}/explain?file=${encodeURIComponent(file)}`, { headers });

/** The jet colour the PNG blends over the photo, read back from both, as the map's value 0..1 (the nearest of the colour map). */
const JET = Array.from({ length: 256 }, (_, i) => jet(i / 255));
function heatAt(overlay: Buffer, photo: Uint8Array, p: number): number {
  const colour = [0, 1, 2].map((c) => (overlay[p * 3 + c] - (1 - OVERLAY_ALPHA) * photo[p * 3 + c]) / OVERLAY_ALPHA);
  let best = 0;
  let bestDistance = Number.POSITIVE_INFINITY;
  JET.forEach((j, i) => {
    const d = (j[0] - colour[0]) ** 2 + (j[1] - colour[1]) ** 2 + (j[2] - colour[2]) ** 2;
    if (d < bestDistance) [best, bestDistance] = [i, d];
  });
  return best / 255;
}

/** The quadrant of the overlay's hottest pixel. */
async function hottestQuadrant(png: Buffer, file: string): Promise<number> {
  const { data: overlay, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  assert.deepEqual([info.width, info.height, info.channels], [QUADRANT_SIZE, QUADRANT_SIZE, 3], 'the photo at its own size');
  const photo = (await decodeRgb(file)).data;
  let best = 0;
  let bestHeat = -1;
  for (let p = 0; p < QUADRANT_SIZE * QUADRANT_SIZE; p++) {
    const h = heatAt(overlay, photo, p);
    if (h > bestHeat) [best, bestHeat] = [p, h];
  }
  return quadrantAt(Math.floor(best / QUADRANT_SIZE), best % QUADRANT_SIZE, QUADRANT_SIZE);
}

test("GET ?file= a data file: a PNG whose hottest pixel lies in the class's quadrant, the label explained in a header", async () => {
  let hits = 0;
  for (const file of testFiles) {
    // relative to the data folder, as a user types it, and absolute, as the top losses give it
    const r = await get('quadrants', testFiles.indexOf(file) % 2 ? file : path.relative(data, file));
    assert.equal(r.status, 200, await r.clone().text());
    assert.equal(r.headers.get('content-type'), 'image/png');
    assert.ok(QUADRANT_CLASSES.includes(decodeURIComponent(r.headers.get(EXPLAINED_LABEL_HEADER) ?? '') as 'reds'));
    if ((await hottestQuadrant(Buffer.from(await r.arrayBuffer()), file)) === quadrantOf(file)) hits += 1;
  }
  console.log(`# hottest pixel in the class's quadrant: ${hits}/${testFiles.length}`);
  assert.ok(hits / testFiles.length >= 0.9, `${hits}/${testFiles.length}`);
});

test('POST an image: the same overlay as the data file; ?class= explains another class; bad classes and bodies are 400s', async () => {
  const file = testFiles[0];
  const byFile = Buffer.from(await (await get('quadrants', file)).arrayBuffer());
  const r = await ui.app.request('/api/runs/quadrants/explain', { method: 'POST', headers, body: fs.readFileSync(file) });
  assert.equal(r.status, 200, await r.clone().text());
  assert.deepEqual(Buffer.from(await r.arrayBuffer()), byFile);
  const label = decodeURIComponent(r.headers.get(EXPLAINED_LABEL_HEADER) ?? '');
  const other = QUADRANT_CLASSES.find((c) => c !== label) as string;
  const r2 = await ui.app.request(`/api/runs/quadrants/explain?class=${other}`, { method: 'POST', headers, body: fs.readFileSync(file) });
  assert.equal(r2.status, 200);
  assert.equal(r2.headers.get(EXPLAINED_LABEL_HEADER), other);
  assert.notDeepEqual(Buffer.from(await r2.arrayBuffer()), byFile, 'the other class has another map');
  const bad = await ui.app.request('/api/runs/quadrants/explain?class=greens', { method: 'POST', headers, body: fs.readFileSync(file) });
  assert.equal(bad.status, 400);
  assert.match(((await bad.json()) as { error: string }).error, /no class 'greens'.*blues, reds/);
  const notImage = await ui.app.request('/api/runs/quadrants/explain', { method: 'POST', headers, body: 'not an image' });
  assert.equal(notImage.status, 400);
  const empty = await ui.app.request('/api/runs/quadrants/explain', { method: 'POST', headers, body: '' });
  assert.equal(empty.status, 400);
  assert.match(((await empty.json()) as { error: string }).error, /Send the image/);
});

test("paths outside the run's data folder (absolute, .., a symlink out, NUL) are 403, missing files 404", async () => {
  const outside = path.join(root, 'outside.png');
  fs.copyFileSync(testFiles[0], outside);
  fs.symlinkSync(outside, path.join(data, 'test', 'reds', 'link-out.png'));
  for (const file of [outside, '../outside.png', 'test/../../outside.png', '/etc/passwd', 'test/reds/link-out.png', 'test/reds/x.png\0']) {
    const r = await get('quadrants', file);
    assert.equal(r.status, 403, `${file}: ${await r.clone().text()}`);
    assert.match(((await r.json()) as { error: string }).error, /not inside the run's data folder/);
  }
  const missing = await get('quadrants', 'test/reds/nothing.png');
  assert.equal(missing.status, 404);
  assert.match(((await missing.json()) as { error: string }).error, /No image test\/reds\/nothing\.png/);
  const none = await ui.app.request('/api/runs/quadrants/explain', { headers });
  assert.equal(none.status, 400);
});

test('runs: unknown is 404, a bad name 400, a run whose ONNX base is gone 400 saying why; the guard refuses a request without the token', async () => {
  const unknown = await get('nothing', testFiles[0]);
  assert.equal(unknown.status, 404);
  assert.deepEqual(await unknown.json(), { error: 'There is no run named nothing.' });
  assert.equal((await get('..', testFiles[0])).status, 404, 'never a route out of /api/runs/');
  assert.equal((await get('bad%20name', testFiles[0])).status, 400);
  const gone = await get('gone', testFiles[0]);
  assert.equal(gone.status, 400);
  assert.match(
    ((await gone.json()) as { error: string }).error,
    /^The run gone cannot be explained with Grad-CAM: .*gone\.onnx .*no longer exists\. Put the original file back/s,
  );
  // after the refusal, the other run is explained again (a fresh explainer)
  assert.equal((await get('quadrants', testFiles[0])).status, 200);
  const r = await ui.app.request(`/api/runs/quadrants/explain?file=${encodeURIComponent(testFiles[0])}`, {
    headers: { host: headers.host },
  });
  assert.equal(r.status, 403);
});

test('one explainer is kept per run: reused while the run is unchanged, disposed when another run is explained, when the run is written again, and at the end; a training run is 409, an image over the limit 413', async () => {
  const events: string[] = [];
  let training: string | null = null;
  const app = new Hono();
  const routes = registerExplain(app, {
    runDir: (id) => path.join(runs, id),
    dataDir: () => null,
    trainer: {
      get running() {
        return training;
      },
    } as unknown as Trainer,
    maxImageBytes: 1e6,
    load: async (dir) => {
      const explainer = await loadGradCam(dir);
      events.push(`load ${path.basename(dir)}`);
      const dispose = explainer.dispose.bind(explainer);
      explainer.dispose = async () => {
        events.push(`dispose ${path.basename(dir)}`);
        await dispose();
      };
      return explainer;
    },
  });
  const ask = async (run: string) => (await app.request(`/api/runs/${run}/explain?file=${encodeURIComponent(testFiles[0])}`)).status;
  assert.equal(await ask('quadrants'), 200);
  assert.equal(await ask('quadrants'), 200);
  assert.deepEqual(events, ['load quadrants'], 'the second request reuses the explainer');
  assert.equal(await ask('gone'), 400);
  assert.deepEqual(events, ['load quadrants', 'dispose quadrants'], 'another run: the old one is disposed');
  assert.equal(await ask('quadrants'), 200);
  const meta = path.join(runs, 'quadrants', 'meta.json');
  const later = new Date(Date.now() + 5000);
  fs.utimesSync(meta, later, later);
  assert.equal(await ask('quadrants'), 200);
  assert.deepEqual(events.slice(2), ['load quadrants', 'dispose quadrants', 'load quadrants'], 'the run written again: loaded again');
  const big = await app.request('/api/runs/quadrants/explain', { method: 'POST', body: new Uint8Array(1e6 + 1) });
  assert.equal(big.status, 413, 'an image over the limit is refused before it is read');
  assert.match(((await big.json()) as { error: string }).error, /over the limit of 1\.0 MB/);
  training = 'quadrants';
  assert.equal(await ask('quadrants'), 409);
  training = null;
  await routes.dispose();
  assert.equal(events.at(-1), 'dispose quadrants', 'the server stopping disposes it');
});
