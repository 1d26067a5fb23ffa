import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { ConvBase } from '../applications/loadBase.js';
import { labelsTableOptions } from '../data/labelsTable.js';
import { UserError } from '../errors.js';
import { extractFeatures, frozenModel } from '../features/extract.js';
import { diskRows, rowSize, type FeatureRows } from '../features/featureRows.js';
import { scoreEvaluation } from '../inference/predictor.js';
import { writeDirAtomic } from '../io/atomicWrite.js';
import { knnIndexCount, writeKnnIndex, type KnnIndex, type StoredImage } from '../run/knnIndex.js';
import { knnProbabilities, poolFeatureMap } from '../run/knnVotes.js';
import type { HeadSpec, KnnRecord } from '../run/meta.js';
import { runPaths } from '../run/paths.js';
import { fileSystemIO } from '../weights/tfjsFiles.js';
import { progressLines, runFeatureFolder } from './featureCache.js';
import { optionName } from './options.js';
import { loadRunBase } from './runBase.js';
import { startRecords, type WorkflowContext, type WorkflowResult } from './workflow.js';

/** What meta.json says of a kNN run's "head": the feature map averaged over space, nothing trained. */
const KNN_HEAD: HeadSpec = { units: 0, activation: 'linear', dropout: 0, pooling: 'avg' };

/** Rows pooled at a time: a 7x7x1024 MobileNet map is 200 kB a row. */
const CHUNK = 128;

/**
 * An instant classifier (ml5's kNN on MobileNet's embedding): the cached features of the
 * training images, each averaged over space and scaled to unit length, are stored in the
 * run (knn/); an image's class is the vote of its k most cosine-similar stored images.
 * Nothing trains. model/ holds the base, so that predict, evaluate, report and the ONNX
 * export run the base and the vote as one graph (run/knnOnnx.ts); `tlkit add` stores more.
 */
export async function knnWorkflow(ctx: WorkflowContext): Promise<WorkflowResult> {
  const { opts, data, run } = ctx;
  if (data.multiLabel) {
    throw new UserError(
      `${optionName('mode', ctx.naming)} knn votes for one class an image, and ${data.table?.file ?? opts.data} gives images several labels. Use ${optionName('mode', ctx.naming)} features for multi-label data.`,
    );
  }
  const base = await loadRunBase(ctx);
  try {
    const records = startRecords(ctx, base, 'knn', KNN_HEAD);
    // The votes are one probability per class, two classes included.
    records.meta.labelMode = 'categorical';
    const { train, validation } = await knnFeatures(ctx, base);
    const t0 = performance.now();
    const index = await knnIndexOf(train.rows, train.files, data.classNames);
    const knn: KnnRecord = { k: opts.k, count: knnIndexCount(index), dim: index.dim };
    if (validation) {
      const queries = await pooledRows(validation.rows);
      const scores = Array.from({ length: validation.rows.n }, (_, i) =>
        knnProbabilities(index, queries.subarray(i * index.dim, (i + 1) * index.dim), opts.k),
      );
      const e = scoreEvaluation(scores, Array.from(validation.rows.labels), data.classNames);
      knn.validation = { n: e.n, accuracy: e.accuracy, loss: e.loss };
    }
    ctx.timings.knnIndexSeconds = (performance.now() - t0) / 1000;
    // The index, then the base: a run folder holds a model only once both are whole.
    await writeKnnIndex(run.dir, index);
    await writeDirAtomic(runPaths(run.dir).model, async (dir) => {
      await frozenModel(base, base.imageSize).save(fileSystemIO(dir));
    });
    await run.checkpointSaved();
    records.meta.knn = knn;
    records.meta.bestValLoss = knn.validation?.loss ?? null;
    if (opts.verbose && knn.validation)
      ctx.log(`kNN (k ${opts.k}, ${knn.count} images stored): validation accuracy ${knn.validation.accuracy.toFixed(4)}.`);
    return { records, interrupted: false, stoppedEarly: false };
  } finally {
    base.model.dispose();
  }
}

interface SplitRows {
  rows: FeatureRows;
  /** Row i's image, absolute. */
  files: string[];
}

/** The cached features of train (and validation, when the data has it), extracted once on ONNX Runtime as every mode's are. */
async function knnFeatures(ctx: WorkflowContext, base: ConvBase): Promise<{ train: SplitRows; validation?: SplitRows }> {
  const { opts } = ctx;
  const out = runFeatureFolder(ctx, base);
  const splits = ctx.data.splits.validation ? ['train', 'validation'] : ['train'];
  if (opts.verbose) ctx.log(`Features with ${base.source} at ${base.imageSize.join('x')} (cache: ${out})`);
  const t0 = performance.now();
  const extracted = await extractFeatures({
    base,
    data: opts.data,
    table: labelsTableOptions(opts),
    multiLabel: false,
    out,
    splits,
    skipBadImages: opts.skipBadImages,
    precision: 'fp32',
    log: ctx.log,
    onProgress: progressLines(ctx),
    signal: opts.signal,
  });
  ctx.timings.extractSeconds = (performance.now() - t0) / 1000;
  ctx.timings.extractImages = extracted.imagesExtracted;
  if (opts.verbose) ctx.log(extracted.cacheHit ? 'Features: cache hit.' : `Features: ${extracted.imagesExtracted} images extracted.`);
  const loaded: Record<string, SplitRows> = {};
  for (const s of extracted.splits) {
    const meta = JSON.parse(await fsp.readFile(s.meta, 'utf8')) as { files: string[] };
    loaded[s.split] = { rows: await diskRows(s.features, s.labels), files: meta.files.map((f) => path.resolve(ctx.data.root, f)) };
  }
  return { train: loaded.train, validation: loaded.validation };
}

/** Every row of `rows`, pooled over space and scaled to unit length, row-major. */
async function pooledRows(rows: FeatureRows): Promise<Float32Array> {
  const dim = rows.featureShape[rows.featureShape.length - 1] ?? 0;
  const per = rowSize(rows.featureShape);
  const out = new Float32Array(rows.n * dim);
  const buffer = new Float32Array(Math.min(CHUNK, rows.n) * per);
  for (let start = 0; start < rows.n; start += CHUNK) {
    const count = Math.min(CHUNK, rows.n - start);
    await rows.read(
      Int32Array.from({ length: count }, (_, i) => start + i),
      buffer.subarray(0, count * per),
    );
    for (let i = 0; i < count; i++)
      poolFeatureMap(buffer.subarray(i * per, (i + 1) * per), dim, out.subarray((start + i) * dim, (start + i + 1) * dim));
  }
  return out;
}

/** The index of a split's rows: pooled vectors, class ids, and each image's size and mtime (what `tlkit add` compares). */
async function knnIndexOf(rows: FeatureRows, files: string[], classes: string[]): Promise<KnnIndex> {
  const images: StoredImage[] = await Promise.all(
    files.map(async (file) => {
      const st = await fsp.stat(file);
      return { file, size: st.size, mtimeMs: st.mtimeMs };
    }),
  );
  const dim = rows.featureShape[rows.featureShape.length - 1] ?? 0;
  return { dim, vectors: await pooledRows(rows), labels: Int32Array.from(rows.labels), classes, classCount: classes.length, images };
}
