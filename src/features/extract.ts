import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors.js';
import { acquireLock, isProcessAlive } from '../io/lock.js';
import type { Batch } from '../data/imageDataset.js';
import type { DataDir, SplitName } from '../data/splits.js';
import { imageDatasetOfSplit, resolveData } from '../data/tableData.js';
import { checkPrecision, type CalibrationRecord } from '../ort/int8.js';
import { precisionKey, storedCalibration, type CalibrationCost, type FrozenGraphOptions } from './calibration.js';
import { runKnowing, type KnownRows } from './knownRows.js';
import { openFrozenGraph } from './frozenGraph.js';
import { ExtractionInterrupted } from './interrupted.js';
import { removeDeadTemporaries, writeDirAtomic, writeFileAtomic } from '../io/atomicWrite.js';
import { markHandled } from '../io/markHandled.js';
import {
  cacheKeyHeader,
  FEATURES_FILE,
  FEATURES_FORMAT,
  FEATURES_VERSION,
  LABELS_FILE,
  MANIFEST,
  SPLIT_META,
  splitMetaText,
  validSplitCache,
  type Manifest,
  type SplitMeta,
} from './cache.js';
import { NpyStreamWriter, writeNpy } from '../io/npy.js';
import { datasetLabels, labelsArray, splitFiles, splitKeyHeader, type SplitFiles } from './extractPlan.js';
import { featureKeyParts, isOnnxFeatureBase, openFrozenRunner, type FeatureBase, type FrozenRunner } from './frozenBase.js';

export { frozenModel } from './frozenBase.js';

import type { ExtractedSplit, ExtractOptions, ExtractResult } from './extractTypes.js';
import { featuresKeyOf, relabelSplit, reusableRows, rowsRecord, rowsToExtract, writeRowsRecord } from './rowReuse.js';

export type { ExtractOptions, ExtractProgress, ExtractResult } from './extractTypes.js';

const DEFAULT_BATCH = 8;

// What extractFeatures rejects with when its `signal` is aborted (int8 calibration included).
export { ExtractionInterrupted };

function stopIfAborted(signal: AbortSignal | undefined, split: string): void {
  if (signal?.aborted) throw new ExtractionInterrupted(split);
}

/**
 * Run the frozen base (preprocessing layer in front, so it takes raw 0..255 RGB)
 * over every split of a data folder on ONNX Runtime and write features + labels
 * per split, reusing splits whose cache key still matches.
 */
export async function extractFeatures(opts: ExtractOptions): Promise<ExtractResult> {
  const { base } = opts;
  const imageSize = opts.imageSize ?? base.imageSize;
  const batchSize = opts.batchSize ?? DEFAULT_BATCH;
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new UserError(`batchSize must be a whole number >= 1, got ${opts.batchSize}. Use e.g. batchSize: ${DEFAULT_BATCH}.`);
  const out = path.resolve(opts.out);
  const dataDir = resolveData(opts.data, opts.table, opts.multiLabel);
  const available = Object.entries(dataDir.splits).filter(([, dir]) => dir !== undefined) as Array<[string, string]>;
  const wanted = opts.splits ?? available.map(([s]) => s);
  for (const s of wanted) {
    if (!available.some(([name]) => name === s)) {
      throw new UserError(`The data folder ${opts.data} has no '${s}' split (it has ${available.map(([n]) => n).join(', ')}).`);
    }
  }
  await fsp.mkdir(out, { recursive: true });
  // One writer at a time: a second process would interleave splits and manifest.
  const lock = acquireLock(path.join(out, '.lock'), `the feature cache ${out}`, (l) => process.stderr.write(`${l}\n`));
  try {
    return await extractLocked(opts, base, imageSize, batchSize, out, dataDir, available, wanted);
  } finally {
    lock.release();
  }
}

