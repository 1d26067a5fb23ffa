import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '../tfjs/backend.js';
import { fileSystemIO, readWeightShards } from './tfjsFiles.js';
import { UserError } from '../errors.js';

function smallModel(): tfl.LayersModel {
  const input = tfl.input({ shape: [8, 8, 3] });
  let x = tfl.layers.conv2d({ filters: 4, kernelSize: 3, activation: 'relu', name: 'c1' }).apply(input) as tfl.SymbolicTensor;
  x = tfl.layers.batchNormalization({ name: 'bn' }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.flatten().apply(x) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ units: 2, activation: 'softmax', name: 'head' }).apply(x) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: out, name: 'small' });
}

test('fileSystemIO saves model.json + weights.bin and loads an identical model', async () => {
  await initBackend();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-'));
  fs.writeFileSync(path.join(dir, 'meta.json'), '{"keep":true}');
  const m = smallModel();
  await m.save(fileSystemIO(dir));
  const files = fs.readdirSync(dir).sort();
  assert.deepEqual(files, ['meta.json', 'model.json', 'weights.bin'], 'no temp files left, other files kept');
  const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
  assert.equal(json.format, 'layers-model');
  assert.deepEqual(json.weightsManifest[0].paths, ['weights.bin']);
  // one float32 per parameter, nothing else in the file
  assert.equal(fs.statSync(path.join(dir, 'weights.bin')).size, m.countParams() * 4);

  const loaded = await tfl.loadLayersModel(fileSystemIO(dir));
  assert.deepEqual(
    loaded.layers.map((l) => l.name),
    m.layers.map((l) => l.name),
  );
  const x = tf.randomUniform([2, 8, 8, 3]);
  const a = (m.predict(x) as tf.Tensor).dataSync();
  const b = (loaded.predict(x) as tf.Tensor).dataSync();
  assert.deepEqual(Array.from(b), Array.from(a));

  // saving again over the same folder replaces the files
  await loaded.save(fileSystemIO(path.join(dir, 'model.json')));
  assert.deepEqual(fs.readdirSync(dir).sort(), ['meta.json', 'model.json', 'weights.bin']);
});

test('fileSystemIO load errors are UserErrors naming the file', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-'));
  await assert.rejects(
    tfl.loadLayersModel(fileSystemIO(path.join(dir, 'nope'))),
    (e: unknown) => e instanceof UserError && /nope does not exist/.test((e as Error).message),
  );
  await assert.rejects(
    tfl.loadLayersModel(fileSystemIO(dir)),
    (e: unknown) => e instanceof UserError && /has no model\.json/.test((e as Error).message),
  );
  await smallModel().save(fileSystemIO(dir));
  const bin = path.join(dir, 'weights.bin');
  fs.truncateSync(bin, 40);
  await assert.rejects(
    tfl.loadLayersModel(fileSystemIO(dir)),
    (e: unknown) => e instanceof UserError && /truncated/.test((e as Error).message),
  );
  fs.rmSync(bin);
  await assert.rejects(
    tfl.loadLayersModel(fileSystemIO(dir)),
    (e: unknown) => e instanceof UserError && /weights\.bin.*missing/.test((e as Error).message),
  );
  fs.writeFileSync(path.join(dir, 'model.json'), '{"modelTopo');
  await assert.rejects(
    tfl.loadLayersModel(fileSystemIO(dir)),
    (e: unknown) => e instanceof UserError && /not valid JSON/.test((e as Error).message),
  );
});

test('weights split over shards load the same model; the shards reach tfjs as read, not joined into a copy', async () => {
  await initBackend();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-shards-'));
  const model = smallModel();
  await model.save(fileSystemIO(dir));
  // Split weights.bin into three shards, as tfjs-converter writes a model (group1-shard1of3, ...).
  const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
  const bytes = fs.readFileSync(path.join(dir, 'weights.bin'));
  const cuts = [0, 100, 260, bytes.length];
  const paths = [0, 1, 2].map((i) => `group1-shard${i + 1}of3`);
  paths.forEach((p, i) => fs.writeFileSync(path.join(dir, p), bytes.subarray(cuts[i], cuts[i + 1])));
  fs.rmSync(path.join(dir, 'weights.bin'));
  json.weightsManifest[0].paths = paths;
  fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(json));

  const [specs, data] = await readWeightShards(dir, json.weightsManifest);
  assert.equal(specs.length, model.getWeights().length);
  assert.ok(Array.isArray(data), 'three shards stay three buffers');
  assert.deepEqual(
    (data as ArrayBuffer[]).map((b) => b.byteLength),
    [100, 160, bytes.length - 260],
  );
  const loaded = await tfl.loadLayersModel(fileSystemIO(dir));
  const a = model.getWeights();
  const b = loaded.getWeights();
  for (let i = 0; i < a.length; i++) assert.deepEqual(await b[i].data(), await a[i].data(), `weight ${i}`);
  model.dispose();
  loaded.dispose();
});
