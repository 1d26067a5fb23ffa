import { existsSync, statSync, renameSync, rmSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { UserError } from '../errors.js';
import { h5, hdf5Reason } from './h5wasmLoader.js';

/** One weight array of a layer as stored in a Keras .h5 file. */
export interface H5Weight {
  /** The stored name, e.g. "block1_conv1/kernel:0". */
  name: string;
  shape: number[];
  data: Float32Array;
}

/** The weights of a Keras legacy-layout .h5 file, layer by layer, in file order. */
export interface KerasH5Weights {
  file: string;
  layerNames: string[];
  layers: Map<string, H5Weight[]>;
}

type H5 = Awaited<ReturnType<typeof h5>>;
type H5Group = InstanceType<H5['Group']>;
type H5Dataset = InstanceType<H5['Dataset']>;

function stringList(value: unknown): string[] {
  if (value === null || value === undefined) return [];
  if (typeof value === 'string') return [value];
  return Array.from(value as ArrayLike<unknown>).map((v) => String(v).replace(/\0+$/, ''));
}

function toFloat32(value: unknown): Float32Array {
  if (value instanceof Float32Array) return value;
  // int64 datasets (Keras's Normalization keeps its sample count as one) come back as BigInts
  if (value instanceof BigInt64Array || value instanceof BigUint64Array) return Float32Array.from(Array.from(value, (v) => Number(v)));
  if (typeof value === 'bigint') return Float32Array.of(Number(value));
  if (ArrayBuffer.isView(value)) return Float32Array.from(value as unknown as ArrayLike<number>);
  if (typeof value === 'number') return Float32Array.of(value);
  throw new Error(`unsupported dataset value ${typeof value}`);
}

/** Short name of a weight for matching: "block1_conv1/kernel:0" -> "kernel". */
export function weightShortName(name: string): string {
  const last = name.split('/').pop() ?? name;
  return last.replace(/:\d+$/, '');
}

function notKerasFile(file: string, why: string): UserError {
  return new UserError(
    `${file} is not a Keras weights file in the legacy HDF5 layout (${why}). Expected a file written by Keras model.save_weights("....h5") or one of the Keras applications weight files such as vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5.`,
  );
}

/** Read every layer's weights from a Keras legacy .h5 (root attribute layer_names, per-layer weight_names). */
export async function readKerasH5(file: string): Promise<KerasH5Weights> {
  if (!existsSync(file)) {
    throw new UserError(
      `The weights file ${file} does not exist. Give the path of a Keras .h5 weights file (or --weights imagenet to download the Keras one, or --weights none for random weights).`,
    );
  }
  if (!statSync(file).isFile()) throw new UserError(`The weights path ${file} is not a file; expected a Keras .h5 weights file.`);
  const lib = await h5();
  let f: InstanceType<H5['File']>;
  try {
    f = new lib.File(file, 'r');
  } catch (e) {
    const reason = hdf5Reason(e);
    const fix = /truncat/i.test(reason)
      ? 'The file is truncated (an interrupted download or copy?): fetch it again.'
      : 'Give a Keras .h5 weights file (such as vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5), or --weights imagenet to download the Keras one, or --weights none for random weights.';
    throw new UserError(`Cannot read the weights file ${file}: ${reason}. ${fix}`);
  }
  try {
    let root: H5Group = f;
    if (!('layer_names' in f.attrs) && f.keys().includes('model_weights')) {
      root = f.get('model_weights') as H5Group; // a whole-model .h5 (model.save): weights live under model_weights
    }
    if (!('layer_names' in root.attrs)) {
      const keys = f.keys();
      const why =
        keys.includes('layers') || keys.includes('_layer_checkpoint_dependencies')
          ? 'it looks like a Keras 3 ".weights.h5" file; save it with the legacy format, e.g. model.save_weights("w.h5") under tf.keras 2, or load it in Keras and save as .h5'
          : 'no root attribute "layer_names"';
      throw notKerasFile(file, why);
    }
    const layerNames = stringList(root.attrs['layer_names'].value);
    const layers = new Map<string, H5Weight[]>();
    for (const layerName of layerNames) {
      const g = root.get(layerName) as H5Group | null;
      if (!g) throw notKerasFile(file, `layer "${layerName}" is listed in layer_names but has no group`);
      const weightNames = 'weight_names' in g.attrs ? stringList(g.attrs['weight_names'].value) : [];
      const weights: H5Weight[] = [];
      for (const wn of weightNames) {
        let ds: H5Dataset | null;
        try {
          ds = g.get(wn) as H5Dataset | null;
          if (!ds) throw new Error('missing');
          weights.push({ name: wn, shape: (ds.shape ?? []).slice(), data: toFloat32(ds.value) });
        } catch (e) {
          throw new UserError(
            `Cannot read weight "${wn}" of layer "${layerName}" from ${file}: ${hdf5Reason(e)}. The file is damaged or truncated; fetch it again.`,
          );
        }
      }
      layers.set(layerName, weights);
    }
    return { file, layerNames, layers };
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`Cannot read the weights file ${file}: ${hdf5Reason(e)}. The file is damaged or truncated; fetch it again.`);
  } finally {
    try {
      f.close();
    } catch {
      /* already failed */
    }
  }
}

