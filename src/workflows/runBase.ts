import { existsSync } from 'node:fs';
import path from 'node:path';
import * as tfl from '@tensorflow/tfjs-layers';
import { hashWeights, loadBase, type ConvBase } from '../applications/loadBase.js';
import { UserError } from '../errors.js';
import { loadOnnxFeatureBase, type FeatureBase, type OnnxFeatureBase } from '../features/frozenBase.js';
import { copyWeightsByName } from '../fit/assembleModel.js';
import { isOnnxBasePath, parsePreprocess } from '../ort/onnxBase.js';
import { runPaths } from '../run/paths.js';
import { fileSystemIO } from '../weights/tfjsFiles.js';
import { optionName, type OptionNaming, type TrainOptions } from './options.js';
import type { BuildContext } from './workflow.js';

/**
 * The ONNX base the options name (base model.onnx, preprocess, upTo, imageSize or the
 * size of the run being resumed, `runSize`): read, hashed and checked once, before the
 * run folder is touched.
 */
export function onnxBaseOfOptions(opts: TrainOptions, naming: OptionNaming, runSize?: [number, number]): OnnxFeatureBase {
  if (opts.precision === 'int8') {
    const name = (k: string) => optionName(k, naming);
    throw new UserError(
      `${name('precision')} int8 quantizes tlkit's own bases (the Keras families); ${name('base')} ${opts.base} is an ONNX file, which runs at fp32. Drop ${name('precision')} int8.`,
    );
  }
  const size: [number, number] | undefined = opts.imageSize !== undefined ? [opts.imageSize, opts.imageSize] : runSize;
  return loadOnnxFeatureBase(opts.base, {
    preprocess: parsePreprocess(opts.preprocess ?? 'none', optionName('preprocess', naming)),
    upTo: opts.upTo,
    imageSize: size,
  });
}

/**
 * The base of a features or augment run: an ONNX file (a resumed run must find the same
 * file), or a tfjs base (loadRunBase).
 */
export async function loadFeatureBase(ctx: BuildContext): Promise<FeatureBase> {
  const { opts } = ctx;
  if (!isOnnxBasePath(opts.base)) return loadRunBase(ctx);
  const base = ctx.onnxBase ?? onnxBaseOfOptions(opts, ctx.naming, ctx.resumed?.meta.imageSize);
  const recorded = ctx.resumed?.meta.onnxBase;
  if (recorded && recorded.sha256 !== base.weightsHash) {
    throw new UserError(
      `${optionName('resume', ctx.naming)}: ${opts.out} was trained on ${recorded.file} with sha256 ${recorded.sha256}, but ${opts.base} now has sha256 ${base.weightsHash}. Resume with the original file, or train anew in another out folder.`,
    );
  }
  if (opts.verbose && opts.preprocess === undefined) {
    const pre = optionName('preprocess', ctx.naming);
    ctx.log(
      `No ${pre} given: ${opts.base} gets RGB 0..255 pixels as they are ('none'). Pass the preprocessing it was trained with (e.g. ${pre} torch for torchvision/timm ImageNet models).`,
    );
  }
  return base;
}

/** The run's conv base at the requested image size (or the size of the run it resumes or fine-tunes, `runSize`). */
export async function loadRunBase(ctx: BuildContext, runSize?: [number, number]): Promise<ConvBase> {
  const size = ctx.opts.imageSize;
  let sized =
    ctx.preloadedBase ?? (await loadBase({ base: ctx.opts.base, weights: ctx.opts.weights, imageSize: size ? [size, size] : undefined }));
  ctx.preloadedBase = undefined;
  // A resumed or fine-tuned run keeps the size it was trained at.
  const wanted = size ? undefined : (runSize ?? ctx.resumed?.meta.imageSize);
  if (wanted && sized.imageSize.join('x') !== wanted.join('x')) {
    sized.model.dispose();
    sized = await loadBase({ base: ctx.opts.base, weights: ctx.opts.weights, imageSize: wanted });
  }
  if (!ctx.resumed || !ctx.run) return sized;
  // ... and the base weights its checkpoint holds.
  const checkpoint = runPaths(ctx.run.dir).model;
  if (existsSync(path.join(checkpoint, 'model.json'))) {
    const saved = await tfl.loadLayersModel(fileSystemIO(checkpoint));
    copyWeightsByName(saved, sized.model);
    saved.dispose();
    sized.weightsHash = hashWeights(sized.model);
  }
  return sized;
}
