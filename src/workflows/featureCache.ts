import { createHash } from 'node:crypto';
import path from 'node:path';
import { labelsTableOptions } from '../data/labelsTable.js';
import { readManifest, type Manifest } from '../features/cache.js';
import { extractFeatures, type ExtractProgress, type ExtractResult } from '../features/extract.js';
import { featureKeyParts, type FeatureBase } from '../features/frozenBase.js';
import { diskRows, holdOutRows, type FeatureRows } from '../features/featureRows.js';
import type { Precision } from '../ort/int8.js';
import { cacheRoot } from '../weights/download.js';
import { saveCalibration } from './records.js';
import type { BuildContext } from './workflow.js';

/** The root of the feature cache: `cacheDir`, else `<tlkit cache>/features` ($TLKIT_CACHE, else $XDG_CACHE_HOME/tlkit, else ~/.cache/tlkit). */
export function featureCacheRoot(cacheDir?: string): string {
  return cacheDir ?? path.join(cacheRoot(), 'features');
}

/**
 * The cache folder of the features of `base` (cut at `upTo`) over one data folder:
 * `<root>/<base family>-<16 hex>[/cut-<layer>][/int8]`, the hash over the data folder and
 * what the features depend on in the base. One folder per data folder and base, under the
 * default root and under `cacheDir` alike, so that runs on other data or bases neither
 * evict nor lock each other's features. int8 features (and their calibration) live in int8/.
 */
export function featureCacheFolder(args: {
  cacheDir?: string;
  dataRoot: string;
  base: FeatureBase;
  upTo?: string;
  precision: Precision;
}): string {
  const { base } = args;
  const k = featureKeyParts(base);
  // `tlkit extract --out DIR` (or `tlkit merge DIR`) of this data and base: train reads it as it is.
  if (args.cacheDir && isFeatureFolderOf(args.cacheDir, args, args.upTo ?? k.cutLayer)) return path.resolve(args.cacheDir);
  const parts = [path.resolve(args.dataRoot), k.weightsHash, base.imageSize, k.preprocessing, ...(k.cutLayer ? [k.cutLayer] : [])];
  const hash = createHash('sha256').update(JSON.stringify(parts)).digest('hex');
  const folder = path.join(featureCacheRoot(args.cacheDir), `${base.family}-${hash.slice(0, 16)}`);
  const cut = args.upTo ? path.join(folder, `cut-${args.upTo}`) : folder;
  return args.precision === 'int8' ? path.join(cut, 'int8') : cut;
}

/** Whether `dir` is a feature folder (manifest.json) of this data folder, base, cut, image size and precision. */
function isFeatureFolderOf(dir: string, args: { dataRoot: string; base: FeatureBase; precision: Precision }, cutLayer: string): boolean {
  let m: Manifest;
  try {
    m = readManifest(dir);
  } catch {
    return false;
  }
  const { base } = args;
  return (
    m.dataRoot === path.resolve(args.dataRoot) &&
    m.base.weightsHash === base.weightsHash &&
    (m.base.cutLayer ?? '') === cutLayer &&
    m.preprocessing === base.preprocessing &&
    m.imageSize.join('x') === base.imageSize.join('x') &&
    (m.precision ?? 'fp32') === args.precision
  );
}

/** The feature cache folder of the run's data, base (cut at `upTo`) and precision. */
export function runFeatureFolder(ctx: BuildContext, base: FeatureBase, upTo?: string): string {
  return featureCacheFolder({ cacheDir: ctx.opts.cacheDir, dataRoot: ctx.data.root, base, upTo, precision: ctx.opts.precision });
}

/** The int8 calibration's cost, when this extraction computed it (its time is in the extraction's). */
function calibrated(cost: ExtractResult['calibrationCost']): string {
  return cost ? `; int8 calibration ${cost.images} images, ${cost.seconds.toFixed(1)}s` : '';
}

/** Extraction progress as log lines (verbose), at most one a second and the last one. */
export function progressLines(ctx: BuildContext): ((p: ExtractProgress) => void) | undefined {
  if (!ctx.opts.verbose) return undefined;
  let lastPrint = 0;
  return (p) => {
    const now = performance.now();
    if (now - lastPrint < 1000 && p.doneAll < p.totalAll) return;
    lastPrint = now;
    ctx.log(`  ${p.split}: ${p.done}/${p.total} images, ${p.imagesPerSecond.toFixed(1)} images/s, ETA ${Math.round(p.etaSeconds)}s`);
  };
}

/**
 * Features of some splits at the base's output (or at a cut layer), extracted once on
 * ONNX Runtime and cached on disk, and read from there a batch at a time (memory does
 * not grow with the number of images). Without a validation/ folder,
 * validation is held out of train (Keras validation_split) when the options allow it.
 */
export async function cachedFeatures(
  ctx: BuildContext,
  base: FeatureBase,
  splits: Array<'train' | 'validation'>,
  upTo?: string,
): Promise<{ train?: FeatureRows; validation: FeatureRows }> {
  const out = runFeatureFolder(ctx, base, upTo);
  const hasValidation = Boolean(ctx.data.splits.validation);
  const wanted = hasValidation ? splits : ['train'];
  const t0 = performance.now();
  if (ctx.opts.verbose)
    ctx.log(`Features with ${base.source} at ${base.imageSize.join('x')}${upTo ? ` up to ${upTo}` : ''} (cache: ${out})`);
  const extracted = await extractFeatures({
    base,
    data: ctx.opts.data,
    table: labelsTableOptions(ctx.opts),
    multiLabel: ctx.opts.multiLabel,
    out,
    splits: wanted,
    skipBadImages: ctx.opts.skipBadImages,
    upTo,
    precision: ctx.opts.precision,
    log: ctx.log,
    onProgress: progressLines(ctx),
    signal: ctx.opts.signal,
  });
  if (extracted.calibration && ctx.run) await saveCalibration(ctx.run.dir, extracted.calibration);
  const seconds = (performance.now() - t0) / 1000;
  const key = upTo ? 'prefixFeatures' : 'extract';
  ctx.timings[`${key}Seconds`] = (ctx.timings[`${key}Seconds`] ?? 0) + seconds;
  const imagesPerSecond = extracted.imagesExtracted / Math.max(extracted.inferenceSeconds, 1e-9);
  // How many images this run's extraction ran the base on (0: every split came from the cache), for the report.
  ctx.timings[`${key}Images`] = (ctx.timings[`${key}Images`] ?? 0) + extracted.imagesExtracted;
  if (extracted.imagesExtracted > 0) ctx.timings[`${key}ImagesPerSecond`] = imagesPerSecond;
  if (ctx.opts.verbose) {
    ctx.log(
      extracted.cacheHit
        ? 'Features: cache hit.'
        : extracted.imagesExtracted === 0
          ? 'Features: relabelled from the cache (labels changed, no image did).'
          : `Features: ${extracted.imagesExtracted} images in ${seconds.toFixed(1)}s (${imagesPerSecond.toFixed(1)} images/s on ONNX Runtime${calibrated(extracted.calibrationCost)}).`,
    );
  }
  const loaded: Record<string, FeatureRows> = {};
  for (const s of extracted.splits) loaded[s.split] = await diskRows(s.features, s.labels);
  if (hasValidation) return { train: loaded.train, validation: loaded.validation };
  if (!ctx.opts.validationSplit) throw new Error('train() lets no run without validation data through');
  const held = holdOutRows(loaded.train, ctx.opts.validationSplit, ctx.opts.seed);
  return { train: splits.includes('train') ? held.train : undefined, validation: held.validation };
}
