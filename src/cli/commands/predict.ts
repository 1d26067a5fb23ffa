import type { Command } from 'commander';
import { UserError } from '../../errors.js';
import type { MultiLabelPrediction } from '../../inference/multiLabel.js';
import type { RankedPrediction } from '../../inference/predictor.js';
import type { TtaSetting } from '../../inference/tta.js';
import type { Precision } from '../../ort/int8.js';
import type { RunMeta } from '../../run/meta.js';
import { parseIntOption, parseNumberOption, parsePrecisionOption, parseTtaOption } from '../parseOptions.js';
import { predictShardTask, shardOption, shardsOption, type ShardFlags } from '../shardFlags.js';

/** Up to this many image files on the command line, predict opens the session for a quick start. */
const FEW_IMAGES = 4;

export const PREDICT_FORMATS = ['text', 'json', 'ndjson', 'csv'] as const;
export type PredictFormat = (typeof PREDICT_FORMATS)[number];

export interface FileRanked extends RankedPrediction {
  file: string;
}

/** A multi-label run's row: the labels at or above their thresholds (class order), and each class's probability (class order). */
export interface FileLabels {
  file: string;
  labels: string[];
  probabilities: Record<string, number>;
}

/** How a multi-label run's rows are written: its label lists joined by `join` in a csv or text cell. */
export interface MultiLabelRows {
  join: string;
}

/** A multi-label prediction as a row; with topK, the k most probable classes (listed in class order). */
export function fileLabels(file: string, p: MultiLabelPrediction, classes: string[]): FileLabels {
  const kept = new Map(p.probabilities.map((c) => [c.label, c.probability]));
  const probabilities: Record<string, number> = {};
  for (const c of classes) if (kept.has(c)) probabilities[c] = kept.get(c)!;
  return { file, labels: p.labels, probabilities };
}

/** A row's classes, most probable first (ties keep the row's class order). */
function ranked(p: FileLabels): Array<[string, number]> {
  return Object.entries(p.probabilities)
    .map((e, i) => ({ e, i }))
    .sort((a, b) => b.e[1] - a.e[1] || a.i - b.i)
    .map((x) => x.e);
}

