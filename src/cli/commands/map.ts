import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { UserError } from '../../errors.js';
import { ensureWritableDir } from '../../io/writableDir.js';
import type { DatasetMap, MapProgress } from '../../explore/datasetMap.js';
import type { MapFiles } from '../../explore/mapFiles.js';
import { trainOption } from '../../workflows/options.js';
import { labelsTableFromFlags, type LabelsTableFlags } from '../labelsTableFlags.js';
import { parseImageSizeOption, parseIntOption, parseNumberOption } from '../parseOptions.js';
import { optionFlag } from './train.js';

interface MapArgs extends LabelsTableFlags {
  data?: string;
  base?: string;
  weights?: string;
  preprocess?: string;
  imageSize?: string;
  cacheDir?: string;
  batchSize: string;
  out: string;
  splits?: string;
  seed: string;
  neighbors: string;
  minDist: string;
  metric: string;
  epochs: string;
  top: string;
  json?: boolean;
}

/** The options the map shares with train, with train's declaration (flag, help) and no default to fill in. */
const shared = (id: string, own: { help?: string } = {}) => {
  const flag = optionFlag(trainOption(id)!, own);
  flag.makeOptionMandatory(false);
  flag.defaultValue = undefined;
  return flag;
};

/**
 * What FOLDER names: a feature folder (manifest.json: `tlkit extract --out`), or a run
 * (meta.json: `tlkit train --out`), whose data, base and cache the map reuses.
 */
async function sourceOf(folder: string | undefined, o: MapArgs): Promise<{ features: string } | { extract: MapArgs }> {
  if (folder === undefined) {
    if (o.data === undefined || o.base === undefined)
      throw new UserError(
        'Name the features to map: a feature folder or a run folder (`tlkit map FOLDER`), or a data folder and a base (`tlkit map --data DIR --base mobilenet`).',
      );
    return { extract: o };
  }
  if (fs.existsSync(path.join(folder, 'manifest.json'))) {
    const extra = (['data', 'base', 'weights', 'imageSize', 'cacheDir'] as const).filter((k) => o[k] !== undefined);
    if (extra.length > 0)
      throw new UserError(
        `${folder} is a feature folder, which fixes the data and the base; drop ${extra.map((k) => trainOption(k)!.flag).join(', ')}.`,
      );
    return { features: folder };
  }
  if (fs.existsSync(path.join(folder, 'meta.json'))) {
    const { readMeta } = await import('../../run/meta.js');
    const meta = await readMeta(folder);
    const given = meta.options as Record<string, unknown>;
    const text = (v: unknown) => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined);
    return {
      extract: {
        ...o,
        data: o.data ?? meta.data ?? text(given.data),
        base: meta.onnxBase?.file ?? text(given.base),
        weights: text(given.weights),
        preprocess: meta.onnxBase ? text(given.preprocess) : undefined,
        // As the run was given it: without it, the base's own size (what the run used too).
        imageSize: o.imageSize ?? text(given.imageSize),
        cacheDir: o.cacheDir ?? text(given.cacheDir),
        labels: o.labels ?? text(given.labels),
        labelDelim: o.labelDelim ?? text(given.labelDelim),
        fileColumn: o.fileColumn ?? text(given.fileColumn),
        labelColumn: o.labelColumn ?? text(given.labelColumn),
        validColumn: o.validColumn ?? text(given.validColumn),
      },
    };
  }
  throw new UserError(
    `${folder} is neither a feature folder (manifest.json, written by \`tlkit extract --out\`) nor a run folder (meta.json, written by \`tlkit train --out\`). Give one of those, or --data DIR --base BASE to extract the features first.`,
  );
}

