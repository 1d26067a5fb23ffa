import type * as tfl from '@tensorflow/tfjs-layers';
import { isOnnxFeatureBase, type FeatureBase } from '../features/frozenBase.js';
import { assembleFullModel, copyWeightsByName, standardHeadModel } from '../fit/assembleModel.js';
import { fileSystemIO } from '../weights/tfjsFiles.js';

/** Writes the checkpoint (the run's model/). */
export interface FullModelSaver {
  save(dir: string): Promise<void>;
  dispose(): void;
}

/**
 * The checkpoint writer of one training phase: preprocess + base + head as one standard
 * tfjs model, or the head alone when the base is an ONNX file (meta.json's onnxBase). The
 * full model is assembled once (for VGG16 a quarter of a second: a whole model built from
 * its JSON); each later save copies in the weights that train: the head's, and those of
 * `trainedBase` (fine-tuning's unfrozen layers; the rest of the base never changes).
 */
export function fullModelSaver(base: FeatureBase, head: tfl.LayersModel, trainedBase?: tfl.LayersModel): FullModelSaver {
  let full: tfl.LayersModel | undefined;
  return {
    async save(dir) {
      if (!full)
        full = isOnnxFeatureBase(base)
          ? await standardHeadModel(head)
          : await assembleFullModel({ preprocessing: base.preprocessing, base: base.model, head });
      else {
        if (trainedBase) copyWeightsByName(trainedBase, full);
        copyWeightsByName(head, full);
      }
      await full.save(fileSystemIO(dir));
    },
    dispose() {
      full?.dispose();
      full = undefined;
    },
  };
}
