// POST /api/lr-find through the app's own routing (hono's app.request): the guard of every
// route in front of it, the form's values checked by their declaration, and a real sweep.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { makeTinyBase, makeTinyDataset } from '../testing/tinyRun.js';
import { createUiApp } from './app.js';
import type { LrFindView } from './protocol.js';
import { TOKEN_COOKIE } from './security.js';
import { DEFAULT_UPLOAD_LIMITS } from './uploads.js';

const PORT = 5123;
const TOKEN = 'lr-find-route-test-token';
let root = '';
let data = '';
let base = '';

before(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-ui-lrfind-'));
  data = await makeTinyDataset(path.join(root, 'data'), { train: 16, validation: 4 });
  base = await makeTinyBase(path.join(root, 'base'));
  process.env.TLKIT_CACHE = path.join(root, 'cache');
});

function app() {
  return createUiApp({
    runs: path.join(root, 'runs'),
    token: TOKEN,
    port: () => PORT,
    uploadLimits: DEFAULT_UPLOAD_LIMITS,
    pageDir: path.join(root, 'page'),
  });
}

const authorized = { host: `127.0.0.1:${PORT}`, cookie: `${TOKEN_COOKIE}=${TOKEN}`, 'content-type': 'application/json' };

function post(ui: ReturnType<typeof app>, options: Record<string, string>, headers: Record<string, string> = authorized) {
  return ui.app.request('/api/lr-find', { method: 'POST', headers, body: JSON.stringify({ options }) });
}

test('the guard of every route: no token, a foreign Host or a foreign Origin get 403 and start nothing', async () => {
  const ui = app();
  await ui.chooseData(data);
  const refused = [
    { ...authorized, cookie: '' },
    { ...authorized, cookie: `${TOKEN_COOKIE}=${'x'.repeat(TOKEN.length)}` },
    { ...authorized, host: `evil.example:${PORT}` },
    { ...authorized, origin: 'http://evil.example' },
    { ...authorized, 'sec-fetch-site': 'cross-site' },
  ];
  for (const headers of refused) {
    const r = await post(ui, { base }, headers);
    assert.equal(r.status, 403, JSON.stringify(headers));
  }
  assert.ok(!fs.existsSync(path.join(root, 'runs', '.lr-find')), 'no sweep ran');
});

test('bad form values and no data folder are 400s naming the field', async () => {
  const ui = app();
  const none = await post(ui, { base });
  assert.equal(none.status, 400);
  assert.deepEqual(await none.json(), { error: 'Choose a data folder first.' });
  await ui.chooseData(data);
  const bad = await post(ui, { base, batchSize: '0' });
  assert.equal(bad.status, 400);
  assert.match(((await bad.json()) as { error: string }).error, /^"Batch size" must be a whole number >= 1, got '0'/);
  const unknown = await post(ui, { base, nope: '1' });
  assert.equal(unknown.status, 400);
});

test("a sweep with the form's values: the suggestions, the valley for the field, a plot the app serves, and no run written", async () => {
  const ui = app();
  await ui.chooseData(data);
  const runs = path.join(root, 'runs');
  const r = await post(ui, { base, batchSize: '4', headUnits: '4', epochs: '3' });
  assert.equal(r.status, 200, await r.clone().text());
  const v = (await r.json()) as LrFindView;
  assert.equal(v.what, 'The head');
  assert.ok(v.suggestions, v.message);
  assert.equal(v.learningRate, v.suggestions.valley.toExponential(1));
  assert.match(v.message, new RegExp(`valley ${v.learningRate?.replace('.', '\\.')},`));
  const plotUrl = v.plotUrl ?? '';
  assert.ok(plotUrl.startsWith('/files/runs/.lr-find/lr-find.png?t='), plotUrl);
  const png = await ui.app.request(plotUrl, { headers: authorized });
  assert.equal(png.status, 200);
  assert.equal(png.headers.get('content-type'), 'image/png');
  assert.equal((await sharp(Buffer.from(await png.arrayBuffer())).metadata()).format, 'png');
  // The runs folder holds the plot's dot folder and the list of recent data folders: no run.
  assert.deepEqual(fs.readdirSync(runs).sort(), ['.lr-find', '.tlkit-ui-recent.json']);
});