/** The feature folder of --data and --base (the one train uses), extracted now when missing or stale. */
async function extractedFeatures(o: MapArgs, quiet: boolean): Promise<string> {
  const size = parseImageSizeOption(o.imageSize);
  const batchSize = parseIntOption('--batch-size', o.batchSize, { min: 1, max: 4096, example: '8' })!;
  const [
    { extractBase, progressReporter },
    { featureCacheFolder, featureCacheRoot },
    { extractFeatures },
    { resolveData },
    { isOnnxBasePath },
  ] = await Promise.all([
    import('./extract.js'),
    import('../../workflows/featureCache.js'),
    import('../../features/extract.js'),
    import('../../data/tableData.js'),
    import('../../ort/onnxBase.js'),
  ]);
  ensureWritableDir('--cache-dir', featureCacheRoot(o.cacheDir));
  const table = labelsTableFromFlags(o);
  const data = resolveData(o.data!, table);
  const base = await extractBase({ base: o.base!, weights: o.weights, preprocess: o.preprocess }, size, 'fp32');
  const out = featureCacheFolder({ cacheDir: o.cacheDir, dataRoot: data.root, base, precision: 'fp32' });
  const progress = progressReporter(!quiet);
  try {
    await extractFeatures({
      base,
      data: o.data!,
      table,
      out,
      // an ONNX base is loaded at its size already
      imageSize: size && !isOnnxBasePath(o.base!) ? [size, size] : undefined,
      batchSize,
      log: (line) => {
        progress.stop();
        if (!quiet) process.stderr.write(`${line}\n`);
      },
      onProgress: (p) => progress.update(p),
    });
  } finally {
    progress.stop();
  }
  return out;
}

const STAGES: Record<MapProgress['stage'], string> = { read: 'reading features', neighbours: 'nearest neighbours', layout: 'UMAP epochs' };

/** The map's progress on stderr: one line rewritten in place on a terminal, else a line every few seconds and at each stage's end. */
function mapProgress(enabled: boolean): (p: MapProgress) => void {
  if (!enabled) return () => {};
  let last = 0;
  return (p) => {
    const done = p.done >= p.total;
    const now = Date.now();
    const line = `map: ${STAGES[p.stage]} ${p.done}/${p.total}`;
    if (process.stderr.isTTY) {
      if (done || now - last > 100) process.stderr.write(`\r${line}${done ? '\n' : ''}`);
    } else if (done || now - last > 5000) process.stderr.write(`${line}\n`);
    else return;
    last = now;
  };
}

/** The top `n` outliers as text: rank, score, the file, its label and what its neighbours are. */
function describe(map: DatasetMap, files: MapFiles, n: number): string {
  const counts = map.splits.map((s) => `${s} ${map.points.filter((p) => p.split === s).length}`).join(', ');
  const lines = [
    `Map of ${map.points.length} images (${counts}) from ${map.features}, UMAP seed ${map.umap.seed}, in ${map.seconds.toFixed(1)} s.`,
    `  ${files.json}`,
    `  ${files.labelPng} (by label; ${path.basename(files.labelSvg)} beside it)`,
    `  ${files.splitPng} (by split)`,
  ];
  const top = map.outliers.slice(0, n).filter((i) => map.points[i].outlier > 0);
  if (top.length === 0) {
    lines.push(`No outliers: every image's ${map.outlierNeighbors} nearest neighbours share its label.`);
    return lines.join('\n');
  }
  lines.push(`Top outliers (share of the ${map.outlierNeighbors} nearest neighbours, in the base's pooled features, with another label):`);
  top.forEach((i, rank) => {
    const p = map.points[i];
    lines.push(
      `  ${String(rank + 1).padStart(3)}. ${p.outlier.toFixed(2)}  ${path.join(map.dataRoot, p.file)}  label ${p.label}, looks like ${p.looksLike}`,
    );
  });
  return lines.join('\n');
}