function fmt(shape: readonly number[]): string {
  return `(${shape.join(', ')}${shape.length === 1 ? ',' : ''})`;
}

/** Layers of `model` that own weights (what a weights file must provide). */
function layersWithWeights(model: tfl.LayersModel): tfl.layers.Layer[] {
  return model.layers.filter((l) => l.weights.length > 0);
}

/**
 * Set the weights of `model` from a Keras .h5, matching layers by name (so a file of the
 * full model also loads into the conv base; extra layers of the file are ignored).
 * Every layer of the model with weights must be in the file with the same shapes.
 */
export function applyKerasH5(model: tfl.LayersModel, h5w: KerasH5Weights): void {
  const wanted = layersWithWeights(model);
  const missing = wanted.filter((l) => !h5w.layers.has(l.name) || (h5w.layers.get(l.name)?.length ?? 0) === 0);
  if (missing.length > 0) {
    const matched = wanted.length - missing.length;
    const fileLayers = h5w.layerNames.filter((n) => (h5w.layers.get(n)?.length ?? 0) > 0);
    const sample = fileLayers.slice(0, 4).join(', ') + (fileLayers.length > 4 ? ', ...' : '');
    const another = matched === 0 ? ' It looks like the weights of another model.' : '';
    throw new UserError(
      `The weights file ${h5w.file} does not fit the model "${model.name}": ${missing.length} of its ${wanted.length} layers with weights are not in the file (first missing: ${missing[0].name}); the file holds layers ${sample || '(none)'}.${another} Give the .h5 of the same architecture (and alpha), or choose the --base that matches the file.`,
    );
  }
  const assignments: Array<[tfl.LayerVariable, tf.Tensor]> = [];
  for (const layer of wanted) {
    const stored = h5w.layers.get(layer.name)!;
    const vars = layer.weights;
    if (stored.length !== vars.length) {
      throw new UserError(
        `The weights file ${h5w.file} has ${stored.length} weights for layer "${layer.name}" but the model's layer has ${vars.length} (${vars.map((v) => weightShortName(v.originalName)).join(', ')}). Give the .h5 of the same architecture.`,
      );
    }
    // Match by short name (kernel, bias, gamma, ...) when every name pairs up; else by order as Keras does.
    const byName = new Map(stored.map((s) => [weightShortName(s.name), s]));
    const pairByName = vars.every((v) => byName.has(weightShortName(v.originalName))) && byName.size === stored.length;
    vars.forEach((v, i) => {
      const s = pairByName ? byName.get(weightShortName(v.originalName))! : stored[i];
      if (s.shape.join(',') !== v.shape.join(',')) {
        throw new UserError(
          `Weight shape mismatch in layer "${layer.name}" (${weightShortName(v.originalName)}): the model expects ${fmt(v.shape as number[])} but ${h5w.file} has ${fmt(s.shape)} ("${s.name}"). The file belongs to a different configuration (input channels, alpha, classes or top); give the matching .h5.`,
        );
      }
      assignments.push([v, tf.tensor(s.data, s.shape, 'float32')]);
    });
  }
  for (const [v, t] of assignments) {
    v.write(t);
    t.dispose();
  }
}