async function extractLocked(
  opts: ExtractOptions,
  base: FeatureBase,
  imageSize: [number, number],
  batchSize: number,
  out: string,
  dataDir: DataDir,
  available: Array<[string, string]>,
  wanted: string[],
): Promise<ExtractResult> {
  await removeDeadTemporaries(out, isProcessAlive);

  const precision = checkPrecision(opts.precision ?? 'fp32');
  if (precision === 'int8' && isOnnxFeatureBase(base)) {
    throw new UserError(
      `precision 'int8' quantizes tlkit's own bases (the Keras families); ${base.source} is an ONNX file, which runs at fp32. Drop precision: 'int8', or quantize the ONNX file with its own tools.`,
    );
  }
  // tlkit's own bases are exported (and quantized at int8) here; an ONNX base runs as it is.
  const graphOpts: FrozenGraphOptions | undefined = isOnnxFeatureBase(base)
    ? undefined
    : {
        base,
        imageSize,
        upTo: opts.upTo,
        precision,
        dataDir,
        skipBadImages: opts.skipBadImages,
        calibrationImages: opts.calibrationImages,
        threads: opts.threads,
        cacheDir: out,
        log: opts.log,
        signal: opts.signal,
      };
  const graphKey = graphOpts ? await precisionKey(graphOpts) : 'fp32';
  // Plan: list each split's files (sorted, labels kept, no shuffling) and its cache key.
  const keyParts = featureKeyParts(base, opts.upTo);
  const plans: Array<SplitFiles & { split: string; dir: string; cached?: SplitMeta; reuse?: Int32Array; fresh?: SplitFiles }> = [];
  const skipBadImages = opts.skipBadImages ?? false;
  const header = cacheKeyHeader({ ...keyParts, imageSize, classNames: dataDir.classNames, skipBadImages, precision: graphKey });
  const featuresKey = featuresKeyOf(cacheKeyHeader({ ...keyParts, imageSize, classNames: [], skipBadImages, precision: graphKey }));
  for (const [split] of available.filter(([s]) => wanted.includes(s))) {
    const labelMode = dataDir.multiLabel ? ('multi_hot' as const) : ('int' as const);
    const options = { labelMode, batchSize, imageSize, shuffle: false, skipBadImages, prefetch: 2 };
    // A table's split: its rows' images, labelled by it (each file's labels are in the key).
    const listed = await imageDatasetOfSplit(dataDir, split as SplitName, options);
    const of = (subset?: (rel: string) => boolean) =>
      splitFiles({
        listed,
        header: splitKeyHeader(header, listed, dataDir.root),
        dataRoot: dataDir.root,
        classNames: dataDir.classNames,
        subset,
        options,
      });
    const files = await of(opts.subset);
    const dir = path.join(out, split);
    const cached = validSplitCache(dir, files.key);
    // Relabelled, or rows added (same base): the rows there are copied, only new images run through the base.
    const reuse = cached || files.part ? undefined : reusableRows(dir, featuresKey, files.entries);
    const missing = reuse && rowsToExtract(reuse, files.entries);
    const fresh = missing?.size ? await of((rel) => missing.has(rel)) : undefined;
    plans.push({ split, ...files, dir, cached, reuse, fresh });
  }

  const todo = plans.filter((p) => !p.cached);
  const toExtract = todo.filter((p) => !p.reuse || p.fresh).map((p) => ({ ...p, ...(p.fresh ?? {}) }));
  // A check whether `out` is complete and current (a retried shard): nothing is written.
  const nothing = { out, manifest: path.join(out, MANIFEST), classNames: dataDir.classNames, splits: [], inferenceSeconds: 0 };
  if (opts.checkOnly) return { ...nothing, cacheHit: todo.length === 0, imagesExtracted: 0, precision };
  let runner: FrozenRunner | undefined;
  let inferenceSeconds = 0;
  let imagesExtracted = 0;
  const results: ExtractedSplit[] = [];
  let calibration: CalibrationRecord | undefined;
  // A calibration computed here: its cost, and its int8 features of the calibration images (not run again).
  let calibrationCost: CalibrationCost | undefined;
  let known: KnownRows | undefined;
  try {
    // The manifest goes first, so no reader trusts it while splits are being replaced.
    if (todo.length) await fsp.rm(path.join(out, MANIFEST), { force: true });
    if (toExtract.length) {
      if (!graphOpts) runner = await openFrozenRunner(base, imageSize, { upTo: opts.upTo, threads: opts.threads });
      else {
        // Through the graph cache; the session is created while the first batches decode.
        const graph = await openFrozenGraph(graphOpts);
        calibration = graph.calibration;
        calibrationCost = graph.cost;
        known = graph.known;
        runner = graph.runner;
      }
    } else if (graphOpts && precision === 'int8') {
      calibration = (await storedCalibration(graphOpts))?.record;
    }
    const totalAll = toExtract.reduce((n, p) => n + p.dataset.size, 0);
    const progress = { doneAll: 0, totalAll, started: performance.now() };
    const extractFiles = (files: SplitFiles & { split: string; dir: string }) =>
      extractSplit({ ...files, featuresKey }, runner as FrozenRunner, dataDir.root, dataDir.classNames, progress, opts, known);
    for (const plan of plans) {
      let meta = plan.cached;
      if (!meta && plan.reuse) {
        const freshDir = path.join(out, `.${plan.split}-fresh`);
        if (plan.fresh) {
          stopIfAborted(opts.signal, plan.split);
          const r = await extractFiles({ ...plan.fresh, split: plan.split, dir: freshDir });
          inferenceSeconds += r.inferenceSeconds;
          imagesExtracted += r.meta.count;
        }
        meta = await relabelSplit({
          dir: plan.dir,
          rows: plan.reuse,
          fresh: plan.fresh ? freshDir : undefined,
          key: plan.key,
          split: plan.split,
          classNames: dataDir.classNames,
          entries: plan.entries,
          labels: datasetLabels(plan.dataset, dataDir.classNames.length),
          featuresKey,
        });
        await fsp.rm(freshDir, { recursive: true, force: true });
      } else if (!meta) {
        stopIfAborted(opts.signal, plan.split);
        const r = await extractFiles(plan);
        meta = r.meta;
        inferenceSeconds += r.inferenceSeconds;
        imagesExtracted += meta.count;
      }
      results.push({
        split: plan.split,
        dir: plan.dir,
        features: path.join(plan.dir, FEATURES_FILE),
        labels: path.join(plan.dir, LABELS_FILE),
        meta: path.join(plan.dir, SPLIT_META),
        count: meta.count,
        featureShape: meta.featureShape,
        cacheHit: Boolean(plan.cached),
        skipped: meta.skipped,
      });
    }
  } finally {
    await runner?.dispose();
  }

  const manifest: Manifest = {
    format: FEATURES_FORMAT,
    version: FEATURES_VERSION,
    base: { family: base.family, source: base.source, weightsHash: base.weightsHash, cutLayer: keyParts.cutLayer || null },
    precision,
    preprocessing: base.preprocessing,
    imageSize,
    classNames: dataDir.classNames,
    dataRoot: dataDir.root,
    splits: Object.fromEntries(
      results.map((r) => [
        r.split,
        { dir: r.split, count: r.count, featureShape: r.featureShape, key: plans.find((p) => p.split === r.split)!.key },
      ]),
    ),
    createdAt: new Date().toISOString(),
  };
  const manifestFile = path.join(out, MANIFEST);
  const previous = await fsp.readFile(manifestFile, 'utf8').catch(() => undefined);
  if (!previous || !sameManifest(previous, manifest)) await writeFileAtomic(manifestFile, `${JSON.stringify(manifest, null, 2)}\n`);
  return {
    out,
    manifest: manifestFile,
    classNames: dataDir.classNames,
    cacheHit: todo.length === 0,
    splits: results,
    inferenceSeconds,
    imagesExtracted,
    precision,
    ...(calibration ? { calibration } : {}),
    ...(calibrationCost ? { calibrationCost } : {}),
  };
}

