// The map routes through the app's own routing (hono's app.request), without a browser: a map
// on disk is answered with its outliers flagged and the images moved since counted, ?peek=1
// never starts a computation, a computation that fails says why (tlkit map's own message),
// and the thumbnail route serves a small JPEG of a data file and nothing outside the folder.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import type { DatasetMap, MapPoint } from '../explore/datasetMap.js';
import { mapJsonText } from '../explore/mapFiles.js';
import { runPaths } from '../run/paths.js';
import { makeTinyBase, makeTinyDataset } from '../testing/tinyRun.js';
import { train } from '../workflows/train.js';
import { createUiApp } from './app.js';
import { mapView } from './mapRoute.js';
import type { MapAnswer } from './protocol.js';
import { TOKEN_COOKIE } from './security.js';
import { DEFAULT_UPLOAD_LIMITS } from './uploads.js';

const PORT = 5125;
const TOKEN = 'map-route-test-token';
const headers = { host: `127.0.0.1:${PORT}`, cookie: `${TOKEN_COOKIE}=${TOKEN}` };
let root = '';
let data = '';
let runs = '';
let ui: ReturnType<typeof createUiApp>;

before(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-ui-map-'));
  data = await makeTinyDataset(path.join(root, 'data'), { train: 4, validation: 2 });
  runs = path.join(root, 'runs');
  const base = await makeTinyBase(path.join(root, 'base'));
  const common = { base, epochs: 1, batchSize: 8, headUnits: 4, verbose: 0 as const, cacheDir: path.join(root, 'cache') };
  await train({ ...common, data, out: path.join(runs, 'tiny') }, { log: () => {} });
  // A run whose data folder has gone since: its map cannot be computed.
  const gone = await makeTinyDataset(path.join(root, 'gone'), { train: 4, validation: 2 });
  await train({ ...common, data: gone, out: path.join(runs, 'gone') }, { log: () => {} });
  fs.rmSync(gone, { recursive: true });
  fs.writeFileSync(path.join(root, 'outside.png'), fs.readFileSync(path.join(data, 'train/cats/cats.0.png')));
  ui = createUiApp({ runs, token: TOKEN, port: () => PORT, uploadLimits: DEFAULT_UPLOAD_LIMITS, pageDir: path.join(root, 'page') });
});

after(async () => {
  await ui?.close();
});

const get = (url: string) => ui.app.request(url, { headers });

/** A map as `tlkit map` writes it, of the tiny run's files, with chosen outlier scores. */
function fakeMap(scores: number[], seed = 42): DatasetMap {
  const files = ['train/cats/cats.0.png', 'train/cats/cats.1.png', 'train/dogs/dogs.0.png', 'train/dogs/moved-away.png'];
  const points: MapPoint[] = files.map((file, i) => ({
    file,
    split: 'train',
    label: file.includes('cats') ? 'cats' : 'dogs',
    x: i,
    y: 2 - i,
    outlier: scores[i],
    looksLike: scores[i] > 0 ? 'cats' : null,
    centroidDistance: 0.1 * i,
  }));
  return {
    format: 'tlkit-map',
    version: 1,
    features: path.join(root, 'cache'),
    dataRoot: data,
    base: 'tiny',
    imageSize: [16, 16],
    classNames: ['cats', 'dogs'],
    splits: ['train'],
    umap: { nNeighbors: 15, minDist: 0.1, metric: 'cosine', nEpochs: 0, seed },
    outlierNeighbors: 3,
    points,
    outliers: [3, 2, 1, 0],
    seconds: 1.5,
  };
}

test('mapView flags the images most of whose neighbours carry another label, in outlier order, and counts the files moved since', () => {
  const v = mapView('tiny', fakeMap([0, 0.5, 2 / 3, 1]));
  assert.equal(v.status, 'ready');
  if (v.status !== 'ready') return;
  assert.deepEqual(
    v.points.map((p) => p.outlier),
    [false, false, true, true],
  );
  assert.deepEqual(v.outliers, [3, 2]);
  assert.equal(v.missing, 1, 'train/dogs/moved-away.png is not in the data folder');
  assert.equal(v.seed, 42);
});

test('GET map: ?peek=1 says absent and starts nothing; a map on disk is answered; an unknown run is 404', async () => {
  const r = await get('/api/runs/tiny/map?peek=1');
  assert.equal(r.status, 200);
  assert.deepEqual(await r.json(), { status: 'absent', run: 'tiny' });
  assert.equal(fs.existsSync(runPaths(path.join(runs, 'tiny')).map), false);
  assert.equal((await get('/api/runs/nothing/map')).status, 404);
  assert.equal((await get('/api/runs/tiny/map?seed=-1')).status, 400);

  fs.mkdirSync(runPaths(path.join(runs, 'tiny')).map);
  fs.writeFileSync(path.join(runPaths(path.join(runs, 'tiny')).map, 'map.json'), mapJsonText(fakeMap([0, 0, 1, 0], 5)));
  const ready = (await (await get('/api/runs/tiny/map?seed=5')).json()) as MapAnswer;
  assert.equal(ready.status, 'ready');
  if (ready.status !== 'ready') return;
  assert.deepEqual(ready.outliers, [2]);
  assert.deepEqual(
    ready.points.map((p) => [p.file, p.x, p.y]),
    fakeMap([0, 0, 0, 0]).points.map((p) => [p.file, p.x, p.y]),
  );
  // Another seed is a map yet to compute, except for a peek (the page shows what is there).
  assert.equal(((await (await get('/api/runs/tiny/map?seed=6&peek=1')).json()) as MapAnswer).status, 'ready');
});

test("GET map of a run whose data folder has gone: computing, then tlkit map's message", async () => {
  const first = await get('/api/runs/gone/map');
  assert.equal(first.status, 202);
  assert.equal(((await first.json()) as MapAnswer).status, 'computing');
  let r = first;
  for (let i = 0; i < 240 && r.status === 202; i++) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    r = await get('/api/runs/gone/map');
  }
  assert.equal(r.status, 400);
  const { error } = (await r.json()) as { error: string };
  assert.match(error, /^The map of gone could not be computed: .*gone/);
  assert.doesNotMatch(error, /internal error|at .*\.js:\d+/, 'a user error, not a stack');
});

test('GET thumbnail: a small JPEG of a data file; outside the data folder 403, a missing file 404', async () => {
  const r = await get(`/api/runs/tiny/thumbnail?file=${encodeURIComponent('train/cats/cats.0.png')}&size=64`);
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-type'), 'image/jpeg');
  const meta = await sharp(Buffer.from(await r.arrayBuffer())).metadata();
  assert.deepEqual([meta.format, meta.width, meta.height], ['jpeg', 64, 64]);
  for (const file of ['../outside.png', path.join(root, 'outside.png'), 'train/../../outside.png'])
    assert.equal((await get(`/api/runs/tiny/thumbnail?file=${encodeURIComponent(file)}`)).status, 403, file);
  assert.equal((await get(`/api/runs/tiny/thumbnail?file=${encodeURIComponent('train/cats/none.png')}`)).status, 404);
  assert.equal((await get('/api/runs/tiny/thumbnail')).status, 400);
});
