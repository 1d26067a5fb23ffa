import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UserError } from '../errors.js';
import { META_VERSION, readMeta } from './meta.js';

function runWith(meta: Record<string, unknown>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-meta-'));
  fs.writeFileSync(path.join(dir, 'meta.json'), JSON.stringify(meta));
  return dir;
}

const common = {
  tool: 'tlkit',
  classes: ['cats', 'dogs'],
  labelMode: 'binary',
  preprocessing: 'tf',
  imageSize: [160, 160],
  base: 'mobilenet',
  mode: 'features',
};

test('meta.json: version 3 reads with its ONNX base; versions 1 and 2 still read (no onnxBase); a newer version is refused', async () => {
  assert.equal(META_VERSION, 3);
  const onnxBase = {
    file: '/m/vit.onnx',
    sha256: 'a'.repeat(64),
    inputName: 'pixel_values',
    outputName: 'last_hidden_state',
    upTo: null,
    layout: 'NCHW',
    batch: null,
    preprocess: { scale: 1 / 255, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], channelOrder: 'rgb' },
  };
  const v3 = await readMeta(
    runWith({
      ...common,
      version: 3,
      preprocessing: 'scale=0.00392156862745098,mean=0.5,std=0.5,order=rgb',
      onnxBase,
      head: { units: 0, activation: 'linear', dropout: 0, pooling: 'flatten' },
    }),
  );
  assert.deepEqual(v3.onnxBase, onnxBase);
  const v2 = await readMeta(runWith({ ...common, version: 2, head: { units: 256, activation: 'linear', dropout: 0.5, pooling: 'avg' } }));
  assert.equal(v2.onnxBase, undefined);
  assert.equal(v2.head.pooling, 'avg');
  const v1 = await readMeta(runWith({ ...common, version: 1, options: { headUnits: 64, dropout: 0.2, pooling: 'avg' } }));
  assert.deepEqual(v1.head, { units: 64, activation: 'relu', dropout: 0.2, pooling: 'avg' });
  await assert.rejects(
    readMeta(runWith({ ...common, version: 4 })),
    (e: unknown) =>
      e instanceof UserError &&
      /from a newer tlkit \(meta\.json version 4; this tlkit reads up to 3\)\. Update tlkit/.test((e as Error).message),
  );
});
