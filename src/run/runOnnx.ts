import { existsSync } from 'node:fs';
import path from 'node:path';
import * as tfl from '@tensorflow/tfjs-layers';
import { UserError } from '../errors.js';
import { buildOnnxModel } from '../onnx/export.js';
import type { IModelProto } from '../onnx/proto.js';
import { stitchOnnxBase } from '../ort/stitch.js';
import { inspectOnnxBase, type OnnxBaseInfo } from '../ort/onnxBase.js';
import { fileSystemIO } from '../weights/tfjsFiles.js';
import { readKnnIndex } from './knnIndex.js';
import { knnOnnxModel } from './knnOnnx.js';
import type { RunMeta } from './meta.js';
import { runPaths } from './paths.js';

// A saved run as one ONNX graph, RGB 0..255 NHWC in and probabilities out: what predict,
// evaluate and report run, and what `tlkit export --format onnx` writes.

export interface RunOnnxOptions {
  /** For a run trained on an ONNX base: where its file is now (--base), instead of the recorded path. */
  base?: string;
}

/**
 * The ONNX base of a run, found (at `override`, else where training read it), checked
 * against the recorded sha256, and cut and sized as training did. A UserError that says
 * which path and hash were expected and how to fix it when the file moved or changed.
 */
export function locateRunOnnxBase(runDir: string, meta: RunMeta, override?: string): { info: OnnxBaseInfo; bytes: Uint8Array } {
  const rec = meta.onnxBase;
  if (!rec)
    throw new UserError(
      `${runDir} was not trained on an ONNX base (its base is ${meta.base}); --base applies only to runs trained with --base model.onnx. Drop --base.`,
    );
  const file = override ?? rec.file;
  const expected = `the ONNX base ${rec.file} (sha256 ${rec.sha256})`;
  const fix = `Put the original file back at ${rec.file}, or pass --base PATH with the file where it is now (tlkit predict, evaluate, report and export take it).`;
  if (!existsSync(file)) {
    throw new UserError(
      override
        ? `--base ${override} does not exist. ${runDir} needs ${expected}.`
        : `${runDir} was trained on ${expected}, which no longer exists. ${fix}`,
    );
  }
  let found;
  try {
    found = inspectOnnxBase(file, {
      upTo: rec.upTo ?? undefined,
      imageSize: meta.imageSize,
      layout: rec.layout,
      preprocess: rec.preprocess,
    });
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    throw new UserError(`${runDir} needs ${expected}, but ${file} cannot be used: ${e.message}`);
  }
  if (found.info.sha256 !== rec.sha256) {
    const where = override ? `--base ${override}` : file;
    throw new UserError(
      `${where} has sha256 ${found.info.sha256}, but ${runDir} was trained on ${expected}: the file changed, and the head's predictions would mean nothing on another model's features. ` +
        (override ? 'Pass the original file.' : `Restore the original file at ${rec.file}, or pass --base PATH with a copy of it.`),
    );
  }
  return found;
}

/** The run's whole model as an ONNX message (for an ONNX-base run: its base, checked, stitched to the head). */
export async function runOnnxModel(runDir: string, meta: RunMeta, opts: RunOnnxOptions = {}): Promise<IModelProto> {
  if (opts.base !== undefined && !meta.onnxBase) locateRunOnnxBase(runDir, meta, opts.base);
  const base = meta.onnxBase ? locateRunOnnxBase(runDir, meta, opts.base && path.resolve(opts.base)) : undefined;
  const model = await tfl.loadLayersModel(fileSystemIO(runPaths(runDir).model));
  try {
    // A kNN run: model/ is the base, the stored features vote (knnOnnx.ts).
    if (meta.knn) return knnOnnxModel(model, await readKnnIndex(runDir, meta.classes), meta.knn.k);
    const own = buildOnnxModel(model).model;
    return base ? stitchOnnxBase(base.bytes, base.info, own) : own;
  } finally {
    model.dispose();
  }
}
