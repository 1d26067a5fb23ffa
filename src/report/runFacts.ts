import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { readLabelsTable, type LabelsTableOptions } from '../data/labelsTable.js';
import { listImageFiles, resolveDataDir } from '../data/splits.js';
import type { HeadSpec, RunMeta } from '../run/meta.js';
import { runPaths } from '../run/paths.js';

// What the report says about a run beyond meta.json: read from the saved model and the data folder.

interface LayerJson {
  class_name: string;
  config: { name?: string; units?: number; activation?: string; rate?: number; layers?: LayerJson[] };
}

interface ModelJsonLike {
  modelTopology?: { class_name?: string; config?: { layers?: LayerJson[] }; model_config?: { config?: { layers?: LayerJson[] } } };
  weightsManifest?: Array<{ paths: string[]; weights: Array<{ shape: number[] }> }>;
}

function readModelJson(modelDir: string): ModelJsonLike | undefined {
  try {
    return JSON.parse(readFileSync(path.join(modelDir, 'model.json'), 'utf8')) as ModelJsonLike;
  } catch {
    return undefined;
  }
}

const POOLING_NAMES: Record<string, string> = {
  Flatten: 'Flatten',
  GlobalAveragePooling2D: 'GlobalAveragePooling2D',
  GlobalMaxPooling2D: 'GlobalMaxPooling2D',
};

/**
 * The head as the saved model has it: its `head_*` layers, e.g.
 * "Flatten -> Dense(256, relu) -> Dropout(0.5) -> Dense(1, sigmoid)" (an Activation layer
 * after a linear Dense is folded into it). Undefined when the model has no such layers.
 */
export function describeHeadOf(modelJson: ModelJsonLike): string | undefined {
  const topo = modelJson.modelTopology;
  const layers = topo?.config?.layers ?? topo?.model_config?.config?.layers ?? [];
  const head = layers.filter((l) => (l.config?.name ?? '').startsWith('head_'));
  if (head.length === 0) return undefined;
  const parts: string[] = [];
  for (const l of head) {
    const c = l.config;
    if (l.class_name === 'Dense') parts.push(`Dense(${c.units}, ${c.activation ?? 'linear'})`);
    else if (l.class_name === 'Dropout') parts.push(`Dropout(${c.rate})`);
    else if (l.class_name === 'Activation' && parts.length && parts[parts.length - 1].endsWith(', linear)')) {
      parts[parts.length - 1] = parts[parts.length - 1].replace(/, linear\)$/, `, ${c.activation})`);
    } else if (l.class_name === 'Activation') parts.push(`Activation(${c.activation})`);
    else parts.push(POOLING_NAMES[l.class_name] ?? l.class_name);
  }
  return parts.join(' -> ');
}

/** The head from meta.json's settings, for a model whose layers do not say it. */
export function describeHeadSpec(head: HeadSpec, meta: Pick<RunMeta, 'labelMode' | 'classes'>): string {
  const pool = head.pooling === 'avg' ? 'GlobalAveragePooling2D' : 'Flatten';
  const k = meta.classes.length;
  const out =
    meta.labelMode === 'binary' ? 'Dense(1, sigmoid)' : `Dense(${k}, ${meta.labelMode === 'multi-label' ? 'sigmoid' : 'softmax'})`;
  return `${pool} -> Dense(${head.units}, ${head.activation ?? 'relu'}) -> Dropout(${head.dropout}) -> ${out}`;
}

export interface ModelFacts {
  /** model.json plus its weight shards. */
  bytes: number;
  params: number;
  head?: string;
}

export function modelFacts(modelDir: string): ModelFacts | undefined {
  const json = readModelJson(modelDir);
  if (!json) return undefined;
  let bytes = statSync(path.join(modelDir, 'model.json')).size;
  let params = 0;
  for (const g of json.weightsManifest ?? []) {
    for (const p of g.paths) if (existsSync(path.join(modelDir, p))) bytes += statSync(path.join(modelDir, p)).size;
    for (const w of g.weights) params += w.shape.reduce((a, b) => a * b, 1);
  }
  return { bytes, params, head: describeHeadOf(json) };
}

export interface DataFacts {
  /** The data folder, absolute. */
  dir: string;
  /** counts[split][class]: image files per class folder. */
  counts: Partial<Record<'train' | 'validation' | 'test', Record<string, number>>>;
  layout: 'splits' | 'classes' | 'table';
  /** Layout 'table' (a multi-label run's): the table as named, and the images per split (an image counts under each of its labels above). */
  table?: string;
  images?: Partial<Record<'train' | 'validation', number>>;
}

/** Image files per class in each split of the run's data folder; a note instead when it cannot be read. */
export function dataFacts(dir: string, classes: string[]): { facts?: DataFacts; note?: string } {
  if (!existsSync(dir)) {
    return {
      note: `The training data folder ${dir} no longer exists (moved or deleted): no per-class counts. Pass \`--data DIR\` to evaluate on labelled images where they are now.`,
    };
  }
  try {
    const d = resolveDataDir(dir);
    const counts: DataFacts['counts'] = {};
    for (const [split, folder] of Object.entries(d.splits) as Array<[keyof DataFacts['counts'], string | undefined]>) {
      if (!folder) continue;
      counts[split] = Object.fromEntries(
        classes.map((c) => [c, existsSync(path.join(folder, c)) ? listImageFiles(path.join(folder, c)).length : 0]),
      );
    }
    return { facts: { dir: d.root, counts, layout: d.layout } };
  } catch (e) {
    return { note: `The training data folder ${dir} cannot be read as a dataset now (${(e as Error).message})` };
  }
}

