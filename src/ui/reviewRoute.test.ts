// The Review panel's routes without a browser: the queue, an action and its undo through the
// API, every way out of the data folder refused (403), a missing file 404, actions refused
// while a run trains (409).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { makeTinyRun } from '../testing/tinyRun.js';
import { createUiApp } from './app.js';
import type { ReviewView } from './protocol.js';
import { TOKEN_COOKIE } from './security.js';
import { DEFAULT_UPLOAD_LIMITS } from './uploads.js';

test('review routes: queue, relabel, undo; ../, absolute paths outside and symlinks out are 403', async () => {
  const { data, run } = await makeTinyRun(2);
  const runs = path.dirname(run);
  const port = 4712;
  const { app, trainer } = createUiApp({ runs, token: 't', port: () => port, uploadLimits: DEFAULT_UPLOAD_LIMITS, pageDir: runs });
  const headers = { host: `127.0.0.1:${port}`, cookie: `${TOKEN_COOKIE}=t`, 'content-type': 'application/json' };
  const call = (p: string, body?: unknown) =>
    app.request(`http://127.0.0.1:${port}/api/runs/run/review${p}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });

  const q = (await (await call('')).json()) as ReviewView;
  assert.deepEqual(q.classes, ['cats', 'dogs']);
  assert.ok(q.items.length > 0);
  assert.match(q.items[0].url, /^\/api\/runs\/run\/review\/image\//);
  assert.equal((await call(q.items[0].url.slice('/api/runs/run/review'.length))).status, 200);

  const r = await call('/action', { action: 'relabel', file: 'train/cats/cats.0.png', to: 'dogs' });
  assert.equal(r.status, 200, await r.clone().text());
  assert.ok(fs.existsSync(path.join(data, 'train/dogs/cats.0.png')));
  assert.equal((await call('/undo', {})).status, 200);
  assert.ok(fs.existsSync(path.join(data, 'train/cats/cats.0.png')));

  fs.symlinkSync(path.join(run, 'meta.json'), path.join(data, 'train/cats/escape.png'));
  for (const file of ['../run/meta.json', path.join(run, 'meta.json'), 'train/../../run/meta.json', 'train/cats/escape.png'])
    assert.equal((await call('/action', { action: 'quarantine', file })).status, 403, file);
  assert.equal((await call('/action', { action: 'check', file: path.join(data, 'train/cats/cats.1.png') })).status, 200, 'absolute inside');
  assert.equal((await call('/action', { action: 'check', file: 'train/cats/none.png' })).status, 404);
  assert.equal((await call('/image/..%2F..%2Frun%2Fmeta.json')).status, 403);
  assert.equal((await call('/files', { files: ['../run/meta.json'] })).status, 403);
  assert.ok(fs.existsSync(path.join(run, 'meta.json')), 'nothing outside moved');

  Object.defineProperty(trainer, 'running', { value: 'other', configurable: true });
  assert.equal((await call('/action', { action: 'check', file: 'train/cats/cats.2.png' })).status, 409);
});