function sameManifest(previousText: string, next: Manifest): boolean {
  try {
    const prev = JSON.parse(previousText) as Manifest;
    return JSON.stringify({ ...prev, createdAt: '' }) === JSON.stringify({ ...next, createdAt: '' });
  } catch {
    return false;
  }
}

async function extractSplit(
  plan: SplitFiles & { split: string; dir: string; featuresKey: string },
  runner: FrozenRunner,
  dataRoot: string,
  classNames: string[],
  progress: { doneAll: number; totalAll: number; started: number },
  { onProgress, signal }: Pick<ExtractOptions, 'onProgress' | 'signal'>,
  known?: KnownRows,
): Promise<{ meta: SplitMeta; inferenceSeconds: number }> {
  const { dataset, split } = plan;
  let meta: SplitMeta | undefined;
  let inferenceSeconds = 0;
  await writeDirAtomic(plan.dir, async (tmp) => {
    let writer: NpyStreamWriter | undefined;
    let featureShape: number[] = [];
    const labels: number[] = [];
    const files: string[] = [];
    try {
      let done = 0;
      const it = dataset.batches()[Symbol.asyncIterator]();
      // Ask for batch k+1 before running batch k: its decoding (sharp, on libuv
      // threads) proceeds while ONNX Runtime computes.
      let next = markHandled(it.next());
      for (;;) {
        if (signal?.aborted) {
          // Stop decoding ahead; the split's temporary folder is removed by writeDirAtomic.
          void next.then(() => it.return?.()).catch(() => {});
          stopIfAborted(signal, split);
        }
        const r = await next;
        if (r.done) break;
        const batch: Batch = r.value;
        next = markHandled(it.next());
        const t0 = performance.now();
        const { output: y } = await runKnowing(runner, batch, known);
        inferenceSeconds += (performance.now() - t0) / 1000;
        if (!writer) {
          featureShape = y.shape.slice(1);
          writer = NpyStreamWriter.open(path.join(tmp, FEATURES_FILE), '<f4', featureShape);
        }
        writer.append(y.data);
        for (const y of batch.labels) labels.push(y);
        files.push(...batch.files);
        done += batch.files.length;
        progress.doneAll += batch.files.length;
        if (onProgress) {
          const elapsed = (performance.now() - progress.started) / 1000;
          const rate = progress.doneAll / Math.max(elapsed, 1e-9);
          onProgress({
            split,
            done,
            total: dataset.size,
            doneAll: progress.doneAll,
            totalAll: progress.totalAll,
            imagesPerSecond: rate,
            etaSeconds: (progress.totalAll - progress.doneAll) / Math.max(rate, 1e-9),
          });
        }
      }
      // A shard may hold no image of a split: an empty part, whose rows a merge simply has none of.
      if (!writer && plan.part) writer = NpyStreamWriter.open(path.join(tmp, FEATURES_FILE), '<f4', []);
      if (!writer) {
        throw new UserError(
          `No readable image in ${split} of the data folder (${dataset.skipped.length} skipped). Add images or check the files.`,
        );
      }
      writer.close();
    } catch (e) {
      writer?.abort();
      throw e;
    }
    const labelArray = labelsArray(labels, dataset.labelMode === 'multi_hot' ? classNames.length : undefined);
    await writeNpy(path.join(tmp, LABELS_FILE), labelArray.data, labelArray.shape);
    const [features, labelsStat] = await Promise.all([fsp.stat(path.join(tmp, FEATURES_FILE)), fsp.stat(path.join(tmp, LABELS_FILE))]);
    meta = {
      format: FEATURES_FORMAT,
      version: FEATURES_VERSION,
      key: plan.key,
      split,
      count: files.length,
      featureShape,
      classNames,
      files: files.map((f) => path.relative(dataRoot, f)),
      skipped: dataset.skipped.map((f) => path.relative(dataRoot, f)),
      bytes: { features: features.size, labels: labelsStat.size },
      createdAt: new Date().toISOString(),
      ...(plan.part ? { part: plan.part } : {}),
    };
    await writeRowsRecord(tmp, rowsRecord(plan.featuresKey, meta.files, plan.entries));
    // meta.json (with the key) is the last file of the split; the directory rename publishes them all at once.
    await writeFileAtomic(path.join(tmp, SPLIT_META), splitMetaText(meta));
  });
  return { meta: meta as SplitMeta, inferenceSeconds };
}