/** Load a Keras .h5 weights file into `model` (matched by layer name, shapes checked). */
export async function loadKerasH5Weights(model: tfl.LayersModel, file: string): Promise<KerasH5Weights> {
  const h5w = await readKerasH5(file);
  applyKerasH5(model, h5w);
  return h5w;
}

/**
 * Write `model`'s weights as a Keras legacy-layout .h5 (what tf.keras 2 `save_weights`
 * writes): root attribute layer_names, a group per layer with attribute weight_names,
 * datasets at <layer>/<layer>/<weight>:0. Written beside the target, then renamed.
 */
export async function writeKerasH5(model: tfl.LayersModel, file: string): Promise<void> {
  await writeH5Atomic(file, (f) => {
    f.create_attribute('backend', 'tensorflow');
    f.create_attribute('keras_version', '2.15.0');
    writeLayerWeights(f, model);
  });
}

type H5File = InstanceType<Awaited<ReturnType<typeof h5>>['File']>;

/** Create an HDF5 file beside `file`, let `fill` write it, then rename it over `file` (removed again on an error). */
export async function writeH5Atomic(file: string, fill: (f: H5File) => void): Promise<void> {
  const lib = await h5();
  mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const tmp = path.join(path.dirname(path.resolve(file)), `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  const f = new lib.File(tmp, 'w');
  try {
    fill(f);
  } catch (e) {
    f.close();
    rmSync(tmp, { force: true });
    throw e;
  }
  f.close();
  renameSync(tmp, file);
}

/**
 * Keras's weight layout into `root` (the file itself, or a model file's `model_weights`):
 * attribute `layer_names`, a group per layer with attribute `weight_names`, datasets at
 * <layer>/<layer>/<weight>:0 (a nested model's weights under their own layers' names).
 */
export function writeLayerWeights(root: H5Group, model: tfl.LayersModel): void {
  const names = model.layers.map((l) => l.name);
  const width = Math.max(1, ...names.map((n) => Buffer.byteLength(n)));
  root.create_attribute('layer_names', names, [names.length], `S${width}`);
  for (const layer of model.layers) {
    const g = root.create_group(layer.name);
    // A nested model's weights keep their own layers' names, as Keras writes them
    // ("convnext_tiny_stem_conv/kernel:0" inside group convnext_tiny_stem).
    const nested = Array.isArray((layer as unknown as { layers?: unknown }).layers);
    const weightNames = layer.weights.map((v) =>
      nested ? `${v.originalName.replace(/:\d+$/, '')}:0` : `${layer.name}/${weightShortName(v.originalName)}:0`,
    );
    if (weightNames.length === 0) {
      g.create_attribute('weight_names', [], [0], 'S1');
      continue;
    }
    const w = Math.max(...weightNames.map((n) => Buffer.byteLength(n)));
    g.create_attribute('weight_names', weightNames, [weightNames.length], `S${w}`);
    const groups = new Map<string, H5Group>();
    layer.weights.forEach((v, i) => {
      const parts = weightNames[i].split('/');
      const datasetName = parts.pop()!;
      let parent: H5Group = g;
      for (let k = 0; k < parts.length; k++) {
        const key = parts.slice(0, k + 1).join('/');
        let child = groups.get(key);
        if (!child) {
          child = parent.create_group(parts[k]);
          groups.set(key, child);
        }
        parent = child;
      }
      const data = v.read().dataSync() as Float32Array;
      // Keras keeps Normalization's sample count as an int64 scalar.
      if (layer.getClassName() === 'Normalization' && weightShortName(v.originalName) === 'count') {
        parent.create_dataset({
          name: datasetName,
          data: BigInt64Array.from(Array.from(data, (x) => BigInt(Math.round(x)))),
          shape: v.shape as number[],
          dtype: '<q',
        });
      } else {
        parent.create_dataset({ name: datasetName, data: new Float32Array(data), shape: v.shape as number[], dtype: '<f' });
      }
    });
  }
}
