import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import * as tf from '@tensorflow/tfjs-core';
import { UserError } from '../errors.js';

/**
 * The npm package nsfwjs ships a Keras MobileNetV2 (Keras 2.2.4, 224x224, with its own
 * dense head) as two browserify bundles: model.min.js exports the model.json object and
 * group1-shard1of1.min.js exports the weight bytes as one base64 string. Evaluating each
 * bundle in an empty VM context with a CommonJS `module` gives those values back without
 * a browser (and without letting the bundle see anything of this process).
 */
export function nsfwjsModelDir(): string {
  let entry: string;
  try {
    entry = createRequire(import.meta.url).resolve('nsfwjs');
  } catch {
    throw new UserError(
      'The base "nsfwjs" needs the npm package nsfwjs, which is not installed. Run: ONNXRUNTIME_NODE_INSTALL=skip npm install nsfwjs',
    );
  }
  // entry: <pkg>/dist/cjs/index.js -> models at <pkg>/dist/models/mobilenet_v2
  const dir = path.resolve(path.dirname(entry), '..', 'models', 'mobilenet_v2');
  if (!existsSync(path.join(dir, 'model.min.js'))) {
    throw new UserError(
      `The nsfwjs package at ${path.resolve(path.dirname(entry), '../..')} has no dist/models/mobilenet_v2/model.min.js; reinstall nsfwjs (npm install nsfwjs@4).`,
    );
  }
  return dir;
}

function evaluateBundle(file: string): unknown {
  const module = { exports: {} as unknown };
  vm.runInNewContext(readFileSync(file, 'utf8'), { module, exports: module.exports }, { filename: file });
  return module.exports;
}

/** The nsfwjs MobileNetV2 as tfjs model artifacts (topology, weight specs and the decoded weight bytes). */
export function nsfwjsArtifacts(dir = nsfwjsModelDir()): tf.io.ModelArtifacts {
  // Through JSON so the objects belong to this realm (tfjs tests `instanceof Array`).
  const json = JSON.parse(JSON.stringify(evaluateBundle(path.join(dir, 'model.min.js')) ?? null)) as tf.io.ModelJSON;
  if (!json || typeof json !== 'object' || !json.modelTopology || !json.weightsManifest) {
    throw new UserError(
      `${path.join(dir, 'model.min.js')} did not yield a tfjs model.json (modelTopology + weightsManifest); the nsfwjs version may have changed its packaging.`,
    );
  }
  const buffers: ArrayBuffer[] = [];
  for (const group of json.weightsManifest) {
    for (const p of group.paths) {
      const shard = evaluateBundle(path.join(dir, `${p}.min.js`));
      if (typeof shard !== 'string') throw new UserError(`${path.join(dir, `${p}.min.js`)} did not yield base64 weight data.`);
      const bytes = Buffer.from(shard, 'base64');
      buffers.push(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
    }
  }
  return {
    modelTopology: json.modelTopology,
    format: 'layers-model',
    weightSpecs: json.weightsManifest.flatMap((g) => g.weights),
    weightData: tf.io.CompositeArrayBuffer.join(buffers),
  };
}
