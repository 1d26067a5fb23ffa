import { mkdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import type * as tfl from '@tensorflow/tfjs-layers';
import { h5 } from '../weights/h5wasmLoader.js';
import { weightShortName } from '../weights/kerasH5.js';

/** The Keras version written into the file (the legacy .h5 format is tf.keras 2's; Keras 3 reads it too). */
export const KERAS_VERSION = '2.15.0';

/**
 * The functional config Keras's `model_from_config` reads: tfjs-layers already writes
 * Keras's pythonic config (snake_case keys, Keras class names); only the model's own
 * class name differs ('Model' in tfjs, 'Functional' in tf.keras >= 2.4).
 */
export function kerasModelConfig(model: tfl.LayersModel): { class_name: string; config: Record<string, unknown> } {
  const json = model.toJSON(null, false) as { class_name: string; config: Record<string, unknown> };
  // tfjs names VarianceScaling's truncated normal 'normal' (it draws from a truncated normal); Keras calls it 'truncated_normal'.
  const config = JSON.parse(JSON.stringify(json.config), (k, v) => (k === 'distribution' && v === 'normal' ? 'truncated_normal' : v)) as Record<string, unknown>;
  return { class_name: json.class_name === 'Model' ? 'Functional' : json.class_name, config };
}

/**
 * Write a whole model as a legacy Keras HDF5 file, the layout of tf.keras 2's
 * `model.save("feature_extraction.h5")` (keras/src/legacy/saving/legacy_h5_format.py):
 *   root attributes  model_config (JSON: {"class_name": "Functional", "config": ...}),
 *                    keras_version, backend
 *   /model_weights   attributes layer_names, keras_version, backend; one group per layer
 *                    with attribute weight_names ("dense/kernel:0", ...) and the datasets
 *                    at /model_weights/<layer>/<layer>/<weight>:0
 * No training_config: `load_model(..., compile=False)` or a later compile, as Keras says
 * for a model saved without an optimizer. Written beside the target, then renamed.
 */
export async function writeKerasModelH5(model: tfl.LayersModel, file: string): Promise<void> {
  const lib = await h5();
  mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const tmp = path.join(path.dirname(path.resolve(file)), `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  const f = new lib.File(tmp, 'w');
  try {
    f.create_attribute('model_config', JSON.stringify(kerasModelConfig(model)));
    f.create_attribute('keras_version', KERAS_VERSION);
    f.create_attribute('backend', 'tensorflow');
    const weights = f.create_group('model_weights');
    const names = model.layers.map((l) => l.name);
    const width = Math.max(1, ...names.map((n) => Buffer.byteLength(n)));
    weights.create_attribute('layer_names', names, [names.length], `S${width}`);
    weights.create_attribute('keras_version', KERAS_VERSION);
    weights.create_attribute('backend', 'tensorflow');
    for (const layer of model.layers) {
      const g = weights.create_group(layer.name);
      const weightNames = layer.weights.map((v) => `${layer.name}/${weightShortName(v.originalName)}:0`);
      if (weightNames.length === 0) {
        g.create_attribute('weight_names', [], [0], 'S1');
        continue;
      }
      const w = Math.max(...weightNames.map((n) => Buffer.byteLength(n)));
      g.create_attribute('weight_names', weightNames, [weightNames.length], `S${w}`);
      const inner = g.create_group(layer.name);
      layer.weights.forEach((v, i) => {
        const data = v.read().dataSync() as Float32Array;
        inner.create_dataset({ name: weightNames[i].split('/').pop() as string, data: new Float32Array(data), shape: v.shape as number[], dtype: '<f' });
      });
    }
  } catch (e) {
    f.close();
    rmSync(tmp, { force: true });
    throw e;
  }
  f.close();
  renameSync(tmp, file);
}
