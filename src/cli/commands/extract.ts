import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { parseIntOption } from '../parseOptions.js';
import { ensureWritableDir } from '../../io/writableDir.js';
import { UserError } from '../../errors.js';
import { DEFAULT_CALIBRATION_IMAGES } from '../../features/calibration.js';
import { initBackend } from '../../tfjs/backend.js';
import { loadBase } from '../../applications/loadBase.js';
import { isOnnxBasePath, parsePreprocess } from '../../ort/onnxBase.js';
import { extractFeatures, type ExtractOptions, type ExtractProgress } from '../../features/extract.js';
import { extractShardTask, shardFromFlags, shardOption, shardsOption, type ShardFlags } from '../shardFlags.js';
import { loadOnnxFeatureBase, type FeatureBase } from '../../features/frozenBase.js';
import type { Precision } from '../../ort/int8.js';
import { trainOption, trainOptionsFromText } from '../../workflows/options.js';
import { optionFlag } from './train.js';
import { labelsTableFromFlags } from '../labelsTableFlags.js';

/**
 * Progress on stderr: a live bar with images/s and ETA on a terminal, otherwise
 * (logs, CI) one line every few seconds.
 */
export function progressReporter(enabled: boolean): { update(p: ExtractProgress): void; stop(): void } {
  if (!enabled) return { update() {}, stop() {} };
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        stream: process.stderr,
        format: 'extract {split} |{bar}| {value}/{total} images | {rate} images/s | ETA {eta_formatted}',
        hideCursor: true,
        etaBuffer: 50,
      },
      cliProgress.Presets.shades_classic,
    );
    let started = false;
    return {
      update(p) {
        if (!started) {
          bar.start(p.totalAll, 0, { split: p.split, rate: '-' });
          started = true;
        }
        bar.update(p.doneAll, { split: p.split, rate: p.imagesPerSecond.toFixed(2) });
      },
      stop() {
        if (started) bar.stop();
      },
    };
  }
  let last = 0;
  return {
    update(p) {
      const now = Date.now();
      if (now - last < 5000 && p.doneAll < p.totalAll) return;
      last = now;
      process.stderr.write(
        `extract ${p.split}: ${p.doneAll}/${p.totalAll} images, ${p.imagesPerSecond.toFixed(2)} images/s, ETA ${Math.round(p.etaSeconds)} s\n`,
      );
    },
    stop() {},
  };
}

interface ExtractArgs extends ShardFlags {
  merge?: boolean;
  base: string;
  weights?: string;
  preprocess?: string;
  data: string;
  /** --labels and its column flags (train's names). */
  labels?: string;
  labelDelim?: string;
  fileColumn?: string;
  labelColumn?: string;
  validColumn?: string;
  out: string;
  /** Typed text, or the declared default. */
  imageSize?: string;
  batchSize: string | number;
  upTo?: string;
  skipBadImages?: boolean;
  json?: boolean;
  precision: string;
  calibrationImages: string;
}

/** The options extract shares with train, with train's declaration and messages. */
const shared = (id: string, own: { help?: string; default?: unknown } = {}) => optionFlag(trainOption(id)!, own);

/** The base --base names: an ONNX file (with --preprocess, cut at --up-to) or a tfjs base. */
export async function extractBase(
  o: Pick<ExtractArgs, 'base' | 'weights' | 'preprocess' | 'upTo'>,
  size: number | undefined,
  precision: Precision,
): Promise<FeatureBase> {
  if (isOnnxBasePath(o.base)) {
    if (precision === 'int8')
      throw new UserError(
        `--precision int8 quantizes tlkit's own bases (the Keras families); ${o.base} is an ONNX file, which runs at fp32. Drop --precision int8, or quantize the ONNX file with its own tools.`,
      );
    if (o.weights !== undefined)
      throw new UserError(`--weights cannot be combined with the ONNX base ${o.base}, which brings its own weights. Drop --weights.`);
    const base = loadOnnxFeatureBase(o.base, {
      preprocess: parsePreprocess(o.preprocess ?? 'none', '--preprocess'),
      upTo: o.upTo,
      imageSize: size ? [size, size] : undefined,
    });
    if (o.preprocess === undefined)
      process.stderr.write(
        `tlkit: note: no --preprocess given: ${o.base} gets RGB 0..255 pixels as they are ('none'). Pass the preprocessing it was trained with (e.g. --preprocess torch).\n`,
      );
    return base;
  }
  if (o.preprocess !== undefined)
    throw new UserError(
      `--preprocess applies to an ONNX base (--base model.onnx), got --base ${o.base}, whose preprocessing tlkit knows. Drop --preprocess.`,
    );
  await initBackend();
  return loadBase({ base: o.base, weights: o.weights, imageSize: size ? [size, size] : undefined });
}