/**
 * Images per label in each split of a multi-label run's labels table (rows the validation column
 * marks true: validation; the others: train, before any --validation-split); a note instead when
 * the folder or the table cannot be read now.
 */
export function tableFacts(dir: string, table: LabelsTableOptions, classes: string[]): { facts?: DataFacts; note?: string } {
  if (!existsSync(dir)) return dataFacts(dir, classes);
  try {
    const t = readLabelsTable(dir, table);
    const counts: DataFacts['counts'] = {};
    const images: NonNullable<DataFacts['images']> = {};
    for (const row of t.rows) {
      if (!row.file) continue;
      const split = row.valid ? 'validation' : 'train';
      const perLabel = (counts[split] ??= Object.fromEntries(classes.map((c) => [c, 0])));
      images[split] = (images[split] ?? 0) + 1;
      for (const l of row.labels) if (l in perLabel) perLabel[l]++;
    }
    return { facts: { dir: t.root, counts, layout: 'table', table: t.shown, images } };
  } catch (e) {
    return { note: `The labels table ${table.labels} over ${dir} cannot be read now (${(e as Error).message})` };
  }
}

/**
 * The precision of the frozen base that computed the features: "fp32", or "int8" with
 * the calibration's figures (int8-calibration.json in the run folder).
 */
export function precisionFact(runDir: string, meta: Pick<RunMeta, 'precision'>): string {
  if (meta.precision !== 'int8') return 'fp32';
  try {
    const r = JSON.parse(readFileSync(runPaths(runDir).int8Calibration, 'utf8')) as {
      images: number;
      settings: { method: string; percentile?: number };
      fp32Depthwise: boolean;
      error: { relativeL2: number; cosine: number; minCosine: number };
    };
    const method = r.settings.method === 'percentile' ? `percentile ${r.settings.percentile}` : r.settings.method;
    return `int8 (QDQ on ONNX Runtime; ${method} calibration on ${r.images} training images, depthwise convs ${r.fp32Depthwise ? 'fp32' : 'int8'}; int8 vs fp32 features: relative L2 ${r.error.relativeL2.toFixed(4)}, cosine ${r.error.cosine.toFixed(4)}, worst image ${r.error.minCosine.toFixed(4)})`;
  } catch {
    return 'int8 (the calibration file int8-calibration.json is missing)';
  }
}

/**
 * What the run's frozen-base pass did (`key`: 'extract', or 'prefixFeatures' for
 * fine-tuning's frozen prefix): its seconds, and how many images it ran the base on, or
 * that every split came from the cache. Undefined when the run had no such pass.
 */
export function extractionFact(t: Record<string, number>, key: 'extract' | 'prefixFeatures'): string | undefined {
  const seconds = t[`${key}Seconds`];
  if (seconds === undefined) return undefined;
  const images = t[`${key}Images`];
  const rate = t[`${key}ImagesPerSecond`];
  // Runs recorded before the image count: a rate is recorded only when images were extracted.
  const extracted = images !== undefined ? images > 0 : rate !== undefined;
  if (!extracted) return `${seconds.toFixed(1)} s (cache hit: every split from the feature cache)`;
  const what = images ? `${images} images extracted` : 'extracted';
  return `${seconds.toFixed(1)} s (${what}${rate !== undefined ? `, ${rate.toFixed(1)} images/s on ONNX Runtime` : ''})`;
}

/** The calibration of the saved model (temperature scaling when training ended), in words. */
export function calibrationFact(
  meta: Pick<RunMeta, 'calibration' | 'options' | 'finished' | 'interrupted'> & Partial<Pick<RunMeta, 'labelMode'>>,
): string {
  const c = meta.calibration;
  // Temperature scaling rescales one softmax (or one sigmoid); k independent labels have per-label thresholds instead.
  if (!c && meta.labelMode === 'multi-label') return 'none (multi-label: each label has its own threshold instead)';
  if (c) {
    const v = c.validation;
    if (c.note) return `temperature scaling: T = 1, ${c.note}`;
    return `temperature scaling: T = ${c.temperature.toPrecision(4)}, folded into ${c.layer} (fitted on ${v.n} validation images when training ended: loss ${v.nllBefore.toFixed(4)} -> ${v.nllAfter.toFixed(4)}, ECE ${v.eceBefore.toFixed(4)} -> ${v.eceAfter.toFixed(4)})`;
  }
  if (meta.options?.calibration === 'none') return 'none (calibration none: the raw model)';
  if (!meta.finished)
    return `none yet: the model is calibrated when training ends${meta.interrupted ? ' (resume the run to finish it)' : ''}`;
  return 'none (trained before tlkit calibrated models)';
}
