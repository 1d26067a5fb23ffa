import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { initBackend } from '../tfjs/backend.js';
import { ensureWeightFile, cacheRoot, weightsBaseUrl, cachedWeightPath } from './download.js';
import { kerasWeightFile, KERAS_WEIGHTS_BASE_URL } from './kerasWeightFiles.js';
import { loadApplicationWeights } from './applicationWeights.js';
import { writeKerasH5 } from './kerasH5.js';
import { FAMILIES } from '../applications/index.js';
import { UserError } from '../errors.js';
import { needsOtherLoopback, refusedAddress } from '../testing/network.js';
import { skipOrFail } from '../testing/requirements.js';
import * as tf from '@tensorflow/tfjs-core';

const payload = Buffer.from(Array.from({ length: 100_000 }, (_, i) => (i * 7919) % 251));
const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');
const files = new Map<string, Buffer>(); // extra routes: path -> body
const hits: string[] = [];

const server = http.createServer((req, res) => {
  hits.push(req.url ?? '');
  const url = req.url ?? '';
  if (files.has(url)) {
    res.writeHead(200, { 'content-length': files.get(url)!.length });
    res.end(files.get(url));
  } else if (url.startsWith('/good/') || url.startsWith('/wronghash/')) {
    res.writeHead(200, { 'content-length': payload.length });
    res.end(payload);
  } else if (url.startsWith('/truncated/')) {
    res.writeHead(200, { 'content-length': payload.length });
    res.write(payload.subarray(0, 30_000));
    setTimeout(() => res.destroy(), 20); // connection dropped mid-file
  } else {
    res.writeHead(404);
    res.end('not found');
  }
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
after(() => server.close());

const spec = (subdir: string) => ({ fileName: 'fake_weights.h5', subdir });
const fresh = () => fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-cache-'));
const quiet = { announce: false, useKerasCache: false } as const;
const leftovers = (cacheDir: string) =>
  fs.existsSync(path.join(cacheDir, 'weights')) ? fs.readdirSync(path.join(cacheDir, 'weights')) : [];

test('good file: downloaded once, MD5 checked, then served from the cache', async () => {
  const cacheDir = fresh();
  const before = hits.length;
  const file = await ensureWeightFile(spec('good'), { ...quiet, cacheDir, baseUrl: base, md5: md5(payload) });
  assert.equal(file, path.join(cacheDir, 'weights', 'fake_weights.h5'));
  assert.deepEqual(fs.readFileSync(file), payload);
  assert.deepEqual(hits.slice(before), ['/good/fake_weights.h5']);
  const again = await ensureWeightFile(spec('good'), { ...quiet, cacheDir, baseUrl: base, md5: md5(payload) });
  assert.equal(again, file);
  assert.equal(hits.length, before + 1, 'second call uses the cache');
  assert.deepEqual(leftovers(cacheDir), ['fake_weights.h5'], 'no partial files');
  // a corrupted cache entry is fetched again
  fs.writeFileSync(file, 'garbage');
  await ensureWeightFile(spec('good'), { ...quiet, cacheDir, baseUrl: base, md5: md5(payload) });
  assert.deepEqual(fs.readFileSync(file), payload);
});

test('wrong hash: UserError naming both hashes, nothing kept', async () => {
  const cacheDir = fresh();
  await assert.rejects(
    ensureWeightFile(spec('wronghash'), { ...quiet, cacheDir, baseUrl: base, md5: '0123456789abcdef0123456789abcdef' }),
    (e: unknown) =>
      e instanceof UserError &&
      (e as Error).message.includes(md5(payload)) &&
      (e as Error).message.includes('0123456789abcdef0123456789abcdef'),
  );
  assert.deepEqual(leftovers(cacheDir), []);
});

test('404: UserError with the exact file name, URL and where to put the file', async () => {
  const cacheDir = fresh();
  const target = path.join(cacheDir, 'weights', 'fake_weights.h5');
  await assert.rejects(ensureWeightFile(spec('missing'), { ...quiet, cacheDir, baseUrl: base, md5: null }), (e: unknown) => {
    const msg = (e as Error).message;
    return (
      e instanceof UserError &&
      msg.includes('HTTP 404') &&
      msg.includes('fake_weights.h5') &&
      msg.includes(`${base}missing/fake_weights.h5`) &&
      msg.includes(target)
    );
  });
  assert.deepEqual(leftovers(cacheDir), []);
});

test('unreachable host (connection refused): UserError with the exact file name, URL and where to put the file', async (t) => {
  if (skipOrFail(t, await needsOtherLoopback())) return;
  const cacheDir = fresh();
  const target = path.join(cacheDir, 'weights', 'fake_weights.h5');
  // A refused connection stands in for "no network": a port held by our own listener on
  // 127.0.0.1, asked on 127.0.0.2 (a port closed and hoped free could be taken meanwhile).
  const refused = await refusedAddress();
  const deadBase = `http://${refused.host}:${refused.port}/`;
  try {
    await assert.rejects(ensureWeightFile(spec('vgg16'), { ...quiet, cacheDir, baseUrl: deadBase }), (e: unknown) => {
      const msg = (e as Error).message;
      assert.ok(e instanceof UserError, msg);
      assert.match(msg, /ECONNREFUSED/);
      assert.ok(msg.includes(`${deadBase}vgg16/fake_weights.h5`) && msg.includes(`put it at ${target}`), msg);
      return true;
    });
  } finally {
    await refused.close();
  }
  assert.deepEqual(leftovers(cacheDir), []);
});

test('truncated download: UserError, partial file removed', async () => {
  const cacheDir = fresh();
  await assert.rejects(
    ensureWeightFile(spec('truncated'), { ...quiet, cacheDir, baseUrl: base, md5: md5(payload) }),
    (e: unknown) => e instanceof UserError && /cut off|truncated/.test((e as Error).message),
  );
  assert.deepEqual(leftovers(cacheDir), []);
});

test('cache dir and base URL follow TLKIT_CACHE and TLKIT_WEIGHTS_URL; Keras file names and MD5s', () => {
  assert.equal(cacheRoot({ TLKIT_CACHE: '/x/y' }), '/x/y');
  assert.equal(cacheRoot({ HOME: os.homedir() }), path.join(os.homedir(), '.cache', 'tlkit'));
  assert.equal(weightsBaseUrl({}), 'https://storage.googleapis.com/tensorflow/keras-applications/');
  assert.equal(weightsBaseUrl({ TLKIT_WEIGHTS_URL: 'http://mirror/k' }), 'http://mirror/k/');
  assert.equal(KERAS_WEIGHTS_BASE_URL, 'https://storage.googleapis.com/tensorflow/keras-applications/');
  assert.deepEqual(kerasWeightFile({ family: 'vgg16', includeTop: false }), {
    fileName: 'vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5',
    subdir: 'vgg16',
    md5: '6d6bbae143d832006294945121d1f1fc',
  });
  assert.deepEqual(kerasWeightFile({ family: 'vgg16', includeTop: true }).md5, '64373286793e3c8b2b4e3219cbf3544b');
  assert.equal(
    kerasWeightFile({ family: 'mobilenet', includeTop: false, alpha: 1.0, rows: 224 }).fileName,
    'mobilenet_1_0_224_tf_no_top.h5',
  );
  assert.equal(kerasWeightFile({ family: 'mobilenet', includeTop: true, alpha: 0.25, rows: 128 }).fileName, 'mobilenet_2_5_128_tf.h5');
  assert.equal(
    kerasWeightFile({ family: 'mobilenet_v2', includeTop: false, alpha: 1.0, rows: 224 }).fileName,
    'mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5',
  );
  assert.equal(
    kerasWeightFile({ family: 'mobilenet_v2', includeTop: true, alpha: 0.35, rows: 96 }).fileName,
    'mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96.h5',
  );
  assert.equal(cachedWeightPath({ fileName: 'a.h5', subdir: 'vgg16' }, '/c'), '/c/weights/a.h5');
});

test("weights 'imagenet' end to end: Keras file name under the base URL, MD5 checked, loaded into the model", async () => {
  await initBackend();
  const source = FAMILIES.vgg16.architecture({ includeTop: false, weights: 'none', inputShape: [32, 32, 3] });
  const tmp = path.join(fresh(), 'w.h5');
  await writeKerasH5(source, tmp);
  const bytes = fs.readFileSync(tmp);
  files.set('/vgg16/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5', bytes);
  const cacheDir = fresh();
  const model = FAMILIES.vgg16.architecture({ includeTop: false, weights: 'none', inputShape: [32, 32, 3] });
  const file = await loadApplicationWeights(
    model,
    'imagenet',
    { family: 'vgg16', includeTop: false },
    { ...quiet, cacheDir, baseUrl: base, md5: md5(bytes) },
  );
  assert.equal(path.basename(file), 'vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5');
  const x = tf.randomUniform([1, 32, 32, 3], 0, 255);
  assert.deepEqual(Array.from((model.predict(x) as tf.Tensor).dataSync()), Array.from((source.predict(x) as tf.Tensor).dataSync()));
  // the real Keras MD5 rejects our stand-in file
  await assert.rejects(
    loadApplicationWeights(model, 'imagenet', { family: 'vgg16', includeTop: false }, { ...quiet, cacheDir: fresh(), baseUrl: base }),
    /6d6bbae143d832006294945121d1f1fc/,
  );
});