export function register(program: Command): void {
  program
    .command('map')
    .argument('[folder]', 'a feature folder (`tlkit extract --out`) or a run folder (`tlkit train --out`); or give --data and --base')
    .description(
      "Map the dataset: each image's features from the base, averaged over space, laid out in 2-D by UMAP (seeded), coloured by label and by split; lists the images whose nearest neighbours carry another label (mislabeled or odd photos). Writes map.json, map-label.png/.svg and map-split.png/.svg.",
    )
    .addOption(shared('data', { help: 'data folder to extract features from (with --base), as train reads it' }))
    .addOption(shared('base'))
    .addOption(shared('weights'))
    .addOption(shared('preprocess'))
    .addOption(shared('imageSize'))
    .addOption(shared('cacheDir'))
    .addOption(shared('labels'))
    .addOption(shared('labelDelim'))
    .addOption(shared('fileColumn'))
    .addOption(shared('labelColumn'))
    .addOption(shared('validColumn'))
    .option('--batch-size <n>', 'images per ONNX Runtime call when extracting', '8')
    .option('--out <dir>', 'where to write map.json and the plots', '.')
    .option('--splits <list>', 'the splits to map, comma-separated (default: every split of the features)')
    .option('--seed <n>', "UMAP's seed: the same seed gives the same map", '42')
    .option('--neighbors <n>', "UMAP's n_neighbors, the image itself included (larger: more global structure)", '15')
    .option('--min-dist <x>', "UMAP's min_dist: how tightly points may pack", '0.1')
    .option('--metric <name>', 'cosine | euclidean: the distance between the unit-length pooled features', 'cosine')
    .option('--epochs <n>', "UMAP's optimisation epochs (0: umap-js's choice, 500 up to 2,500 images)", '0')
    .option('--top <n>', 'outliers to print', '10')
    .option('--json', 'print {files, images, splits, seed, outliers: [{file, split, label, looksLike, outlier}], seconds} on stdout')
    .action(async (folder: string | undefined, o: MapArgs) => {
      const seed = parseIntOption('--seed', o.seed, { min: 0, max: 2 ** 31 - 1, example: '42' })!;
      const nNeighbors = parseIntOption('--neighbors', o.neighbors, { min: 2, max: 200, example: '15' })!;
      const minDist = parseNumberOption('--min-dist', o.minDist, { min: 0, max: 1, minInclusive: true, example: '0.1' })!;
      const nEpochs = parseIntOption('--epochs', o.epochs, { min: 0, max: 10000, example: '200' })!;
      const top = parseIntOption('--top', o.top, { min: 0, example: '10' })!;
      if (o.metric !== 'cosine' && o.metric !== 'euclidean')
        throw new UserError(`--metric must be cosine or euclidean, got '${o.metric}'. Pass e.g. --metric cosine.`);
      const splits = o.splits
        ?.split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      const quiet = Boolean(o.json) && !process.stderr.isTTY;
      // Before any long work: a folder the map cannot be written to fails now, not after the layout.
      ensureWritableDir('--out', o.out);
      const source = await sourceOf(folder, o);
      const features = 'features' in source ? source.features : await extractedFeatures(source.extract, quiet);
      const { mapFeatures } = await import('../../explore/datasetMap.js');
      const { writeDatasetMap } = await import('../../explore/mapFiles.js');
      const controller = new AbortController();
      const onSigint = () => {
        controller.abort();
        process.stderr.write('\ntlkit: interrupted; the map was not written.\n');
        process.exit(130);
      };
      process.once('SIGINT', onSigint);
      let map: DatasetMap;
      try {
        map = await mapFeatures(features, {
          splits,
          seed,
          nNeighbors,
          minDist,
          metric: o.metric,
          nEpochs,
          onProgress: mapProgress(!quiet),
          signal: controller.signal,
        });
      } finally {
        process.off('SIGINT', onSigint);
      }
      const files = await writeDatasetMap(map, o.out);
      if (o.json) {
        const outliers = map.outliers.slice(0, top).map((i) => {
          const { file, split, label, looksLike, outlier } = map.points[i];
          return { file: path.join(map.dataRoot, file), split, label, looksLike, outlier };
        });
        process.stdout.write(
          `${JSON.stringify({ files, images: map.points.length, splits: map.splits, seed, outliers, seconds: map.seconds })}\n`,
        );
      } else process.stdout.write(`${describe(map, files, top)}\n`);
    });
}
