import { promises as fsp, existsSync, statSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { UserError } from '../errors.js';
import { writeFileAtomic } from '../io/atomicWrite.js';

/** File names used when saving: the same ones tfjs-node's `file://` handler writes. */
export const MODEL_JSON = 'model.json';
export const WEIGHTS_BIN = 'weights.bin';

/** `dir` may be a folder holding model.json or the path of a model.json itself. */
function modelJsonPath(dirOrJson: string): string {
  if (dirOrJson.endsWith('.json')) return dirOrJson;
  return path.join(dirOrJson, MODEL_JSON);
}

/** The bytes as an ArrayBuffer of their own: the Buffer's own when it spans it (a large file's does), else a copy. */
function toArrayBuffer(buf: Buffer): ArrayBuffer {
  if (buf.byteOffset === 0 && buf.byteLength === buf.buffer.byteLength && buf.buffer instanceof ArrayBuffer) return buf.buffer;
  return buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer;
}

/** Join WeightData (one buffer or a list of them) into a single byte array. */
function weightBytes(data: tf.io.WeightData | undefined): Uint8Array {
  if (data === undefined) return new Uint8Array(0);
  if (Array.isArray(data)) return new Uint8Array(tf.io.CompositeArrayBuffer.join(data));
  return new Uint8Array(data);
}

/** Read and parse model.json, turning every way it can be missing or broken into a UserError. */
export async function readModelJson(dirOrJson: string): Promise<tf.io.ModelJSON> {
  const file = modelJsonPath(dirOrJson);
  if (!existsSync(file)) {
    const hint =
      existsSync(dirOrJson) && statSync(dirOrJson).isDirectory()
        ? `the folder ${dirOrJson} has no ${MODEL_JSON}`
        : `${dirOrJson} does not exist`;
    throw new UserError(
      `Expected a tfjs layers model (a folder with ${MODEL_JSON} and its weight files), but ${hint}. Give the folder that a tfjs model.save() wrote.`,
    );
  }
  let json: tf.io.ModelJSON;
  try {
    json = JSON.parse(await fsp.readFile(file, 'utf8')) as tf.io.ModelJSON;
  } catch (e) {
    throw new UserError(`${file} is not valid JSON (${(e as Error).message}); it may be truncated. Save the model again.`);
  }
  if (json === null || typeof json !== 'object' || !('modelTopology' in json)) {
    throw new UserError(
      `${file} is not a tfjs layers model.json: it has no "modelTopology". Give the model.json written by tfjs model.save().`,
    );
  }
  return json;
}

/** Read every shard listed in a weights manifest, in order, checking each exists. */
export async function readWeightShards(
  baseDir: string,
  manifest: tf.io.WeightsManifestConfig,
): Promise<[tf.io.WeightsManifestEntry[], tf.io.WeightData]> {
  const specs: tf.io.WeightsManifestEntry[] = [];
  const buffers: ArrayBuffer[] = [];
  for (const group of manifest) {
    specs.push(...group.weights);
    for (const rel of group.paths) {
      const shard = path.join(baseDir, rel);
      let buf: Buffer;
      try {
        buf = await fsp.readFile(shard);
      } catch {
        throw new UserError(
          `The weight file ${shard} listed in ${path.join(baseDir, MODEL_JSON)} is missing. Copy the whole model folder (model.json and every shard it lists).`,
        );
      }
      buffers.push(toArrayBuffer(buf));
    }
  }
  // A quantized weight (tfjs-converter --quantize_*) is stored at its quantized size.
  const expected = specs.reduce((n, s) => n + tf.util.sizeFromShape(s.shape) * bytesPerElement(s.quantization?.dtype ?? s.dtype), 0);
  const held = buffers.reduce((n, b) => n + b.byteLength, 0);
  if (held < expected) {
    throw new UserError(
      `The weight files of ${baseDir} hold ${held} bytes but model.json lists ${expected}; a shard is truncated. Copy the model folder again.`,
    );
  }
  // The shards as they were read: tfjs reads across them (joining them first would copy every weight once more).
  return [specs, buffers.length === 1 ? buffers[0] : buffers];
}

function bytesPerElement(dtype: string): number {
  return dtype === 'bool' || dtype === 'uint8' ? 1 : dtype === 'float16' || dtype === 'uint16' || dtype === 'int16' ? 2 : 4;
}

/**
 * A tfjs IOHandler for a local folder: `model.save(fileSystemIO(dir))` writes
 * model.json + weights.bin (each atomically, weights first so a model.json on disk
 * always points at complete weights); `tfl.loadLayersModel(fileSystemIO(dir))` reads them.
 * Other files in `dir` are left alone (a run dir also holds meta.json etc.).
 */
export function fileSystemIO(dir: string): tf.io.IOHandler {
  return {
    async save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
      if (artifacts.modelTopology instanceof ArrayBuffer) {
        throw new Error('fileSystemIO saves layers models (JSON topology), not binary graph models');
      }
      const jsonFile = modelJsonPath(dir);
      const folder = path.dirname(jsonFile);
      const bytes = weightBytes(artifacts.weightData);
      await writeFileAtomic(path.join(folder, WEIGHTS_BIN), bytes);
      const modelJson: tf.io.ModelJSON = {
        modelTopology: artifacts.modelTopology as object,
        format: artifacts.format ?? 'layers-model',
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy ?? null,
        weightsManifest: [{ paths: [WEIGHTS_BIN], weights: artifacts.weightSpecs ?? [] }],
      };
      if (artifacts.trainingConfig) modelJson.trainingConfig = artifacts.trainingConfig;
      if (artifacts.signature) modelJson.signature = artifacts.signature;
      if (artifacts.userDefinedMetadata) modelJson.userDefinedMetadata = artifacts.userDefinedMetadata;
      if (artifacts.modelInitializer) modelJson.modelInitializer = artifacts.modelInitializer;
      await writeFileAtomic(jsonFile, JSON.stringify(modelJson));
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    },

    async load(): Promise<tf.io.ModelArtifacts> {
      const jsonFile = modelJsonPath(dir);
      const json = await readModelJson(dir);
      const folder = path.dirname(jsonFile);
      if (!json.weightsManifest) return tf.io.getModelArtifactsForJSON(json, async () => [[], new ArrayBuffer(0)]);
      return tf.io.getModelArtifactsForJSON(json, (manifest) => readWeightShards(folder, manifest));
    },
  };
}