/** `tlkit extract`: run the frozen conv base over every split on ONNX Runtime and cache features + labels as .npy. */
export function register(program: Command): void {
  program
    .command('extract')
    .description(
      'Extract features of every split (train/validation/test) with a frozen conv base on ONNX Runtime; write .npy features + labels and a JSON manifest, reused while data and base are unchanged.',
    )
    .addOption(
      shared('base', {
        help: 'conv base: a family (vgg16, mobilenet, mobilenet_v2, resnet50, efficientnet_b0, convnext_tiny), nsfwjs, a tfjs model folder, a Keras .h5 file, or an ONNX image model (model.onnx)',
      }),
    )
    .addOption(shared('weights'))
    .addOption(shared('preprocess'))
    .addOption(shared('data', { help: 'data folder: train/, validation/, test/ with class folders, or class folders directly' }))
    .addOption(shared('labels'))
    .addOption(shared('labelDelim'))
    .addOption(shared('fileColumn'))
    .addOption(shared('labelColumn'))
    .addOption(shared('validColumn'))
    .requiredOption('--out <dir>', 'output folder for the features')
    .addOption(shared('imageSize'))
    .addOption(shared('batchSize', { help: 'images per ONNX Runtime call', default: 8 }))
    .option('--up-to <layer>', 'cut the base after this layer (an ONNX base: at this node output; default: the whole base)')
    .addOption(shared('skipBadImages', { help: 'skip unreadable images (listed in meta.json) instead of stopping' }))
    .addOption(
      shared('precision', {
        help: 'int8 quantizes the base, calibrated on training images (cached as calibration-int8.json in --out), and prints its error against fp32',
      }),
    )
    .option('--calibration-images <N>', 'int8: training images the calibration runs on', String(DEFAULT_CALIBRATION_IMAGES))
    .option('--json', 'print the result as one JSON object on stdout')
    .addOption(shardOption('extract'))
    .addOption(shardsOption())
    .option(
      '--merge',
      'merge the finished shards in --out into the feature cache there (what `tlkit merge OUT` does); with --shards N: of that count',
    )
    .action(async (o: ExtractArgs) => {
      if (o.merge) return (await import('./merge.js')).mergeFolder(o.out, { shards: o.shards, json: o.json });
      const shard = await shardFromFlags(o);
      const {
        imageSize: size,
        batchSize,
        precision = 'fp32',
      } = trainOptionsFromText({ imageSize: o.imageSize, batchSize: o.batchSize, precision: o.precision }, 'cli');
      const calibrationImages = parseIntOption('--calibration-images', o.calibrationImages, { min: 1, max: 100000, example: '32' });
      ensureWritableDir('--out', o.out, { keep: false });
      const base = await extractBase(o, size, precision);
      const onnx = isOnnxBasePath(o.base);
      const progress = progressReporter(!o.json || process.stderr.isTTY);
      // Each split is written atomically and cached on its own, so an interrupted
      // extraction loses only the split in progress: say so rather than die silently.
      const onSigint = () => {
        progress.stop();
        process.stderr.write(
          shard
            ? `\ntlkit: interrupted. Shard ${shard.index} of ${shard.count} is not published (a merge reports it missing); run the same command again to extract it.\n`
            : `\ntlkit: interrupted. The splits finished so far are kept in ${o.out}; run the same command again to extract the rest.\n`,
        );
        process.exit(130);
      };
      process.once('SIGINT', onSigint);
      const t0 = performance.now();
      let result;
      try {
        const options: ExtractOptions = {
          base,
          data: o.data,
          table: labelsTableFromFlags(o),
          out: o.out,
          // an ONNX base is loaded at its size and cut already
          imageSize: size && !onnx ? [size, size] : undefined,
          batchSize,
          upTo: onnx ? undefined : o.upTo,
          skipBadImages: o.skipBadImages,
          precision,
          calibrationImages,
          log: (line) => {
            progress.stop();
            process.stderr.write(`${line}\n`);
          },
          onProgress: (p) => progress.update(p),
        };
        result = shard ? await extractShardTask(options, shard) : await extractFeatures(options);
      } finally {
        process.off('SIGINT', onSigint);
        progress.stop();
      }
      const seconds = (performance.now() - t0) / 1000;
      if (!result) return;
      if (o.json) {
        process.stdout.write(`${JSON.stringify({ ...result, seconds })}\n`);
        return;
      }
      const lines = [`Features of ${base.source} at ${base.imageSize[0]}x${base.imageSize[1]} (${result.precision}) in ${result.out}`];
      for (const s of result.splits) {
        const skipped = s.skipped.length ? `, ${s.skipped.length} unreadable skipped` : '';
        lines.push(
          `  ${s.split.padEnd(10)} ${String(s.count).padStart(6)} images -> [${[s.count, ...s.featureShape].join(', ')}]${s.cacheHit ? ' (cached)' : ''}${skipped}`,
        );
      }
      const rate = result.imagesExtracted > 0 ? `, ${(result.imagesExtracted / seconds).toFixed(2)} images/s` : '';
      const cost = result.calibrationCost;
      const calibrated = cost ? ` (int8 calibration included: ${cost.images} images, ${cost.seconds.toFixed(1)} s)` : '';
      lines.push(
        `Classes: ${result.classNames.join(', ')}. ${result.cacheHit ? 'All splits from the cache' : `${result.imagesExtracted} images extracted`} in ${seconds.toFixed(1)} s${rate}${calibrated}.`,
      );
      process.stdout.write(`${lines.join('\n')}\n`);
    });
}
