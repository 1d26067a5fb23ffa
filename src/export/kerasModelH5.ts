import type * as tfl from '@tensorflow/tfjs-layers';
import { writeH5Atomic, writeLayerWeights } from '../weights/kerasH5.js';

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
  const config = JSON.parse(JSON.stringify(json.config), (k, v) =>
    k === 'distribution' && v === 'normal' ? 'truncated_normal' : v,
  ) as Record<string, unknown>;
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
  await writeH5Atomic(file, (f) => {
    f.create_attribute('model_config', JSON.stringify(kerasModelConfig(model)));
    f.create_attribute('keras_version', KERAS_VERSION);
    f.create_attribute('backend', 'tensorflow');
    const weights = f.create_group('model_weights');
    weights.create_attribute('keras_version', KERAS_VERSION);
    weights.create_attribute('backend', 'tensorflow');
    writeLayerWeights(weights, model);
  });
}