/** A CSV field (RFC 4180): quoted when it holds a comma, quote or line break. */
export function csvField(v: string | number): string {
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/**
 * Writes predictions in one format, row by row (so that a large folder streams):
 * - text:   file, label, probability, then every kept class as "label probability", tab-separated
 * - ndjson: one object a line {file, label, probability, probabilities: [{label, probability}, ...]}
 *           (`--json` is this: today's one-object-a-line shape plus `probabilities`)
 * - json:   one JSON array of those objects
 * - csv:    a header, then file,label,probability and one column per class in class order,
 *           or, with --top-k k, label_1,probability_1 ... label_k,probability_k
 * A multi-label run (`multiLabel`) writes `labels` (those at or above their thresholds,
 * joined by `multiLabel.join` in csv and text) where a single-label run writes label and
 * probability, and ndjson/json give {file, labels: [...], probabilities: {class: p}}.
 */
export class PredictionWriter {
  private count = 0;

  constructor(
    private readonly format: PredictFormat,
    private readonly classes: string[],
    private readonly topK: number | undefined,
    private readonly write: (s: string) => void,
    private readonly multiLabel?: MultiLabelRows,
  ) {}

  header(): void {
    if (this.format === 'json') this.write('[');
    if (this.format === 'csv') {
      const cols = this.multiLabel ? ['file', 'labels'] : ['file', 'label', 'probability'];
      if (this.topK === undefined) cols.push(...this.classes);
      else for (let k = 1; k <= Math.min(this.topK, this.classes.length); k++) cols.push(`label_${k}`, `probability_${k}`);
      this.write(`${cols.map(csvField).join(',')}\n`);
    }
  }

  row(p: FileRanked | FileLabels): void {
    if ('labels' in p) {
      this.labelsRow(p);
      return;
    }
    const obj = { file: p.file, label: p.label, probability: p.probability, probabilities: p.probabilities };
    switch (this.format) {
      case 'ndjson':
        this.write(`${JSON.stringify(obj)}\n`);
        break;
      case 'json':
        this.write(`${this.count ? ',' : ''}\n${JSON.stringify(obj)}`);
        break;
      case 'csv': {
        const cols: Array<string | number> = [p.file, p.label, p.probability];
        if (this.topK === undefined) {
          const byLabel = new Map(p.probabilities.map((c) => [c.label, c.probability]));
          cols.push(...this.classes.map((c) => byLabel.get(c) ?? ''));
        } else {
          for (const c of p.probabilities) cols.push(c.label, c.probability);
        }
        this.write(`${cols.map(csvField).join(',')}\n`);
        break;
      }
      default:
        this.write(
          `${p.file}\t${p.label}\t${p.probability.toFixed(4)}\t${p.probabilities.map((c) => `${c.label} ${c.probability.toFixed(4)}`).join('\t')}\n`,
        );
    }
    this.count += 1;
  }

  end(): void {
    if (this.format === 'json') this.write(`${this.count ? '\n' : ''}]\n`);
  }

  private labelsRow(p: FileLabels): void {
    const obj = { file: p.file, labels: p.labels, probabilities: p.probabilities };
    const joined = p.labels.join(this.multiLabel?.join ?? ';');
    switch (this.format) {
      case 'ndjson':
        this.write(`${JSON.stringify(obj)}\n`);
        break;
      case 'json':
        this.write(`${this.count ? ',' : ''}\n${JSON.stringify(obj)}`);
        break;
      case 'csv': {
        const cols: Array<string | number> = [p.file, joined];
        if (this.topK === undefined) cols.push(...this.classes.map((c) => p.probabilities[c] ?? ''));
        else for (const [label, probability] of ranked(p)) cols.push(label, probability);
        this.write(`${cols.map(csvField).join(',')}\n`);
        break;
      }
      default:
        this.write(
          `${p.file}\t${joined}\t${ranked(p)
            .map(([label, probability]) => `${label} ${probability.toFixed(4)}`)
            .join('\t')}\n`,
        );
    }
    this.count += 1;
  }
}

/** What predict needs of a run: a Classifier, or (plain predictions) just the run's graph on ONNX Runtime. */
interface Scorer {
  readonly classNames: string[];
  readonly isMultiLabel: boolean;
  readonly meta: RunMeta;
  ttaPlan(setting: TtaSetting, name?: string): unknown;
  scoresOfFiles(files: string[], batchSize: number, opts: { tta?: TtaSetting }): Promise<number[][]>;
  dispose(): Promise<void>;
}

/**
 * Plain predictions run the run's cached graph (inference/runGraph.ts) without loading
 * tfjs, which alone costs about a second at start-up; TTA and Grad-CAM need the Classifier.
 */
async function openScorer(
  runDir: string,
  opts: { base?: string; precision?: Precision; plain: boolean; fewImages: boolean },
): Promise<Scorer> {
  if (!opts.plain) return (await import('../../inference/classifier.js')).loadClassifier(runDir, opts);
  const { readRun } = await import('../../run/runDir.js');
  const { openRunPredictor } = await import('../../inference/runGraph.js');
  const { isMultiLabel } = await import('../../inference/multiLabel.js');
  const { meta } = await readRun(runDir);
  const precision = opts.precision ?? meta.precision ?? 'fp32';
  const predictor = await openRunPredictor(runDir, meta, { precision, base: opts.base, fewImages: opts.fewImages });
  return {
    classNames: meta.classes,
    isMultiLabel: isMultiLabel(meta),
    meta,
    ttaPlan: () => {
      throw new Error('ttaPlan on a plain predictor');
    },
    scoresOfFiles: (files, batchSize) => predictor.scores(files, batchSize),
    dispose: () => predictor.dispose(),
  };
}

function parseFormat(format: string | undefined, json: boolean | undefined): PredictFormat {
  if (format === undefined) return json ? 'ndjson' : 'text';
  if (!(PREDICT_FORMATS as readonly string[]).includes(format)) {
    throw new UserError(`--format must be one of ${PREDICT_FORMATS.join(', ')}, got '${format}'. Pass e.g. --format csv.`);
  }
  if (json && format !== 'ndjson') {
    throw new UserError(`--json means --format ndjson, but --format ${format} was also given. Pass only one of them.`);
  }
  return format as PredictFormat;
}

export function register(program: Command): void {
  program
    .command('predict')
    .description(
      "Classify images with a trained run (its own preprocessing and image size, on ONNX Runtime): every class probability, most probable first. A multi-label run gives each image's labels at or above their thresholds, and every probability.",
    )
    .requiredOption('--model <run dir>', 'the --out folder of tlkit train')
    .argument('<images...>', 'image files, or folders searched for images (hidden files skipped, symlinked folders not followed)')
    .option(
      '--format <format>',
      `output: ${PREDICT_FORMATS.join('|')} (text: tab-separated; ndjson: one JSON object a line, what --json prints; json: one JSON array of those objects; csv: a header then one row an image)`,
    )
    .option(
      '--json',
      'an alias of --format ndjson: one JSON object a line {"file","label","probability","probabilities"} (a multi-label run: {"file","labels","probabilities"}), not an array (for one JSON array: --format json)',
    )
    .option('--top-k <n>', 'keep only the n most probable classes of each image')
    .option(
      '--threshold <p>',
      "two-class models: predict the second class (the sigmoid output) when its probability is >= p (default: the most probable class); multi-label models: give every label whose probability is >= p (default: each class's threshold in meta.json)",
    )
    .option('--skip-bad-images', 'skip files that cannot be decoded, with a warning each, instead of stopping')
    .option(
      '--tta [views]',
      "test-time augmentation (fastai's): each image's probabilities blended with those of N augmented views (flips and the run's training augmentation; default 4). Give N, or put a bare --tta after the images",
    )
    .option('--follow-links', 'also search symlinked folders inside the given folders (a loop is followed once)')
    .addOption(shardOption('predict'))
    .addOption(shardsOption())
    .option('--out <folder>', 'with --shard: where the shard folders go (`tlkit merge FOLDER` joins them into one file in the input order)')
    .option('--base <model.onnx>', "a run trained on an ONNX base: where that file is now, if it moved (its sha256 must match the run's)")
    .option(
      '--precision <p>',
      "fp32 | int8: the base on ONNX Runtime (default: the run's own; int8 needs a run trained with --precision int8)",
    )
    .option(
      '--explain <dir>',
      "write a Grad-CAM heatmap of each image's predicted label (a multi-label run: its most probable one) over the photo to DIR/<image name>.gradcam.png",
    )
    .action(
      async (
        inputs: string[],
        o: {
          model: string;
          json?: boolean;
          format?: string;
          topK?: string;
          threshold?: string;
          skipBadImages?: boolean;
          followLinks?: boolean;
          base?: string;
          precision?: string;
          tta?: string | boolean;
          explain?: string;
        } & ShardFlags & { out?: string },
      ) => {
        const precision = parsePrecisionOption(o.precision);
        if (typeof o.tta === 'string' && !/^\d+$/.test(o.tta) && (await import('node:fs')).existsSync(o.tta)) {
          // The optional value took an image: say so rather than "not a number".
          throw new UserError(
            `--tta takes an optional number of views and took '${o.tta}' as it. Write --tta 4 ${o.tta}, or put --tta after the images.`,
          );
        }
        const tta = parseTtaOption(o.tta);
        const format = parseFormat(o.format, o.json);
        const topK = parseIntOption('--top-k', o.topK, { min: 1, example: '3' });
        const threshold = parseNumberOption('--threshold', o.threshold, { min: 0, max: 1, minInclusive: true, example: '0.5' });
        const { collectImageFiles, partitionReadable, warnSkipped } = await import('../../data/collect.js');
        const { BadImageError, hasImageExtension } = await import('../../data/decode.js');
        const { checkRankOptions, rankScores } = await import('../../inference/predictor.js');
        const { labelJoin, multiLabelPrediction, runThresholds } = await import('../../inference/multiLabel.js');
        const gradCam = o.explain === undefined ? undefined : await import('../../explain/explainImages.js');
        if (o.explain !== undefined) gradCam?.checkExplainDir(o.explain);
        const classifier = await openScorer(o.model, {
          base: o.base,
          precision,
          plain: tta === undefined && o.explain === undefined,
          // A few image files named one by one: start the session sooner rather than run it faster.
          fewImages: inputs.length <= FEW_IMAGES && inputs.every((f) => hasImageExtension(f)),
        });
        const explainer =
          o.explain === undefined ? undefined : await (await import('../../explain/runGradCam.js')).loadGradCam(o.model, { base: o.base });
        const explainedNames = new Set<string>();
        const classes = classifier.classNames;
        let skipped = 0;
        let total = 0;
        try {
          checkRankOptions({ topK, threshold }, classes, { topK: '--top-k', threshold: '--threshold' }, classifier.isMultiLabel);
          const thresholds = classifier.isMultiLabel ? runThresholds(classifier.meta, threshold) : undefined;
          // Label lists joined as the training table joined them (a tab would split a text row).
          const multiLabel = thresholds ? { join: labelJoin(classifier.meta, '\t\r\n') } : undefined;
          if (tta !== undefined) classifier.ttaPlan(tta, '--tta');
          let files = collectImageFiles(inputs, { followLinks: o.followLinks });
          // One task of a job array: its shard of the files, its rows into <out>/shard-K-of-N.
          const settings = { format, topK, threshold, tta, precision, ...(multiLabel ? { multiLabel } : {}) };
          const part = await predictShardTask(o, inputs, files, settings, classes);
          if (part?.alreadyDone) return;
          if (part) files = part.files;
          total = files.length;
          const write = part ? part.write : (s: string) => void process.stdout.write(s);
          const out = new PredictionWriter(part ? 'ndjson' : format, classes, topK, write, multiLabel);
          out.header();
          // One batch at a time, printed as it comes, so a large folder streams.
          const batch = 16;
          for (let i = 0; i < files.length; i += batch) {
            let chunk = files.slice(i, i + batch);
            let scores: number[][];
            try {
              scores = await classifier.scoresOfFiles(chunk, batch, { tta });
            } catch (e) {
              if (!(e instanceof BadImageError) || !o.skipBadImages) throw e;
              // Only a batch holding a bad file pays for finding it: decode each, drop the bad ones.
              const { readable, bad } = await partitionReadable(chunk);
              for (const b of bad) warnSkipped(b.file, b.reason);
              skipped += bad.length;
              chunk = readable;
              scores = chunk.length ? await classifier.scoresOfFiles(chunk, batch, { tta }) : [];
            }
            // Grad-CAM of the label printed (a multi-label run: its most probable class).
            const targets = chunk.map((_, j) =>
              thresholds ? undefined : classes.indexOf(rankScores(scores[j], classes, { threshold }).label),
            );
            if (explainer && gradCam) await gradCam.explainFiles(explainer, chunk, { targets, dir: o.explain, taken: explainedNames });
            for (let j = 0; j < chunk.length; j++)
              out.row(
                thresholds
                  ? fileLabels(chunk[j], multiLabelPrediction(scores[j], classes, thresholds, { topK }), classes)
                  : { file: chunk[j], ...rankScores(scores[j], classes, { topK, threshold }) },
              );
          }
          out.end();
          await part?.publish();
        } finally {
          await classifier.dispose();
          await explainer?.dispose();
        }
        if (explainer) process.stderr.write(`tlkit: ${explainedNames.size} Grad-CAM overlays written to ${o.explain}.\n`);
        if (skipped) process.stderr.write(`tlkit: ${skipped} of ${total} images skipped (unreadable).\n`);
      },
    );
}
