import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../tfjs/backend.js';
import { FAMILIES } from '../applications/index.js';
import { UserError } from '../errors.js';
import { ensureWeightFile, weightFileUrl, weightsBaseUrl } from './download.js';
import { kerasWeightFile } from './kerasWeightFiles.js';
import { loadApplicationWeights } from './applicationWeights.js';
import { writeKerasH5 } from './kerasH5.js';

// File names, folders and hashes as Keras's sources give them (keras/src/applications/
// resnet.py WEIGHTS_HASHES, efficientnet.py WEIGHTS_HASHES "b0", convnext.py WEIGHTS_HASHES).
test('Keras weight files of the new families: names, storage paths, published hashes', () => {
  assert.deepEqual(kerasWeightFile({ family: 'resnet50', includeTop: true }), {
    fileName: 'resnet50_weights_tf_dim_ordering_tf_kernels.h5',
    subdir: 'resnet',
    md5: '2cb95161c43110f7111970584f804107',
  });
  assert.deepEqual(kerasWeightFile({ family: 'resnet50', includeTop: false }), {
    fileName: 'resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5',
    subdir: 'resnet',
    md5: '4d473c1dd8becc155b73f8504c6f6626',
  });
  const b0 = kerasWeightFile({ family: 'efficientnet_b0', includeTop: false });
  assert.deepEqual(b0, {
    fileName: 'efficientnetb0_notop.h5',
    subdir: 'efficientnet',
    md5: '50bc09e76180e00e4465e1a485ddc09d',
    url: 'https://storage.googleapis.com/keras-applications/efficientnetb0_notop.h5',
  });
  assert.equal(kerasWeightFile({ family: 'efficientnet_b0', includeTop: true }).md5, '902e53a9f72be733fc0bcb005b3ebbac');
  assert.deepEqual(kerasWeightFile({ family: 'convnext_tiny', includeTop: false }), {
    fileName: 'convnext_tiny_notop.h5',
    subdir: 'convnext',
    sha256: 'd547c096cabd03329d7be5562c5e14798aa39ed24b474157cef5e85ab9e49ef1',
  });
  assert.equal(
    kerasWeightFile({ family: 'convnext_tiny', includeTop: true }).sha256,
    '8ae6e78ce2933352b1ef4008e6dd2f17bc40771563877d156bc6426c7cf503ff',
  );
  // URLs: the Keras storage, EfficientNet's own bucket path, and a mirror for everything
  assert.equal(
    weightFileUrl(kerasWeightFile({ family: 'resnet50', includeTop: false }), weightsBaseUrl({})),
    'https://storage.googleapis.com/tensorflow/keras-applications/resnet/resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5',
  );
  assert.equal(
    weightFileUrl(kerasWeightFile({ family: 'convnext_tiny', includeTop: true }), weightsBaseUrl({})),
    'https://storage.googleapis.com/tensorflow/keras-applications/convnext/convnext_tiny.h5',
  );
  assert.equal(weightFileUrl(b0, weightsBaseUrl({})), 'https://storage.googleapis.com/keras-applications/efficientnetb0_notop.h5');
  assert.equal(
    weightFileUrl(b0, weightsBaseUrl({ TLKIT_WEIGHTS_URL: 'http://mirror.local/keras' })),
    'http://mirror.local/keras/efficientnet/efficientnetb0_notop.h5',
  );
});

await initBackend();
const files = new Map<string, Buffer>();
const server = http.createServer((req, res) => {
  const body = files.get(req.url ?? '');
  if (!body) {
    res.writeHead(404);
    res.end();
    return;
  }
  res.writeHead(200, { 'content-length': body.length });
  res.end(body);
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
after(() => server.close());
const quiet = { announce: false, useKerasCache: false } as const;

test('SHA-256 files (ConvNeXt): checked on download and in the cache; a wrong file is refused naming both digests', async () => {
  const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-sha-'));
  const body = Buffer.from('convnext stand-in weights');
  const sha = createHash('sha256').update(body).digest('hex');
  files.set('/convnext/convnext_tiny_notop.h5', body);
  const spec = kerasWeightFile({ family: 'convnext_tiny', includeTop: false });
  const file = await ensureWeightFile(spec, { ...quiet, cacheDir, baseUrl: base, sha256: sha });
  assert.deepEqual(fs.readFileSync(file), body);
  // the real Keras SHA-256 refuses the stand-in, says which digest it got, keeps nothing
  fs.rmSync(file);
  await assert.rejects(
    ensureWeightFile(spec, { ...quiet, cacheDir, baseUrl: base }),
    (e: unknown) =>
      e instanceof UserError && (e as Error).message.includes(`SHA-256 ${sha}`) && (e as Error).message.includes(spec.sha256!),
  );
  assert.equal(fs.existsSync(file), false);
});

test("weights 'imagenet' for EfficientNetB0 end to end: Keras file name, MD5, Normalization statistics loaded", async () => {
  const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-b0-'));
  const source = FAMILIES.efficientnet_b0.architecture({ includeTop: false, weights: 'none', inputShape: [32, 32, 3] });
  source.getLayer('normalization').setWeights([tf.tensor1d([0.485, 0.456, 0.406]), tf.tensor1d([0.229, 0.224, 0.225]), tf.scalar(1281167)]);
  const h5 = path.join(cacheDir, 'source.h5');
  await writeKerasH5(source, h5);
  const bytes = fs.readFileSync(h5);
  files.set('/efficientnet/efficientnetb0_notop.h5', bytes);
  // imagenet weights: Keras builds the extra rescaling_1 layer (no weights), the file loads by name
  const model = FAMILIES.efficientnet_b0.architecture({ includeTop: false, weights: 'imagenet', inputShape: [32, 32, 3] });
  const md5 = createHash('md5').update(bytes).digest('hex');
  const used = await loadApplicationWeights(
    model,
    'imagenet',
    { family: 'efficientnet_b0', includeTop: false },
    { ...quiet, cacheDir, baseUrl: base, md5 },
  );
  assert.equal(path.basename(used), 'efficientnetb0_notop.h5');
  assert.deepEqual(
    Array.from(model.getLayer('normalization').getWeights()[1].dataSync()).map((v) => v.toFixed(3)),
    ['0.229', '0.224', '0.225'],
  );
  assert.equal(model.getLayer('normalization').getWeights()[2].dataSync()[0], 1281167);
  source.dispose();
  model.dispose();
});
