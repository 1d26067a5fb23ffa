// A kNN run in the page: the runs list gives its validation accuracy, and Try it's
// server route classifies an image's bytes as `tlkit predict` does.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadClassifier } from '../inference/classifier.js';
import { makeTinyBase, makeTinyDataset } from '../testing/tinyRun.js';
import { initBackend } from '../tfjs/backend.js';
import { train } from '../workflows/train.js';
import { createUiApp } from './app.js';
import type { RunSummary } from './protocol.js';
import { TOKEN_COOKIE } from './security.js';
import { DEFAULT_UPLOAD_LIMITS } from './uploads.js';

const PORT = 5131;
const TOKEN = 'knn-route-test-token';
const headers = { host: `127.0.0.1:${PORT}`, cookie: `${TOKEN_COOKIE}=${TOKEN}`, origin: `http://127.0.0.1:${PORT}` };
let ui: ReturnType<typeof createUiApp> | undefined;
after(async () => ui?.close());

test("the page lists a kNN run with its validation accuracy, and POST /api/runs/:id/predict gives predict's probabilities", async () => {
  await initBackend('cpu');
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-ui-knn-'));
  const data = await makeTinyDataset(path.join(root, 'data'));
  const runs = path.join(root, 'runs');
  const base = await makeTinyBase(path.join(root, 'base'));
  await train({ data, base, out: path.join(runs, 'knn'), mode: 'knn', verbose: 0, cacheDir: path.join(root, 'cache') }, { log: () => {} });
  ui = createUiApp({ runs, token: TOKEN, port: () => PORT, uploadLimits: DEFAULT_UPLOAD_LIMITS, pageDir: path.join(root, 'page') });

  const list = (await (await ui.app.request('/api/runs', { headers })).json()) as RunSummary[];
  assert.equal(list.length, 1);
  assert.equal(list[0].mode, 'knn');
  assert.equal(list[0].bestValAccuracy, 1);

  const file = path.join(data, 'test', 'dogs', 'dogs.2.png');
  const r = await ui.app.request('/api/runs/knn/predict', { method: 'POST', headers, body: fs.readFileSync(file) });
  assert.equal(r.status, 200, await r.clone().text());
  const got = (await r.json()) as { label: string; probabilities: Array<{ label: string; probability: number }> };
  const classifier = await loadClassifier(path.join(runs, 'knn'));
  const [want] = await classifier.predict(file);
  await classifier.dispose();
  assert.equal(got.label, 'dogs');
  assert.deepEqual(got.probabilities, want.probabilities);

  const empty = await ui.app.request('/api/runs/knn/predict', { method: 'POST', headers, body: new Uint8Array(0) });
  assert.equal(empty.status, 400);
  assert.match(((await empty.json()) as { error: string }).error, /Send the image/);
});
