import type { Command } from 'commander';
import { UserError } from '../../errors.js';
import type { RankedPrediction } from '../../inference/predictor.js';
import { parseIntOption, parseNumberOption, parsePrecisionOption, parseTtaOption } from '../parseOptions.js';
import { predictShardTask, shardOption, shardsOption, type ShardFlags } from '../shardFlags.js';

export const PREDICT_FORMATS = ['text', 'json', 'ndjson', 'csv'] as const;
export type PredictFormat = (typeof PREDICT_FORMATS)[number];

export interface FileRanked extends RankedPrediction {
  file: string;
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
 */
export class PredictionWriter {
  private count = 0;

  constructor(
    private readonly format: PredictFormat,
    private readonly classes: string[],
    private readonly topK: number | undefined,
    private readonly write: (s: string) => void,
  ) {}

  header(): void {
    if (this.format === 'json') this.write('[');
    if (this.format === 'csv') {
      const cols = ['file', 'label', 'probability'];
      if (this.topK === undefined) cols.push(...this.classes);
      else for (let k = 1; k <= Math.min(this.topK, this.classes.length); k++) cols.push(`label_${k}`, `probability_${k}`);
      this.write(`${cols.map(csvField).join(',')}\n`);
    }
  }

  row(p: FileRanked): void {
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
      'Classify images with a trained run (its own preprocessing and image size, on ONNX Runtime): every class probability, most probable first.',
    )
    .requiredOption('--model <run dir>', 'the --out folder of tlkit train')
    .argument('<images...>', 'image files, or folders searched for images (hidden files skipped, symlinked folders not followed)')
    .option(
      '--format <format>',
      `output: ${PREDICT_FORMATS.join('|')} (text: tab-separated; ndjson: one JSON object a line, what --json prints; json: one JSON array of those objects; csv: a header then one row an image)`,
    )
    .option(
      '--json',
      'an alias of --format ndjson: one JSON object a line {"file","label","probability","probabilities"}, not an array (for one JSON array: --format json)',
    )
    .option('--top-k <n>', 'keep only the n most probable classes of each image')
    .option(
      '--threshold <p>',
      'two-class models: predict the second class (the sigmoid output) when its probability is >= p (default: the most probable class)',
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
        const { BadImageError } = await import('../../data/decode.js');
        const { loadClassifier } = await import('../../inference/classifier.js');
        const { checkRankOptions, rankScores } = await import('../../inference/predictor.js');
        const classifier = await loadClassifier(o.model, { base: o.base, precision });
        let skipped = 0;
        let total = 0;
        try {
          checkRankOptions({ topK, threshold }, classifier.classNames, { topK: '--top-k', threshold: '--threshold' });
          if (tta !== undefined) classifier.ttaPlan(tta, '--tta');
          let files = collectImageFiles(inputs, { followLinks: o.followLinks });
          // One task of a job array: its shard of the files, its rows into <out>/shard-K-of-N.
          const part = await predictShardTask(o, inputs, files, { format, topK, threshold, tta, precision }, classifier.classNames);
          if (part?.alreadyDone) return;
          if (part) files = part.files;
          total = files.length;
          const write = part ? part.write : (s: string) => void process.stdout.write(s);
          const out = new PredictionWriter(part ? 'ndjson' : format, classifier.classNames, topK, write);
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
            for (let j = 0; j < chunk.length; j++)
              out.row({ file: chunk[j], ...rankScores(scores[j], classifier.classNames, { topK, threshold }) });
          }
          out.end();
          await part?.publish();
        } finally {
          await classifier.dispose();
        }
        if (skipped) process.stderr.write(`tlkit: ${skipped} of ${total} images skipped (unreadable).\n`);
      },
    );
}
