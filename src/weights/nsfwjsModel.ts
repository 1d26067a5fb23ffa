import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';
import * as tf from '@tensorflow/tfjs-core';
import { UserError } from '../errors.js';

/**
 * The npm package nsfwjs ships a Keras MobileNetV2 (Keras 2.2.4, 224x224, with its own
 * dense head) as two browserify bundles: model.min.js exports the model.json object and
 * group1-shard1of1.min.js exports the weight bytes as one base64 string. tlkit carries
 * those two files unchanged (models/nsfwjs-mobilenet_v2, 3.5 MB, MIT) instead of depending
 * on nsfwjs: that package is 41 MB and its peer dependency, the @tensorflow/tfjs union
 * package, would put 190 MB more into every install. Evaluating each bundle in an empty VM
 * context with a CommonJS `module` gives those values back without a browser (and without
 * letting the bundle see anything of this process).
 */
export function nsfwjsModelDir(): string {
  // src/weights/ and dist/weights/ are both two levels below the package root
  const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'models', 'nsfwjs-mobilenet_v2');
  if (!existsSync(path.join(dir, 'model.min.js'))) {
    throw new UserError(`The nsfwjs MobileNetV2 that tlkit carries is missing (${path.join(dir, 'model.min.js')}); reinstall tlkit.`);
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
